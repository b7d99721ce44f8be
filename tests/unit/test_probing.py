"""ProbedService with scripted samplers: where the evidence window starts and ends."""

from __future__ import annotations

import pytest

from harness import probing
from harness.analysis import Phase
from harness.datapath import DataPathTimeline
from harness.errors import HarnessError, WaitTimeout
from harness.probing import ProbedService
from harness.sampler import ProbeOptions
from harness.samples import ProbeRun, ProbeSample, clock
from harness.timeouts import Timeouts


class ScriptedSampler:
    """A Prober whose samples are given; times are relative to its start."""

    kind, route, where, interval = "new-connection", "mapped", "scripted", 0.002

    def __init__(
        self, samples: list[tuple[float, float, bool]], *, ticking: bool = False, ticks: str = "nginx/1.22.1"
    ) -> None:
        self.script = samples
        self.ticking = ticking  # after the script, answered ticks every interval until asked: a live sampler
        self.ticks = ticks  # the Server header of those ticks
        self.stopped = False
        self.t0 = 0.0

    @property
    def label(self) -> str:
        return self.kind

    def start(self) -> ScriptedSampler:
        self.t0 = clock() - max(e for _, e, _ in self.script) - 0.001  # the script has happened already
        return self

    def samples(self) -> list[ProbeSample]:
        script = [(s, e, ok, "nginx/1.22.1") for s, e, ok in self.script]
        if self.ticking:
            start = script[-1][0] + self.interval
            while self.t0 + start + 0.0005 <= clock():  # only requests already answered: none ends in the future
                script.append((start, start + 0.0005, True, self.ticks))
                start += self.interval
        return [
            ProbeSample(
                self.t0 + s,
                self.t0 + e,
                200 if ok else None,
                None if ok else "connect-timeout",
                server=server if ok else None,
                seq=i,
            )
            for i, (s, e, ok, server) in enumerate(script)
        ]

    def wait_first_ok(self, timeout: float) -> bool:
        return any(ok for _, _, ok in self.script)

    def ended_by_itself(self) -> str | None:
        return None

    def wait(self, timeout: float | None = None) -> bool:
        return True

    def stop(self) -> ProbeRun:
        self.stopped = True
        samples = tuple(self.samples())
        return ProbeRun(
            self.kind, self.where, self.interval, self.t0, clock(), "stopped", samples, requests=len(samples)
        )


def service(sampler: ScriptedSampler, timeouts: Timeouts | None = None) -> ProbedService:
    return ProbedService("web", lambda options: sampler, [ProbeOptions()], timeouts or Timeouts())


def test_requests_before_the_first_answer_are_not_evidence() -> None:
    """A new NodePort drops SYNs until kube-proxy writes it: the requests begun then hang ~1 s and
    succeed on retransmission. The window starts at the first answer, once a later request succeeded."""
    script = []
    for i in range(550):  # a request every 2 ms; SYN-ACKs from +1.008 s on
        start = i * 0.002
        end = start + 1.003 if start < 0.004 else max(start, 1.008) + 0.0005 if start < 1.008 else start + 0.0005
        script.append((start, end, True))
    sampler = ScriptedSampler(script, ticking=True)  # however late the test reaches finish()
    probed = service(sampler).start()
    # the request begun at 0 answered first, on its retransmitted SYN; at +1.003 s, between two starts:
    # at +1.004 s a start would tie with it and fall either side by a rounding of the clock's value
    first = sampler.t0 + 1.003
    assert probed.first_ok["new-connection"] == pytest.approx(first)
    analysis = probed.finish(observe=False)[0]
    assert analysis.coverage.window_start == pytest.approx(first)
    assert analysis.coverage.outside_window == 502 and analysis.failed == 0
    assert analysis.coverage.max_gap < 0.01, analysis.verdict


def test_no_request_begun_after_the_first_answer_succeeds_is_a_timeout() -> None:
    sampler = ScriptedSampler([(0.0, 1.0, True), (1.1, 2.1, False)])
    with pytest.raises(WaitTimeout, match="begun after the Service web first answered"):
        service(sampler, Timeouts(pods_ready=0.05)).start()
    assert sampler.stopped


def test_a_sampler_that_ended_before_any_answer_fails_the_start_with_its_reason() -> None:
    class Gone(ScriptedSampler):
        def ended_by_itself(self) -> str | None:
            return "rollproof sampler: ROLLPROOF_SAMPLER_STALLS=/x: cannot append to it"

    sampler = Gone([(0.0, 1.0, False)])
    with pytest.raises(HarnessError, match=r"new-connection sampler of the Service web ended before any answer: "):
        service(sampler).start()
    assert sampler.stopped


def test_the_window_ends_when_the_samplers_stop_not_at_settle() -> None:
    """A held phase (settled at its start) is judged to its end: a failure late in the hold counts."""
    script = [(i * 0.002, i * 0.002 + 0.0005, True) for i in range(50)]
    script[40] = (0.080, 0.0805, False)
    sampler = ScriptedSampler(script)
    probed = service(sampler, Timeouts(probe_settle=0.01)).start()
    versions = ("nginx/1.22.1",)
    probed.phases.append(Phase("steady", sampler.t0 + 0.01, sampler.t0 + 0.01, versions, versions))  # as hold() does
    analysis = probed.finish(observe=False)[0]
    assert analysis.total == 49 and analysis.failed == 1, analysis.verdict  # the first answer opens the window
    assert not analysis.passed


def test_waiting_for_a_version_returns_once_new_connections_had_it_in_the_phase() -> None:
    """A rollout stopped part way: the new version's first answer in the phase, whenever it comes."""
    sampler = ScriptedSampler([(0.0, 0.0005, True)], ticking=True, ticks="nginx/1.26.3")
    probed = service(sampler).start()
    with probed.phase("half way", ("nginx/1.22.1", "nginx/1.26.3")):
        entered = clock()
        served = probed.wait_answered("nginx/1.26.3", 5.0)
    assert entered <= served <= clock()


def test_waiting_for_a_version_that_never_answers_says_what_did() -> None:
    sampler = ScriptedSampler([(0.0, 0.0005, True)], ticking=True)
    probed = service(sampler).start()
    with probed.phase("half way", ("nginx/1.22.1", "nginx/1.26.3")):
        with pytest.raises(WaitTimeout, match=r"'nginx/1.26.3' to answer the new-connection sampler.*half way"):
            probed.wait_answered("nginx/1.26.3", 0.1)
    with pytest.raises(WaitTimeout, match=r"new-connection: \{'nginx/1.22.1': \d+\}"):
        with probed.phase("again", ("nginx/1.22.1", "nginx/1.26.3")):
            probed.wait_answered("nginx/1.26.3", 0.1)


def test_waiting_for_a_version_outside_a_phase_is_refused() -> None:
    probed = service(ScriptedSampler([(0.0, 0.0005, True)], ticking=True)).start()
    with pytest.raises(HarnessError, match="inside a phase"):
        probed.wait_answered("nginx/1.26.3", 1.0)


# --------------------------------------------------------------------------- the end of the window


class ShuttingDown:
    """A data-path recorder whose pods exit on a script: `until` (clock) -> when the last exit was seen."""

    running = True

    def __init__(self, until: float, pods: list[str], *, active: bool = True) -> None:
        self.until, self.pods = until, pods
        self.active = active  # False: nothing shuts down until the test says so (after the start)

    def start(self) -> ShuttingDown:
        return self

    def shutdowns(self) -> tuple[list[str], float | None]:
        if not self.active:
            return [], None
        return ([], self.until) if clock() >= self.until else (self.pods, None)

    def stop(self) -> DataPathTimeline:
        self.running = False
        return DataPathTimeline("web")

    def evidence_problems(self, since: float, until: float) -> list[str]:
        return []


def _probed(sampler: ScriptedSampler, datapath: ShuttingDown, timeouts: Timeouts) -> ProbedService:
    return ProbedService("web", lambda options: sampler, [ProbeOptions()], timeouts, datapath=datapath)  # type: ignore[arg-type]


def test_finish_probes_until_the_last_pod_exit_seen_and_a_margin_past_it(monkeypatch) -> None:
    monkeypatch.setattr(probing, "EXIT_MARGIN", 0.2)
    sampler = ScriptedSampler([(0.0, 0.0005, True)], ticking=True)
    exits = ShuttingDown(clock() + 0.5, ["web-3"], active=False)
    probed = _probed(sampler, exits, Timeouts(probe_settle=0.0, poll_interval=0.0, endpoint_propagation=0.0)).start()
    exits.active = True
    with probed.phase("update", ("nginx/1.22.1",)):
        pass
    probed.finish()
    assert exits.until + 0.2 <= probed.runs[0].stopped_at < exits.until + 0.2 + 0.3


def test_finish_gives_up_on_a_pod_that_never_exits_and_leaves_it_to_the_verdict(monkeypatch, caplog) -> None:
    monkeypatch.setattr(probing, "EXIT_MARGIN", 0.2)
    sampler = ScriptedSampler([(0.0, 0.0005, True)], ticking=True)
    never = ShuttingDown(clock() + 3600, ["web-3"], active=False)
    timeouts = Timeouts(probe_settle=0.0, poll_interval=0.0, endpoint_propagation=0.0, pod_exit=0.3)
    probed = _probed(sampler, never, timeouts).start()
    never.active = True
    with probed.phase("update", ("nginx/1.22.1",)):
        pass
    started = clock()
    probed.finish()
    assert 0.3 <= clock() - started < 1.0
    assert "every pod of the Service web seen terminating to exit" in caplog.text
    assert "still shutting down: web-3" in caplog.text


def test_the_samplers_start_once_no_pod_of_the_service_is_shutting_down() -> None:
    """A set-up rollout's old pods serve out their preStop sleep after it completes: a keep-alive
    sampler that connected to one would carry the replaced version into the first phase."""
    sampler = ScriptedSampler([(0.0, 0.0005, True)], ticking=True)
    exits = ShuttingDown(clock() + 0.3, ["web-1"])
    probed = _probed(sampler, exits, Timeouts()).start()
    assert clock() >= exits.until and sampler.t0 >= exits.until - 0.01  # started after the exit
    probed.finish(observe=False)


def test_a_pod_that_never_exits_before_the_start_is_a_timeout_naming_it() -> None:
    sampler = ScriptedSampler([(0.0, 0.0005, True)], ticking=True)
    never = ShuttingDown(clock() + 3600, ["web-1"])
    with pytest.raises(WaitTimeout, match=r"still shutting down to exit before the samplers start.*web-1"):
        _probed(sampler, never, Timeouts(pod_exit=0.2)).start()
    assert sampler.t0 == 0.0  # never started


class AtRest(ShuttingDown):
    """A data-path recorder whose rules come to hold the ready endpoints alone at `rest` (None: the
    rules are not read, so whether they do cannot be told)."""

    def __init__(self, rest: float | None) -> None:
        super().__init__(0.0, [], active=False)
        self.rest = rest

    def converged(self) -> tuple[bool, str] | None:
        if self.rest is None:
            return None
        return clock() >= self.rest, "rules on node-1: 10.244.0.5; ready endpoints 10.244.0.5, 10.244.0.6"


def test_settle_waits_for_the_data_path_at_rest_and_settles_the_last_phase_there() -> None:
    sampler = ScriptedSampler([(0.0, 0.0005, True)], ticking=True)
    rest = AtRest(None)
    probed = _probed(sampler, rest, Timeouts(endpoint_propagation=5.0)).start()
    with probed.phase("update", ("nginx/1.22.1", "nginx/1.26.3")):
        pass
    assert probed.phases[-1].settled_at is not None and probed.phases[-1].settled_at > clock() + 4
    rest.rest = clock() + 0.3
    settled = probed.settle()
    assert rest.rest <= settled < rest.rest + 0.2
    assert probed.phases[-1].settled_at == settled
    probed.finish(observe=False)


def test_settle_without_the_rules_read_waits_the_propagation_bound() -> None:
    sampler = ScriptedSampler([(0.0, 0.0005, True)], ticking=True)
    probed = _probed(sampler, AtRest(None), Timeouts(endpoint_propagation=0.3)).start()
    started = clock()
    probed.settle()
    assert 0.3 <= clock() - started < 0.5
    probed.finish(observe=False)


def test_settle_names_what_it_saw_when_the_rules_never_come_to_rest() -> None:
    sampler = ScriptedSampler([(0.0, 0.0005, True)], ticking=True)
    probed = _probed(sampler, AtRest(clock() + 3600), Timeouts(pod_exit=0.2)).start()
    with pytest.raises(WaitTimeout, match=r"to its ready endpoints alone.*rules on node-1: 10.244.0.5; ready"):
        probed.settle()
    probed.finish(observe=False)


class Recorded(AtRest):
    """A data-path recorder whose record, once stopped, is `timeline`."""

    def __init__(self, timeline: DataPathTimeline) -> None:
        super().__init__(None)
        self.timeline = timeline

    def stop(self) -> DataPathTimeline:
        self.running = False
        return self.timeline


def test_a_phase_settles_where_the_rules_read_held_the_ready_endpoints_alone_if_later_than_the_bound() -> None:
    from harness.datapath import EndpointEvent, EndpointState, ProxySync

    old = EndpointState("10.244.0.5", "web-old", "node-1", True, True, False)
    new = EndpointState("10.244.0.6", "web-new", "node-1", True, True, False)
    sampler = ScriptedSampler([(0.0, 0.0005, True)], ticking=True)
    t = clock()
    timeline = DataPathTimeline(
        "web",
        endpoints=(
            EndpointEvent(t - 1.0, "listed", old),
            EndpointEvent(t - 0.5, "added", new),
            EndpointEvent(t - 0.1, "changed", EndpointState("10.244.0.5", "web-old", "node-1", False, True, True)),
        ),
        proxy=(
            ProxySync("node-1", t - 0.4, t - 0.39, t - 0.45, ("10.244.0.5", "10.244.0.6")),
            ProxySync("node-1", t + 0.9, t + 0.95, t + 0.85, ("10.244.0.6",)),
        ),
        proxy_nodes=("node-1",),
    )
    probed = _probed(sampler, Recorded(timeline), Timeouts(endpoint_propagation=0.3)).start()
    with probed.phase("update", ("nginx/1.22.1", "nginx/1.26.3")):
        pass
    bound = probed.phases[0].settled_at
    assert bound is not None and bound < t + 0.9  # the 0.3 s bound passed while the rules still held web-old
    probed.finish(observe=False)
    assert probed.phases[0].settled_at == t + 0.9
