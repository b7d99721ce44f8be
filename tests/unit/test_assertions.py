"""Assertions raise what the one analysis says, with its problems, causes and timeline quoted."""

from __future__ import annotations

import pytest

from harness.analysis import Phase, analyse
from harness.assertions import (
    assert_replica_bounds,
    assert_verdict,
    assert_verdicts,
    pod_availability,
    verdict_message,
)
from harness.attribution import Attribution
from harness.datapath import PodTransition
from harness.samples import ProbeRun, ProbeSample
from harness.rolloutsteps import ReplicaPoint, ScaleStep

GAP = 0.01


def ok(i: int, server: str = "v1") -> ProbeSample:
    return ProbeSample(10.0 + i * GAP, 10.0 + i * GAP + 0.001, 200, None, server)


def refused(i: int) -> ProbeSample:
    return ProbeSample(10.0 + i * GAP, 10.0 + i * GAP + 0.001, None, "connect-refused")


def analysed(samples: list[ProbeSample], **kw: object):
    samples = sorted(samples, key=lambda s: s.start)
    run = ProbeRun(
        "new-connection",
        "host 127.0.0.1:1",
        GAP,
        samples[0].start,
        samples[-1].end + 1,
        "stopped",
        tuple(samples),
        requests=len(samples),
    )
    return analyse(
        run,
        phases=[Phase("v1 -> v2", 10.5, 12.0, ("v1", "v2"))],
        window=(samples[0].start, samples[-1].start),
        origin=10.0,
        **kw,
    )  # type: ignore[arg-type]


def switch(at: int, n: int = 400) -> list[ProbeSample]:
    return [ok(i, "v1" if i < at else "v2") for i in range(n)]


def test_a_passing_verdict_returns_the_analysis() -> None:
    a = assert_verdict(analysed(switch(100)))
    assert (a.total, a.failed) == (400, 0)
    assert_verdicts([a])


def test_failures_are_quoted_with_their_cause_and_the_timeline() -> None:
    samples = switch(100)
    samples[150:153] = [refused(150), refused(151), refused(152)]
    steps = [ScaleStep(10.0 + 150 * GAP - 0.005, "scale-down", "web-1", 1, "web-2", 3, 3)]

    def attribute(failed):
        return [
            Attribution(
                s.start,
                "connect-refused",
                "stopped-while-routed",
                "refused: pod web-1-x exited",
                "web-1-x",
                "node-a",
                ("+1.495s (-5 ms) pod web-1-x (v1) exited",),
            )
            for s in failed
        ]

    a = analysed(samples, attribute=attribute)
    with pytest.raises(AssertionError) as caught:
        assert_verdict(a, steps=steps)
    text = str(caught.value)
    assert "3 of 400 new-connection requests failed in 1 outage(s), first at +1.500s (connect-refused)" in text
    assert "[stopped-while-routed] refused: pod web-1-x exited" in text
    assert "+1.495s (-5 ms) pod web-1-x (v1) exited" in text
    assert "timeline around the first problem" in text and "scale-down: web-1=1 web-2=3" in text
    assert text == verdict_message(a, steps=steps)


def test_incomplete_evidence_fails_even_without_failures() -> None:
    samples = switch(100)
    del samples[200:260]  # 0.6 s without a request start
    with pytest.raises(AssertionError, match=r"evidence incomplete: no probe between \+1\.990s and \+2\.600s"):
        assert_verdict(analysed(samples))


def test_every_failing_sampler_is_reported() -> None:
    bad = analysed([*switch(100)[:150], refused(150), *switch(100)[151:]])
    with pytest.raises(AssertionError) as caught:
        assert_verdicts([analysed(switch(100)), bad, bad])
    assert str(caught.value).count("new-connection sampler") == 2
    with pytest.raises(AssertionError, match="no sampler ran"):
        assert_verdicts([])


# --- assert_replica_bounds ----------------------------------------------------


def rollout_steps(surge: int = 1) -> list[ScaleStep]:
    # 3 replicas, old "a" -> new "b"; the last field counts b's available pods
    return [
        ScaleStep(1.0, "scale-up", "a", 3, "b", surge, 0),
        ScaleStep(2.0, "scale-down", "a", 2, "b", surge, 1),
        ScaleStep(3.0, "scale-up", "a", 2, "b", 2, 1),
        ScaleStep(4.0, "scale-down", "a", 0, "b", 3, 3),
    ]


def test_steps_within_bounds_pass() -> None:
    assert len(assert_replica_bounds(rollout_steps(), desired=3, max_surge=1, max_unavailable=0)) == 4


def test_surge_above_bound_fails_with_replicas_quoted() -> None:
    with pytest.raises(AssertionError) as caught:
        assert_replica_bounds(rollout_steps(surge=2), desired=3, max_surge=1, max_unavailable=0)
    message = str(caught.value)
    assert "replicas above 4 at 1 instant(s):" in message
    assert "> +0.000  total=5 available=3  a=3 b=2  (scale-up)" in message  # a's 3 + b's 0


def test_available_below_bound_fails() -> None:
    steps = rollout_steps()
    steps[1] = ScaleStep(2.0, "scale-down", "a", 1, "b", 1, 0)  # a scaled down before b was available
    with pytest.raises(AssertionError) as caught:
        assert_replica_bounds(steps, desired=3, max_surge=1, max_unavailable=1)
    message = str(caught.value)
    assert "available below 2 at 1 instant(s):" in message and "+1.000s available=1" in message
    assert "replicas above" not in message


def test_points_are_summed_across_owners() -> None:
    points = [
        ReplicaPoint(0.0, "a", 3, available=3),
        ReplicaPoint(1.0, "b", 1, available=1),
        ReplicaPoint(2.0, "a", 2, available=2),
        ReplicaPoint(3.0, "b", 2, available=2),  # a=2 + b=2: within 3 + 1
        ReplicaPoint(4.0, "b", 3, available=3),  # a=2 + b=3 = 5: surge of 2
        ReplicaPoint(5.0, "a", 0, available=0),
    ]
    assert_replica_bounds(points[:4], desired=3, max_surge=1, max_unavailable=0)
    with pytest.raises(AssertionError, match="replicas above 4 at 1 instant"):
        assert_replica_bounds(points, desired=3, max_surge=1, max_unavailable=0)


def test_simultaneous_points_are_one_instant() -> None:
    points = [
        ReplicaPoint(0.0, "a", 3, available=3),
        ReplicaPoint(1.0, "b", 3, available=3),
        ReplicaPoint(1.0, "a", 0, available=0),
    ]
    assert_replica_bounds(points, desired=3, max_surge=0, max_unavailable=0)


def test_no_records_fail() -> None:
    with pytest.raises(AssertionError, match="no replica records"):
        assert_replica_bounds([], desired=3, max_surge=1, max_unavailable=0)


def test_replica_bounds_since_keeps_a_replicaset_last_recorded_before_the_rollout() -> None:
    """The old ReplicaSet recorded once, before the rollout, still counts after it starts (a filter on
    the records' times made it vanish, and the new ReplicaSet's first pod looked like the only one)."""
    points = [
        ReplicaPoint(0.0, "old", 4, 4, 4),
        ReplicaPoint(2.0, "new", 1, 0, 0),
        ReplicaPoint(3.0, "new", 1, 1, 1),
        ReplicaPoint(3.1, "old", 3, 3, 3),
    ]
    instants = assert_replica_bounds(points, since=1.0, desired=4, max_surge=1, max_unavailable=0)
    assert [(i.replicas, i.available) for i in instants] == [(4, 4), (5, 4), (5, 5), (4, 4)]
    with pytest.raises(AssertionError, match="available below 4"):
        assert_replica_bounds([p for p in points if p.t >= 1.0], desired=4, max_surge=1, max_unavailable=0)


def _pod(t: float, name: str, what: str) -> PodTransition:
    return PodTransition(t, name, what, "node-1", "10.244.0.9")


# The clean-clone run in which the owners' availableReplicas summed 3 for 0.86 s (old 1 + new 2) while the
# pods said four served: old-a Ready until it began terminating at 6.37, new-c Ready from 5.26, new-d from 6.30.
_POINTS = [
    ReplicaPoint(4.9, "old", 2, available=2),
    ReplicaPoint(4.9, "new", 3, available=3),
    ReplicaPoint(4.96, "old", 1, available=1),
    ReplicaPoint(5.02, "new", 4, available=3),
    ReplicaPoint(5.10, "new", 4, available=2),
    ReplicaPoint(5.96, "new", 4, available=4),
    ReplicaPoint(6.40, "old", 0, available=0),
]
_PODS = [
    *(_pod(4.0, n, w) for n in ("old-a", "old-b", "new-a", "new-b") for w in ("listed", "ready")),
    _pod(4.5, "new-c", "created"),
    _pod(5.26, "new-c", "ready"),
    _pod(5.32, "old-b", "terminating"),
    _pod(5.40, "new-d", "created"),
    _pod(6.30, "new-d", "ready"),
    _pod(6.37, "old-a", "terminating"),
]


def test_replica_bounds_judge_availability_on_the_pods_not_the_owners_summaries() -> None:
    with pytest.raises(AssertionError, match=r"available below 4 at 1 instant"):
        assert_replica_bounds(_POINTS, since=4.95, desired=4, max_surge=1, max_unavailable=0)
    assert assert_replica_bounds(_POINTS, since=4.95, desired=4, max_surge=1, max_unavailable=0, pods=_PODS)
    assert pod_availability(_PODS, since=4.95) == [(4.5, 4), (5.26, 5), (5.32, 4), (5.4, 4), (6.3, 5), (6.37, 4)]


def test_replica_bounds_on_pods_fail_when_a_pod_stops_serving_and_name_the_summaries() -> None:
    pods = [*_PODS, _pod(5.50, "new-a", "not-ready"), _pod(5.90, "new-a", "ready")]
    with pytest.raises(AssertionError) as info:
        assert_replica_bounds(_POINTS, since=4.95, desired=4, max_surge=1, max_unavailable=0, pods=pods)
    text = str(info.value)
    assert "pods Ready and not terminating below 4 at 1 instant(s):" in text
    assert "+0.600s available=3 (new-a not-ready while not terminating: its readiness probe failed)" in text
    assert "(the owners' availableReplicas summed below 4 at +0.200s)" in text
    with pytest.raises(AssertionError, match="no pod records"):
        assert_replica_bounds(_POINTS, since=4.95, desired=4, max_surge=1, max_unavailable=0, pods=[])
