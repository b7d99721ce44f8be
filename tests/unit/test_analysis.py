"""The one probe analysis: versions by phase, evidence completeness and the verdict, on plain data.

Each `test_finding_*` reproduces one finding of issue 13 on the logic it replaced
(quoted in its docstring) and shows the analysis now says what the evidence says.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from harness.analysis import GAP_BOUND_INTERVALS, MIN_GAP_BOUND, Phase, analyse, gap_bound_for
from harness.errors import ConfigError
from harness.notrun import NotRun
from harness.sampler import ProbeOptions
from harness.samples import KEEP_ALIVE, NEW_CONNECTION, ProbeRun, ProbeSample, merge_runs

OLD, NEW = "nginx/1.22.1", "nginx/1.26.3"
INTERVAL = 0.01


def ok(t: float, server: str = OLD, **kw: object) -> ProbeSample:
    return ProbeSample(t, t + 0.002, 200, None, server, **kw)  # type: ignore[arg-type]


def bad(t: float, error: str = "reset") -> ProbeSample:
    return ProbeSample(t, t + 0.002, None, error)


def run(
    samples: list[ProbeSample],
    *,
    stop: str = "stopped",
    requests: int | None = None,
    lost: int = 0,
    kind: str = NEW_CONNECTION,
    stopped_at: float | None = None,
    clock_error: float = 0.0,
) -> ProbeRun:
    ordered = tuple(sorted(samples, key=lambda s: s.start))
    return ProbeRun(
        kind=kind,
        where="test",
        interval=INTERVAL,
        started_at=ordered[0].start,
        stopped_at=stopped_at if stopped_at is not None else ordered[-1].end + 0.001,
        stop_reason=stop,
        samples=ordered,
        requests=len(ordered) + lost if requests is None else requests,
        lost=lost,
        clock_error=clock_error,
    )


def steady(start: float, end: float, server: str = OLD) -> list[ProbeSample]:
    n = int(round((end - start) / INTERVAL))
    return [ok(start + i * INTERVAL, server) for i in range(n)]


def switch(start: float, at: float, end: float) -> list[ProbeSample]:
    return steady(start, at, OLD) + steady(at, end, NEW)


def rollout(start: float = 0.0, settled: float = 10.0) -> Phase:
    return Phase("v1 -> v2", start, settled, (OLD, NEW))


# --------------------------------------------------------------------------- findings of issue 13


def test_finding_1_old_answers_after_settle_are_flagged_whatever_came_before() -> None:
    """Old: before `settled_at` the tracker kept only the rank of the latest answer, so
    old@1, new@2, old@9 | settled 10 | old@11, old@12, new@13 reported no flip-back."""
    samples = [ok(1, OLD), ok(2, NEW), ok(9, OLD), ok(11, OLD), ok(12, OLD), ok(13, NEW)]
    a = analyse(samples, expected_versions=(OLD, NEW), settled_at=10.0, origin=0.0)
    assert [(late.t, late.version) for late in a.late_answers] == [(11, OLD), (12, OLD)]
    assert a.interleaved == 1  # old@9 while both served: expected, counted, not a defect
    assert any("superseded version" in p.text and "+11.000s" in p.text for p in a.problems)


def test_finding_2_the_report_reads_the_analysis_the_assertions_read() -> None:
    """Old: the report re-analysed without settle and versions and listed 481 flip-backs
    for a passing rollout; now interleaving before settle is counted apart from defects."""
    samples = []
    for i in range(100):  # both ReplicaSets serve: answers alternate for 1 s
        samples.append(ok(1 + i * INTERVAL, NEW if i % 2 else OLD))
    samples += steady(2.0, 5.0, NEW)
    a = analyse(run(samples), phases=[rollout(0.5, 3.0)], window=(1.0, 4.9))
    assert a.passed, a.problems
    assert a.interleaved == 49 and a.late_answers == ()
    from harness.report import _probe_dict

    phase = _probe_dict(a, 0.0)["phases"][0]
    assert phase["interleaved_while_both_serve"] == 49
    assert phase["late_answers_after_settle"] == [] and phase["late_answers_total"] == 0


def test_finding_3_a_pass_requires_coverage() -> None:
    """Old: `assert_no_failures` passed on two samples 60 s apart."""
    a = analyse(run([ok(0.0), ok(60.0, NEW)]), phases=[rollout(10.0, 20.0)], window=(0.0, 60.0))
    assert not a.complete and not a.passed
    gap = next(p for p in a.problems if p.kind == "coverage")
    assert gap.text.startswith("evidence incomplete: no probe between +0.000s and +60.000s (60000 ms > bound 200 ms)")


def test_a_gap_inside_an_open_loop_run_is_put_on_the_sampler() -> None:
    """Ticks start requests whatever is in flight, so a hole between two starts with no tick skipped
    means the sampler did not run; a pod sampler is said to wait for its node's CPU."""
    samples = steady(0.0, 5.0) + steady(5.3, 10.0)  # 300 ms without a start
    pod = analyse(replace(run(samples), route="pod"), phases=[rollout(1.0, 9.0)], window=(0.0, 9.99))
    gap = next(p.text for p in pod.problems if p.kind == "coverage")
    assert gap == (
        "evidence incomplete: no probe between +4.990s and +5.300s (310 ms > bound 200 ms): the sampler "
        "was held, not the data path (its ticks start requests whatever is in flight and none was "
        "skipped); a sampler pod waits for its node's CPU behind the cluster's own work"
    )
    host = analyse(run(samples), phases=[rollout(1.0, 9.0)], window=(0.0, 9.99))
    assert next(p.text for p in host.problems if p.kind == "coverage").endswith(
        "the sampler process was held on this host"
    )
    busy = analyse(replace(run(samples), skipped=3), phases=[rollout(1.0, 9.0)], window=(0.0, 9.99))
    assert next(p.text for p in busy.problems if p.kind == "coverage").endswith("(310 ms > bound 200 ms)")
    edge = analyse(run(steady(0.5, 10.0)), phases=[rollout(1.0, 9.0)], window=(0.0, 9.99))
    assert next(p.text for p in edge.problems if p.kind == "coverage").endswith("(500 ms > bound 200 ms)")


def test_finding_3_a_sampler_that_stopped_by_itself_is_incomplete() -> None:
    samples = switch(0.0, 5.0, 8.0)
    a = analyse(run(samples, stop="max-duration", stopped_at=8.0), phases=[rollout(1.0, 9.0)], window=(0.0, 10.0))
    texts = [p.text for p in a.problems]
    assert any("ended by itself at +8.000s (max-duration)" in t for t in texts)
    assert any("no probe between +7.990s and +10.000s" in t for t in texts)


def test_finding_3_lost_pod_prober_samples_are_incomplete() -> None:
    samples = switch(0.0, 5.0, 12.0)
    a = analyse(run(samples, lost=3), phases=[rollout(1.0, 9.0)], window=(0.0, 11.0))
    assert not a.passed
    assert "3 sample(s) the sampler took never reached the harness" in a.problems[0].text


def test_finding_3_samples_only_is_never_complete() -> None:
    a = analyse(switch(0.0, 5.0, 12.0), expected_versions=(OLD, NEW), settled_at=9.0)
    assert not a.complete
    assert any("run is unknown" in p.text for p in a.problems)


def test_finding_4_extra_evidence_counts() -> None:
    a = analyse(
        run(switch(0.0, 5.0, 12.0)),
        phases=[rollout(1.0, 9.0)],
        window=(0.0, 11.0),
        evidence=["ReplicaSet watcher of ns/web recorded its first list 0.300s after the first change"],
    )
    assert not a.passed
    assert a.problems[0].text.startswith("evidence incomplete: ReplicaSet watcher")


def test_finding_5_an_unaligned_remote_clock_is_incomplete() -> None:
    a = analyse(
        run(switch(0.0, 5.0, 12.0), clock_error=float("inf")),
        phases=[rollout(1.0, 9.0)],
        window=(0.0, 11.0),
        max_clock_error=0.1,
    )
    assert "clock is known only to" in a.problems[0].text
    aligned = analyse(
        run(switch(0.0, 5.0, 12.0), clock_error=0.004),
        phases=[rollout(1.0, 9.0)],
        window=(0.0, 11.0),
        max_clock_error=0.1,
    )
    assert aligned.passed


def test_finding_6_a_hole_in_the_samples_is_seen_whatever_the_requests_did() -> None:
    """Old: one request at a time; a SYN dropped for 1 s silenced the sampler, and the
    picture showed a hole. An open-loop record has no hole; a record with one is incomplete."""
    holed = steady(0.0, 4.0) + steady(5.0, 8.0, NEW)
    a = analyse(run(holed), phases=[rollout(1.0, 7.0)], window=(0.0, 8.0))
    assert [(round(x, 2), round(y, 2)) for x, y in a.coverage.gaps] == [(3.99, 5.0)]
    assert not a.complete


# --------------------------------------------------------------------------- versions by phase


def test_phases_judge_their_own_span() -> None:
    samples = switch(0.0, 3.0, 6.5) + steady(6.5, 9.0, OLD) + steady(9.0, 12.0, NEW)
    phases = [
        Phase("up", 1.0, 4.0, (OLD, NEW)),
        Phase("undo", 6.0, 7.0, (NEW, OLD)),
        Phase("again", 8.5, 10.0, (OLD, NEW)),
    ]
    a = analyse(run(samples), phases=phases, window=(0.0, 11.9))
    assert a.passed, a.problems
    assert [pv.first for pv in a.phases] == [OLD, NEW, OLD]
    assert [pv.last for pv in a.phases] == [NEW, OLD, NEW]


def test_a_canary_settles_with_both_versions() -> None:
    mixed = [ok(1 + i * INTERVAL, NEW if i % 4 == 3 else OLD) for i in range(300)]
    a = analyse(run(mixed), phases=[Phase("canary", 0.5, 2.0, (OLD, NEW), settled=(OLD, NEW))], window=(1.0, 3.9))
    assert a.passed, a.problems


def test_without_settle_any_return_to_an_earlier_version_is_a_defect() -> None:
    a = analyse(
        run([ok(0.0), ok(0.01, NEW), ok(0.02), ok(0.03, NEW)]),
        phases=[Phase("atomic", 0.0, None, (OLD, NEW))],
        window=(0.0, 0.03),
    )
    assert [late.t for late in a.late_answers] == [0.02]


def test_missing_versions_unexpected_servers_and_first_answer() -> None:
    samples = steady(0.0, 2.0, NEW) + [ok(2.0, "apache")]
    a = analyse(run(samples), phases=[rollout(0.5, 1.0)], window=(0.0, 2.0))
    texts = [p.text for p in a.problems]
    assert any("'nginx/1.22.1' never answered" in t for t in texts)
    assert any("first answer came from 'nginx/1.26.3'" in t for t in texts)
    assert any("unexpected server 'apache'" in t for t in texts)


def test_failed_answers_do_not_count_as_versions() -> None:
    samples = switch(0.0, 2.0, 4.0)
    samples.append(ProbeSample(3.5, 3.51, 502, "http-5xx", OLD))  # a proxy's error page with the old header
    a = analyse(run(samples), phases=[rollout(1.0, 3.0)], window=(0.0, 3.9))
    assert a.late_answers == ()
    assert a.failed == 1 and [p.kind for p in a.problems] == ["failures"]


# --------------------------------------------------------------------------- verdict, window, measured failures


def test_clean_run_passes_with_a_verdict_sentence() -> None:
    a = analyse(run(switch(0.0, 5.0, 12.0)), phases=[rollout(1.0, 9.0)], window=(0.0, 11.0))
    assert a.passed and a.complete
    assert a.verdict.startswith(f"no request dropped: 1101 {NEW_CONNECTION} requests, all answered, window covered")


def test_failures_fail_unless_measured() -> None:
    samples = switch(0.0, 5.0, 12.0)
    samples[600] = bad(samples[600].start, "connect-refused")
    a = analyse(run(samples), phases=[rollout(1.0, 9.0)], window=(0.0, 11.0))
    assert [p.kind for p in a.problems] == ["failures"]
    assert "1 of 1101 new-connection requests failed in 1 outage(s), first at +6.000s (connect-refused)" in (
        a.problems[0].text
    )
    measured = analyse(run(samples), phases=[rollout(1.0, 9.0)], window=(0.0, 11.0), failures="measured")
    assert measured.passed and measured.failed == 1
    assert measured.verdict.startswith("1 of 1101 new-connection requests failed (measured, not asserted)")


def test_only_the_window_is_judged() -> None:
    samples = [bad(-1.0, "connect-refused")] + switch(0.0, 5.0, 12.0) + [bad(11.5)]
    a = analyse(run(samples), phases=[rollout(1.0, 9.0)], window=(0.0, 11.0))
    assert a.failed == 0 and a.coverage.outside_window == 2 + 99  # the two failures and what follows 11.0


def test_first_change_before_the_window_and_times_relative_to_origin() -> None:
    a = analyse(
        run(switch(0.0, 5.0, 12.0)),
        phases=[rollout(1.0, 9.0)],
        window=(0.0, 11.0),
        origin=-100.0,
        evidence=["the first answer came 0.500s after the first change"],
    )
    assert a.rel(0.0) == "+100.000s"
    assert not a.complete


def test_gap_bound_follows_the_interval() -> None:
    assert gap_bound_for(0.001) == MIN_GAP_BOUND
    assert gap_bound_for(0.005) == pytest.approx(GAP_BOUND_INTERVALS * 0.005)


def test_keep_alive_run_keeps_its_kind() -> None:
    a = analyse(run(switch(0.0, 5.0, 12.0), kind=KEEP_ALIVE), phases=[rollout(1.0, 9.0)], window=(0.0, 11.0))
    assert a.kind == KEEP_ALIVE and a.passed


def test_bad_arguments() -> None:
    with pytest.raises(ConfigError):
        analyse([], failures="ignored")
    with pytest.raises(ConfigError):
        Phase("x", 2.0, 1.0, (OLD,))
    with pytest.raises(ConfigError):
        Phase("x", 1.0, 2.0, ())


def test_empty_run() -> None:
    a = analyse(ProbeRun(NEW_CONNECTION, "t", INTERVAL, 0.0, 1.0, "stopped", ()), window=(0.0, 1.0))
    assert not a.passed and a.problems[0].text == "evidence incomplete: no probe sample was recorded"


# --------------------------------------------------------------------------- counts


def test_counts_availability_duration_rate_and_errors() -> None:
    samples = [ok(i * 0.1) for i in range(8)] + [bad(0.8, "connect-refused"), bad(0.9, "read-timeout")]
    a = analyse(samples)
    assert (a.total, a.failed, a.ok) == (10, 2, 8)
    assert a.availability == pytest.approx(0.8)
    assert a.duration == pytest.approx(0.9 + 0.002)
    assert a.rate == pytest.approx(10 / 0.902)
    assert a.error_counts == (("connect-refused", 1), ("read-timeout", 1))


def test_versions_spans_and_slices() -> None:
    samples = [ok(100.0, OLD), ok(100.4, OLD), ok(100.9, NEW), ok(103.2, NEW), bad(103.3)]
    a = analyse(samples, slice_seconds=1.0)
    assert a.versions_seen == (OLD, NEW)
    assert (a.first_seen(NEW), a.last_seen(NEW)) == (100.9, 103.2)
    assert a.span(OLD).responses == 2 and a.first_seen("x") is None
    assert [(s.start, s.end) for s in a.slices] == [(100.0, 101.0), (101.0, 102.0), (102.0, 103.0), (103.0, 104.0)]
    assert a.slices[0].counts == ((OLD, 2), (NEW, 1)) and a.slices[1].counts == ()
    with pytest.raises(ConfigError):
        analyse(samples, slice_seconds=0)


def test_a_keep_alive_connection_need_not_reach_every_version_of_a_short_phase() -> None:
    """A reused connection stays on its pod: in a half-way phase (one new pod of four, a few
    seconds) a keep-alive client may see only the old version. Not a problem for that sampler;
    the same answers from new connections (balanced per request) are."""
    samples = steady(0.0, 2.0, OLD)
    phases = [Phase("half way", 0.5, 1.5, (OLD, NEW), (OLD, NEW))]
    kept = analyse(run(samples, kind=KEEP_ALIVE), phases=phases, window=(0.0, 1.99))
    assert kept.passed, kept.problems
    fresh = analyse(run(samples), phases=phases, window=(0.0, 1.99))
    assert any("'nginx/1.26.3' never answered" in p.text for p in fresh.problems)


def test_a_gap_both_host_samplers_share_is_put_on_the_machine() -> None:
    """Two host samplers are separate real-time processes: a hole both have over the same interval
    means something held both (README findings 14 and 25); the verdict stays refused, with that cause."""
    from harness.analysis import held_together

    held = steady(0.0, 5.0) + steady(5.3, 10.0)
    ka = [replace(s, conn=1, reused=True) for s in steady(0.005, 5.0) + steady(5.29, 10.0)]
    a = analyse(run(held), phases=[rollout(1.0, 9.0)], window=(0.0, 9.99))
    b = analyse(run(ka, kind=KEEP_ALIVE), phases=[rollout(1.0, 9.0)], window=(0.0, 9.99))
    both = held_together([a, b])
    texts = [next(p.text for p in x.problems if p.kind == "coverage") for x in both]
    assert texts[0].endswith(
        "the sampler process was held on this host, and so was the keep-alive sampler from +4.995s to +5.290s "
        "(a process of its own): something held both (work on this machine ahead of them, README finding 14, "
        "or its host not running it, finding 25)"
    )
    assert "and so was the new-connection sampler from +4.990s to +5.300s" in texts[1]
    # one CPU back before the other: the second sampler resumed after 125 ms of the first one's 310
    early = [replace(s, conn=1, reused=True) for s in steady(0.005, 5.0) + steady(5.12, 10.0)]
    c = analyse(run(early, kind=KEEP_ALIVE), phases=[rollout(1.0, 9.0)], window=(0.0, 9.99))
    assert "and so was the keep-alive sampler from +4.995s to +5.120s" in next(
        p.text for p in held_together([a, c])[0].problems if p.kind == "coverage"
    )
    assert not any(x.passed for x in both)

    steady_ka = analyse(run(steady(0.005, 10.0), kind=KEEP_ALIVE), phases=[rollout(1.0, 9.0)], window=(0.0, 9.99))
    alone = held_together([a, steady_ka])[0]
    assert next(p.text for p in alone.problems if p.kind == "coverage").endswith("was held on this host")
    pod = held_together([replace(a, route="pod"), b])[0]
    assert pod.problems == replace(a, route="pod").problems


# --------------------------------------------------------------------------- witnesses (README finding 14)


def witness(start: float, end: float, offset: float, hole: tuple[float, float] | None = None) -> ProbeRun:
    """One of two witnesses at twice the pace's interval, `offset` into it; silent during `hole`."""
    step = 2 * INTERVAL
    n = int(round((end - start) / step))
    times = [start + offset + i * step for i in range(n)]
    kept = [ok(t) for t in times if hole is None or not hole[0] <= t < hole[1]]
    return replace(run(kept), interval=step, where="host 172.18.0.2:30080")


def test_a_witness_held_on_its_cpu_leaves_no_hole_while_the_other_ran() -> None:
    """Witness 1 was not run from +3.0 to +3.2 s (its CPU stolen); witness 2, on the other CPU, kept
    probing: the joint run is whole, at the joint pace. Held together, the hole is a refused verdict."""
    merged = merge_runs([witness(0.0, 8.0, 0.0, hole=(3.0, 3.2)), witness(0.0, 8.0, INTERVAL)])
    assert merged.interval == INTERVAL and merged.where == "host 172.18.0.2:30080, 2 witnesses"
    assert [s.start for s in merged.samples] == sorted(s.start for s in merged.samples)
    steady_phase = Phase("held", 1.0, 6.0, (OLD,))
    a = analyse(merged, phases=[steady_phase], window=(0.0, 7.9))
    assert a.passed and a.complete and a.coverage.max_gap <= 2 * INTERVAL + 1e-9
    both = merge_runs([witness(0.0, 8.0, 0.0, hole=(3.0, 3.2)), witness(0.0, 8.0, INTERVAL, hole=(3.0, 3.2))])
    held = analyse(both, phases=[steady_phase], window=(0.0, 7.9))
    assert not held.complete and any(p.kind == "coverage" for p in held.problems)


def test_merged_witnesses_say_how_each_ended_and_count_every_request() -> None:
    a = replace(witness(0.0, 2.0, 0.0), requests=100, lost=1, skipped=2)
    b = replace(witness(0.0, 2.0, INTERVAL), requests=None, stop_reason="max-duration", clock_error=0.004)
    merged = merge_runs([a, b])
    assert merged.stop_reason == "witness 2: max-duration" and merged.requests is None
    assert (merged.lost, merged.skipped, merged.clock_error) == (1, 2, 0.004)
    assert merge_runs([a]) is a
    with pytest.raises(ValueError, match="differ"):
        merge_runs([a, replace(b, kind=KEEP_ALIVE)])


def test_witnesses_pin_one_sampler_per_cpu_at_the_joint_pace() -> None:
    options = ProbeOptions(interval=0.002, route="node")
    pair = options.witnesses(2)
    assert [(w.cpu, w.interval) for w in pair] == [(0, 0.004), (1, 0.004)]
    assert options.witnesses(8) == pair and options.witnesses(1) == [options]
    assert ProbeOptions(route="pod").witnesses(2) == [ProbeOptions(route="pod")]


def test_a_witness_is_pinned_in_its_child_process() -> None:
    from harness.prober import ProbeTarget, loop_options

    pair = ProbeOptions(interval=0.002, route="node").witnesses(2)
    argv = loop_options("172.18.0.2", ProbeTarget("172.18.0.2", 30080), pair[1]).argv()
    assert argv[argv.index("--cpu") + 1] == "1" and argv[argv.index("--interval") + 1] == "0.004"


# --------------------------------------------------------------------------- keep-alive lifetime (finding 15)


def keep_alive(opened: float, times: list[float], server: str = OLD, *, conn: int = 1, witness: int = 1) -> list:
    """One keep-alive connection opened at `opened` (its first answer 2 ms later), reused at `times`."""
    first = ok(opened, server, conn=conn, witness=witness, seq=0)
    return [first] + [ok(t, server, conn=conn, witness=witness, seq=i + 1, reused=True) for i, t in enumerate(times)]


def test_an_old_answer_after_settle_over_a_connection_opened_before_it_lingers_within_the_pods_lifetime() -> None:
    """Run X (jsonpatch): a keep-alive connection opened at +21.191 s, while kube-proxy still sent new
    connections to the last old pod, was answered by the old version at +22.139 s, 6 ms after settle
    (+22.133 s): 0.948 s into the 1 s lifetime the hardened pods give nginx. Within the lifetime (and
    the one answer that crosses it) such an answer lingers; past it, or on a connection opened
    after settle, it is a defect, and the text says when its connection was opened."""
    settle = 22.133
    phase = Phase("v1 -> v2", 20.5, settle, (OLD, NEW))
    before = steady(20.0, 21.0, OLD) + steady(21.0, 23.5, NEW)
    lingering = keep_alive(21.191, [21.5, 22.126, 22.139], conn=345, witness=2)
    other = keep_alive(21.191, [21.5], NEW, conn=345, witness=1)  # witness 1's connection 345: another one
    samples = before + lingering + other
    a = analyse(run(samples, kind=KEEP_ALIVE), phases=[phase], window=(20.0, 23.49), connection_lifetime=1.0)
    assert a.passed and a.late_answers == () and a.phases[0].lingering == 1

    strict = analyse(run(samples, kind=KEEP_ALIVE), phases=[phase])
    assert [late.t for late in strict.late_answers] == [22.139] and strict.late_answers[0].opened == 21.191
    assert "over a connection opened at" in next(p.text for p in strict.problems if p.kind == "versions")

    crossed = keep_alive(21.191, [21.5, 22.15, 22.195, 22.20], conn=7)  # 22.195 crosses 21.193 + 1 s
    past = analyse(run(before + crossed, kind=KEEP_ALIVE), phases=[phase], connection_lifetime=1.0)
    assert [late.t for late in past.late_answers] == [22.20] and past.phases[0].lingering == 2

    opened_after = keep_alive(22.2, [22.3], conn=8)
    after = analyse(run(before + opened_after, kind=KEEP_ALIVE), phases=[phase], connection_lifetime=1.0)
    assert [late.t for late in after.late_answers] == [22.2, 22.3]


def test_merged_witnesses_keep_their_connections_apart() -> None:
    a = run(keep_alive(1.0, [1.1, 1.2], conn=5), kind=KEEP_ALIVE)
    b = run(keep_alive(1.05, [1.15], NEW, conn=5), kind=KEEP_ALIVE)
    merged = merge_runs([replace(a, samples=tuple(replace(s, witness=None) for s in a.samples)), b])
    assert {s.connection for s in merged.samples} == {(1, 5), (2, 5)}
    assert {s.server for s in merged.samples if s.connection == (2, 5)} == {NEW}


def test_time_no_cpu_ran_is_taken_out_of_a_gap_and_the_rest_held_against_the_bound() -> None:
    """A host sampler's 310 ms gap (bound 200 ms): with no CPU of the machine running for 250 ms of it,
    60 ms were unprobed while anything ran, and the verdict stands, saying so; with 100 ms not run,
    210 ms remain over the bound and the gap is refused with both figures."""
    samples = steady(0.0, 5.0) + steady(5.3, 10.0, NEW)
    held = NotRun(intervals=((5.0, 5.25),), span=(0.0, 10.0), cpus=2, tick=0.004)
    a = analyse(run(samples), phases=[rollout(1.0, 9.0)], window=(0.0, 9.99), not_run=held)
    assert a.passed and a.complete and a.coverage.gaps == () and a.coverage.no_cpu_ran == ((5.0, 5.25),)
    assert [(round(x, 2), round(y, 2), round(s, 3)) for x, y, s in a.coverage.explained] == [(4.99, 5.3, 0.25)]
    assert a.verdict.endswith(
        "max gap 310.0 ms (1 over the bound while no CPU of this machine ran: the largest 310 ms, 250 ms of it)"
    )
    assert a.coverage.trace == (
        "kernel interrupt trace of 2 CPU(s), tick 4 ms: no CPU ran 1 time(s), 250.0 ms in all, the longest 250.0 ms"
    )
    short = replace(held, intervals=((5.0, 5.05), (5.1, 5.15)))
    b = analyse(run(samples), phases=[rollout(1.0, 9.0)], window=(0.0, 9.99), not_run=short)
    assert not b.passed and b.coverage.explained == ()
    assert next(p.text for p in b.problems if p.kind == "coverage").startswith(
        "evidence incomplete: no probe between +4.990s and +5.300s (310 ms > bound 200 ms, and no CPU of this "
        "machine ran for 100 ms of it: 210 ms unprobed while it ran): the sampler was held"
    )
    untraced = analyse(run(samples), phases=[rollout(1.0, 9.0)], window=(0.0, 9.99), not_run=NotRun(unavailable="x"))
    assert not untraced.passed and untraced.coverage.trace == "no kernel interrupt trace (x)"
