"""`harness.poll.poll`, the one wait loop, on a fake clock: done, timeout, invariant, interval, stop."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from harness.errors import InvariantViolation, WaitTimeout
from harness.poll import poll


class FakeTime:
    """A clock that only moves when slept on; records every sleep."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def counter(done_at: int) -> tuple[list[int], Callable[[], tuple[bool, int]]]:
    calls: list[int] = []

    def probe() -> tuple[bool, int]:
        calls.append(len(calls) + 1)
        return len(calls) >= done_at, len(calls)

    return calls, probe


def test_poll_returns_what_the_probe_saw_once_done() -> None:
    t = FakeTime()
    calls, probe = counter(3)
    seen = poll(probe, waited_for="three polls", timeout=10, interval=0.5, clock=t.clock, sleep=t.sleep)
    assert seen == 3 and calls == [1, 2, 3]
    assert t.sleeps == [0.5, 0.5]


def test_poll_done_at_once_does_not_sleep() -> None:
    t = FakeTime()
    assert poll(lambda: (True, "ok"), waited_for="x", timeout=1, interval=1, clock=t.clock, sleep=t.sleep) == "ok"
    assert t.sleeps == []


def test_poll_timeout_says_what_it_waited_for_and_the_last_observation() -> None:
    t = FakeTime()
    calls, probe = counter(1000)
    with pytest.raises(WaitTimeout) as info:
        poll(
            probe,
            waited_for="deployment web to finish its rollout",
            timeout=2,
            interval=0.5,
            describe=lambda n: f"{n} polls, still rolling",
            dump=lambda n: f"dump after poll {n}",
            clock=t.clock,
            sleep=t.sleep,
        )
    err = info.value
    assert (
        str(err)
        == "timed out after 2s waiting for deployment web to finish its rollout; last saw: 5 polls, still rolling"
    )
    assert (err.waited_for, err.timeout, err.last_seen, err.dump) == (
        "deployment web to finish its rollout",
        2,
        "5 polls, still rolling",
        "dump after poll 5",
    )
    assert calls[-1] == 5 and t.now == 102.0


def test_poll_sleeps_the_interval_but_never_past_the_deadline() -> None:
    t = FakeTime()
    _, probe = counter(1000)
    with pytest.raises(WaitTimeout):
        poll(probe, waited_for="x", timeout=1.25, interval=0.5, clock=t.clock, sleep=t.sleep)
    assert t.sleeps == [0.5, 0.5, 0.25]


def test_poll_checks_the_invariant_on_every_poll_and_fails_at_once() -> None:
    t = FakeTime()
    surge = iter([5, 5, 6, 5])

    def probe() -> tuple[bool, int]:
        return False, next(surge)

    with pytest.raises(InvariantViolation) as info:
        poll(
            probe,
            waited_for="the rollout",
            timeout=60,
            interval=1,
            describe=lambda n: f"{n} pods",
            invariant=lambda n: f"{n} pods exceed maxSurge (5)" if n > 5 else None,
            clock=t.clock,
            sleep=t.sleep,
        )
    err = info.value
    assert str(err) == "6 pods exceed maxSurge (5) while waiting for the rollout; observed: 6 pods"
    assert (err.violated, err.observed, err.waited_for) == ("6 pods exceed maxSurge (5)", "6 pods", "the rollout")
    assert t.sleeps == [1, 1]


def test_poll_invariant_is_checked_on_the_poll_that_is_done_too() -> None:
    with pytest.raises(InvariantViolation, match="broken"):
        poll(lambda: (True, 1), waited_for="x", timeout=1, interval=1, invariant=lambda n: "broken")


def test_a_probe_error_ends_the_wait_with_that_error() -> None:
    def probe() -> tuple[bool, int]:
        raise ValueError("the probe's own failure")

    with pytest.raises(ValueError, match="own failure"):
        poll(probe, waited_for="x", timeout=1, interval=1)


def test_a_set_stop_event_ends_the_wait_as_a_timeout() -> None:
    stop = threading.Event()
    stop.set()
    calls, probe = counter(1000)
    with pytest.raises(WaitTimeout, match="waiting for the pod to run; last saw: 1"):
        poll(probe, waited_for="the pod to run", timeout=60, interval=5, stop=stop)
    assert calls == [1]
