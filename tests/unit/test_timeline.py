"""Timeline helpers on synthetic records: outages, replica totals, the excerpts quoted in messages."""

from __future__ import annotations

import pytest

from harness.errors import ConfigError
from harness.samples import ProbeSample
from harness.rolloutsteps import ReplicaPoint, ScaleStep
from harness.timeline import (
    error_class,
    find_outages,
    render_replicas,
    render_window,
    replica_instants,
    window,
)

GAP = 0.1
LATENCY = 0.01


def ok(t: float, server: str = "v1") -> ProbeSample:
    return ProbeSample(t, t + LATENCY, 200, None, server)


def bad(t: float, error: str | None = "connect-refused", status: int | None = None) -> ProbeSample:
    return ProbeSample(t, t + LATENCY, status, error)


def at(i: int) -> float:
    return 100.0 + i * GAP


def test_error_class_names_every_failure() -> None:
    assert error_class(ok(0)) is None
    assert error_class(bad(0, "reset")) == "reset"
    assert error_class(bad(0, None, 404)) == "http-404"
    assert error_class(bad(0, None, None)) == "no-response"


def test_outages_are_maximal_runs_of_failed_samples() -> None:
    samples = [ok(at(i)) for i in range(3)]
    samples += [bad(at(3), "connect-refused"), bad(at(4), "reset"), bad(at(5), "connect-refused")]
    samples += [ok(at(6)), bad(at(7), None, 503), ok(at(8))]

    outages = find_outages(samples)

    assert len(outages) == 2
    first, second = outages
    assert (first.start, first.end, first.failed) == (at(3), at(5) + LATENCY, 3)
    assert first.errors == ("connect-refused", "reset")
    assert first.duration == pytest.approx(2 * GAP + LATENCY)
    assert (second.start, second.failed, second.errors) == (at(7), 1, ("http-503",))


def test_outage_reaching_the_end_is_closed() -> None:
    outages = find_outages([ok(at(0)), bad(at(1)), bad(at(2))])
    assert [(o.start, o.failed) for o in outages] == [(at(1), 2)]


def test_replica_instants_carry_last_value_per_owner() -> None:
    points = [
        ReplicaPoint(1.0, "old", 3, available=3),
        ReplicaPoint(2.0, "new", 1, available=0),
        ReplicaPoint(3.0, "new", 1, available=1),
        ReplicaPoint(4.0, "old", 2, available=2),
    ]
    instants = replica_instants(points)
    assert [(i.t, i.replicas, i.available) for i in instants] == [(1.0, 3, 3), (2.0, 4, 3), (3.0, 4, 4), (4.0, 3, 3)]
    assert instants[-1].owners == (("old", 2), ("new", 1))


def test_replica_instants_fold_records_of_one_instant() -> None:
    points = [ReplicaPoint(1.0, "old", 3, available=3), ReplicaPoint(2.0, "new", 2), ReplicaPoint(2.0, "old", 1)]
    assert [(i.t, i.replicas) for i in replica_instants(points)] == [(1.0, 3), (2.0, 3)]


def test_replica_instants_from_steps() -> None:
    steps = [
        ScaleStep(2.0, "scale-down", "a", 1, "b", 2, 2),
        ScaleStep(1.0, "scale-up", "a", 2, "b", 2, 0),
        ScaleStep(3.0, "rename", "b", 2, "b", 2, 2),
    ]
    instants = replica_instants(steps)
    # available = old controller's replicas + new controller's available pods
    assert [(i.t, i.replicas, i.available, i.action) for i in instants] == [
        (1.0, 4, 2, "scale-up"),
        (2.0, 3, 3, "scale-down"),
        (3.0, 2, 2, "rename"),
    ]


def test_replica_instants_refuse_mixed_records() -> None:
    with pytest.raises(ConfigError):
        replica_instants([ReplicaPoint(1.0, "a", 1), ScaleStep(2.0, "scale-up", "a", 1, "b", 1, 1)])


def test_window_bounds_are_inclusive() -> None:
    samples = [ok(float(t)) for t in range(10)]
    assert [s.start for s in window(samples, 5.0, 1.0, 2.0)] == [4.0, 5.0, 6.0, 7.0]


def test_render_window_folds_runs_marks_focus_and_interleaves_steps() -> None:
    samples = [ok(at(i)) for i in range(20)] + [bad(at(20 + i)) for i in range(4)]
    samples += [ok(at(24 + i), "v2") for i in range(5)]
    steps = [ScaleStep(at(21) + GAP / 2, "scale-down", "web-1", 2, "web-2", 3, 4)]

    text = render_window(samples, at(20), 1.0, 1.0, t0=at(0), steps=steps)
    lines = text.splitlines()

    focus = [line for line in lines if line.startswith(">")]
    assert len(focus) == 1 and "connect-refused" in focus[0] and "+2.000" in focus[0]
    assert any("10x" in line and "ok" in line and "v1" in line for line in lines)  # 1.0 s before at 10 Hz
    assert any("scale-down: web-1=2 web-2=3 available=4" in line for line in lines)
    # the step splits the outage: 2 failed before it, 2 after
    outage_lines = [line for line in lines if "connect-refused" in line]
    assert len(outage_lines) == 2 and all(" 2x " in line for line in outage_lines)
    assert any("5x" in line and "v2" in line for line in lines)


def test_render_window_relative_to_t_by_default_and_empty_window() -> None:
    samples = [ok(at(i)) for i in range(5)]
    assert "> +0.000" in render_window(samples, at(2), 0.0, 0.0)
    assert render_window(samples, 50.0, 1.0, 1.0).startswith("(no probe samples")


def test_render_window_trims_long_excerpts_around_focus() -> None:
    samples = [ok(at(i), f"v{i % 2}") for i in range(100)]  # every sample differs from the last
    text = render_window(samples, at(50), 10.0, 10.0, max_lines=10)
    lines = text.splitlines()
    assert len(lines) == 1 + 10 + 2
    assert "earlier line(s)" in lines[1] and "later line(s)" in lines[-1]
    assert sum(line.startswith(">") for line in lines) == 1


def test_render_replicas_marks_instant() -> None:
    instants = replica_instants([ReplicaPoint(1.0, "a", 3, available=3), ReplicaPoint(2.0, "b", 2, available=1)])
    text = render_replicas(instants, 2.0, 5.0, 5.0, t0=1.0)
    assert "> +1.000  total=5 available=4  a=3 b=2" in text.splitlines()
