"""SCHED_DEADLINE for a sampler process: a CPU budget per period, ahead of the kernel's fair server.

Python's `os` has `sched_setscheduler` but not `sched_setattr(2)`, the only way to ask for
SCHED_DEADLINE; this is that one call through ctypes (x86_64 and arm64 numbers).

Why a sampler wants it (README finding 14): since Linux 6.12 a CPU whose normal tasks were kept
waiting by real-time work runs them for up to 50 ms at deadline priority (the fair server), ahead
of every SCHED_FIFO task. A SCHED_DEADLINE task with a 1 ms period has the earlier deadline and
keeps running (measured: a 1 ms sleeper held 49 ms each second at SCHED_FIFO 10, at most 9.5 ms
as SCHED_DEADLINE). In exchange it gets only its budget: `runtime` of CPU in every `period`.
Not the samplers' default: in four alternating runs the cluster's rollouts were slower with it
(`harness.probeloop.PRIORITY_ENV`).
"""

from __future__ import annotations

import ctypes
import os
import platform

__all__ = ["SCHED_DEADLINE", "set_deadline"]

SCHED_DEADLINE = 6
_FLAG_RESET_ON_FORK = 0x01  # a child starts at normal priority (a deadline task may not fork without it)
_SYSCALL = {"x86_64": 314, "aarch64": 274, "arm64": 274}


class _SchedAttr(ctypes.Structure):
    _fields_ = [
        ("size", ctypes.c_uint32),
        ("sched_policy", ctypes.c_uint32),
        ("sched_flags", ctypes.c_uint64),
        ("sched_nice", ctypes.c_int32),
        ("sched_priority", ctypes.c_uint32),
        ("sched_runtime", ctypes.c_uint64),
        ("sched_deadline", ctypes.c_uint64),
        ("sched_period", ctypes.c_uint64),
    ]


def set_deadline(runtime: float, period: float) -> None:
    """Make the calling process SCHED_DEADLINE with `runtime` seconds of CPU every `period` seconds
    (deadline = period). Raises OSError when the kernel refuses (no privilege, the machine's deadline
    bandwidth used up, an architecture without the call)."""
    number = _SYSCALL.get(platform.machine())
    if number is None:
        raise OSError(0, f"sched_setattr: no system call number known for {platform.machine()}")
    if not 0 < runtime <= period:
        raise ValueError(f"runtime {runtime} s must be above 0 and at most the period {period} s")
    ns = lambda seconds: int(seconds * 1e9)  # noqa: E731
    attr = _SchedAttr(
        ctypes.sizeof(_SchedAttr), SCHED_DEADLINE, _FLAG_RESET_ON_FORK, 0, 0, ns(runtime), ns(period), ns(period)
    )
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.syscall(number, 0, ctypes.byref(attr), 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"sched_setattr(SCHED_DEADLINE): {os.strerror(errno)}")
