"""Assertion helpers pass on clean timelines and fail with the timeline quoted."""

from __future__ import annotations

import pytest

from harness.assertions import assert_no_failures, assert_replica_bounds, assert_version_order
from harness.samples import ProbeSample
from harness.steps import ReplicaPoint, ScaleStep
from harness.timeline import analyse

GAP = 0.1


def ok(i: int, server: str = "v1") -> ProbeSample:
    return ProbeSample(10.0 + i * GAP, 10.0 + i * GAP + 0.01, 200, None, server)


def refused(i: int) -> ProbeSample:
    return ProbeSample(10.0 + i * GAP, 10.0 + i * GAP + 0.01, None, "connect-refused")


def switch(at: int, n: int = 40) -> list[ProbeSample]:
    return [ok(i, "v1" if i < at else "v2") for i in range(n)]


# --- assert_no_failures -------------------------------------------------------


def test_no_failures_passes_and_returns_the_analysis() -> None:
    a = assert_no_failures(switch(20))
    assert (a.total, a.failed) == (40, 0)


def test_failures_fail_with_outages_and_window() -> None:
    samples = switch(20)
    samples[25:28] = [refused(25), refused(26), refused(27)]
    steps = [ScaleStep(10.0 + 25 * GAP - 0.05, "scale-down", "web-1", 1, "web-2", 3, 3)]

    with pytest.raises(AssertionError) as caught:
        assert_no_failures(samples, steps=steps)

    message = str(caught.value)
    assert "3 of 40 probe requests failed (budget 0)" in message
    assert "+2.500s .. +2.710s (0.210s): 3 failed, connect-refused" in message
    assert "~ scale-down: web-1=1 web-2=3 available=3" in message
    focus = [line for line in message.splitlines() if line.startswith(">")]
    assert len(focus) == 1 and "+2.500 .. +2.700" in focus[0] and "3x" in focus[0]


def test_budget_allows_that_many_failures() -> None:
    samples = switch(20)
    samples[5:7] = [refused(5), refused(6)]
    assert assert_no_failures(samples, budget=2).failed == 2
    with pytest.raises(AssertionError, match="2 of 40 probe requests failed \\(budget 1\\)"):
        assert_no_failures(samples, budget=1)


def test_accepts_an_analysis() -> None:
    samples = switch(20)
    samples[3] = refused(3)
    with pytest.raises(AssertionError, match="1 of 40"):
        assert_no_failures(analyse(samples))


def test_empty_probe_fails() -> None:
    with pytest.raises(AssertionError, match="no probe samples"):
        assert_no_failures([])


def test_many_outages_are_listed_briefly() -> None:
    samples = [refused(i) if i % 2 else ok(i) for i in range(20)]
    with pytest.raises(AssertionError) as caught:
        assert_no_failures(samples)
    assert "10 outage(s)" in str(caught.value) and "... and 5 more" in str(caught.value)


# --- assert_version_order -----------------------------------------------------


def test_clean_switch_passes() -> None:
    a = assert_version_order(switch(20), "v1", "v2")
    assert a.versions_seen == ("v1", "v2")


def test_flip_back_fails_quoting_it() -> None:
    samples = switch(20)
    samples[30] = ok(30, "v1")
    with pytest.raises(AssertionError) as caught:
        assert_version_order(samples, "v1", "v2")
    message = str(caught.value)
    assert "1 flip-back(s): first at +3.000s 'v1' answered after 'v2' had answered since +2.000s" in message
    focus = [line for line in message.splitlines() if line.startswith(">")]
    assert len(focus) == 1 and "+3.000" in focus[0] and "v1" in focus[0]


def test_new_before_old_is_a_flip_back() -> None:
    samples = [ok(i, "v2" if i < 20 else "v1") for i in range(40)]
    with pytest.raises(AssertionError, match="flip-back"):
        assert_version_order(samples, "v1", "v2")


def test_unexpected_server_fails() -> None:
    samples = switch(20)
    samples[10] = ok(10, "canary")
    with pytest.raises(AssertionError, match="unexpected server 'canary' answered 1 time\\(s\\), first at \\+1.000s"):
        assert_version_order(samples, "v1", "v2")


def test_new_never_seen_fails() -> None:
    with pytest.raises(AssertionError, match="new version 'v2' never answered"):
        assert_version_order(switch(40), "v1", "v2")


def test_old_never_seen_fails() -> None:
    with pytest.raises(AssertionError, match="old version 'v1' never answered"):
        assert_version_order(switch(0), "v1", "v2")


def test_failed_requests_do_not_break_the_order() -> None:
    samples = switch(20)
    samples[20] = refused(20)
    assert_version_order(samples, "v1", "v2")


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
    points = [ReplicaPoint(0.0, "a", 3, available=3), ReplicaPoint(1.0, "b", 3, available=3),
              ReplicaPoint(1.0, "a", 0, available=0)]
    assert_replica_bounds(points, desired=3, max_surge=0, max_unavailable=0)


def test_no_records_fail() -> None:
    with pytest.raises(AssertionError, match="no replica records"):
        assert_replica_bounds([], desired=3, max_surge=1, max_unavailable=0)
