"""A wake-up at an instant for a selector loop: a CLOCK_MONOTONIC timerfd.

`selectors`' epoll takes its timeout in whole milliseconds, rounded up, so a loop
that waits for a tick 0.3 ms away sleeps 1 ms: at a sub-millisecond tick it falls
behind, and at any tick each wait overshoots by up to a millisecond. A timerfd
armed at the tick's instant (an absolute CLOCK_MONOTONIC time, the clock of
`time.monotonic`) becomes readable then, to the timer's resolution, and wakes the
same `select`. Python 3.13 has `os.timerfd_create`; before that the libc calls
are made through ctypes.
"""

from __future__ import annotations

import ctypes
import os
import time

__all__ = ["TickTimer"]

_TFD_TIMER_ABSTIME = 1
_TFD_NONBLOCK = os.O_NONBLOCK
_TFD_CLOEXEC = 0o2000000


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


class TickTimer:
    """A non-blocking timerfd; `arm(t)` makes `fd` readable at monotonic time `t`, `clear()` reads it."""

    def __init__(self) -> None:
        self._armed: float | None = None  # the instant it is armed for and has not been cleared since
        if hasattr(os, "timerfd_create"):  # Python 3.13+
            self.fd = os.timerfd_create(time.CLOCK_MONOTONIC, flags=os.TFD_NONBLOCK | os.TFD_CLOEXEC)
            self._settime = self._settime_os
        else:
            self._libc = ctypes.CDLL(None, use_errno=True)
            fd = self._libc.timerfd_create(time.CLOCK_MONOTONIC, _TFD_NONBLOCK | _TFD_CLOEXEC)
            if fd < 0:
                raise OSError(ctypes.get_errno(), f"timerfd_create: {os.strerror(ctypes.get_errno())}")
            self.fd = fd
            self._spec = _Itimerspec()
            self._settime = self._settime_libc

    def arm(self, at: float) -> None:
        """Readable at monotonic time `at` (seconds; at once if that has passed); replaces any earlier arming.
        Armed for that instant already (a loop woken by its sockets waits again for the same tick): no call."""
        if at == self._armed:
            return
        ns = max(int(at * 1e9), 1)  # 0 would disarm it
        self._settime(ns)
        self._armed = at

    def _settime_os(self, ns: int) -> None:
        os.timerfd_settime_ns(self.fd, flags=_TFD_TIMER_ABSTIME, initial=ns)  # type: ignore[attr-defined]

    def _settime_libc(self, ns: int) -> None:
        self._spec.it_value.tv_sec, self._spec.it_value.tv_nsec = divmod(ns, 1_000_000_000)
        if self._libc.timerfd_settime(self.fd, _TFD_TIMER_ABSTIME, ctypes.byref(self._spec), None) != 0:
            raise OSError(ctypes.get_errno(), f"timerfd_settime: {os.strerror(ctypes.get_errno())}")

    def clear(self) -> None:
        """Consume an expiry (nothing to do if it has not fired); the next `arm` arms it again."""
        self._armed = None
        try:
            os.read(self.fd, 8)
        except BlockingIOError:
            pass

    def close(self) -> None:
        os.close(self.fd)
