import selectors
import time

from harness.ticktimer import TickTimer


def test_a_timer_wakes_a_select_at_its_instant_not_before() -> None:
    timer = TickTimer()
    sel = selectors.DefaultSelector()
    sel.register(timer.fd, selectors.EVENT_READ, "timer")
    try:
        for delay in (0.0003, 0.0021):
            at = time.monotonic() + delay
            timer.arm(at)
            ready = sel.select(1.0)  # epoll alone would sleep whole milliseconds; the timer ends it
            woke = time.monotonic()
            assert [key.data for key, _ in ready] == ["timer"]
            assert woke >= at
            timer.clear()
            assert sel.select(0) == [], "a cleared timer is not readable"
    finally:
        sel.close()
        timer.close()


def test_a_timer_armed_in_the_past_fires_at_once_and_rearming_replaces() -> None:
    timer = TickTimer()
    sel = selectors.DefaultSelector()
    sel.register(timer.fd, selectors.EVENT_READ, "timer")
    try:
        timer.arm(time.monotonic() - 1.0)
        assert sel.select(1.0)
        timer.clear()
        timer.arm(time.monotonic() + 60.0)
        timer.arm(time.monotonic() + 0.001)  # the later arming wins
        assert sel.select(5.0)
    finally:
        sel.close()
        timer.close()


def test_arming_again_for_the_same_instant_makes_no_call_until_cleared() -> None:
    timer = TickTimer()
    calls: list[int] = []
    real = timer._settime
    timer._settime = lambda ns: (calls.append(ns), real(ns))  # type: ignore[method-assign]
    try:
        at = time.monotonic() + 0.001
        timer.arm(at)
        timer.arm(at)  # woken by a socket, waiting again for the same tick
        assert len(calls) == 1
        timer.clear()
        timer.arm(at)  # cleared (it fired, or may have): armed again, so no wake is lost
        assert len(calls) == 2
    finally:
        timer.close()
