"""Which process made something, and whether that process still runs.

Everything the harness leaves on a cluster or on disk carries an `Owner`
(host, pid and the process's start time), so a later run can tell the
leftovers of a run that is gone (removed) from the objects of a run that is
still going (never touched). A pid alone is not enough: pids are reused, so
the start time (clock ticks since boot, from `/proc/PID/stat`, with the boot
id) must match too. On another host nothing can be told (`alive()` is None).
"""

from __future__ import annotations

import functools
import os
import socket
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Owner", "current_owner", "process_start"]

_PROC = Path("/proc")


def _boot_id() -> str:
    try:
        return (_PROC / "sys/kernel/random/boot_id").read_text().strip()[:8]
    except OSError:
        return ""


def process_start(pid: int) -> str | None:
    """`<boot id>:<start ticks>` of process `pid`; None when it does not exist; "" when unknowable here."""
    if not _PROC.is_dir():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return ""
        return ""
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after its closing one
    fields = stat.rsplit(")", 1)[-1].split()
    if fields and fields[0] == "Z":  # a zombie has exited: it runs nothing any more
        return None
    return f"{_boot_id()}:{fields[19]}" if len(fields) > 19 else ""


@dataclass(frozen=True)
class Owner:
    """A process on a host: `host/pid/start` in annotations and directory names."""

    host: str
    pid: int
    start: str = ""

    def token(self) -> str:
        return f"{self.host}/{self.pid}/{self.start}"

    @classmethod
    def parse(cls, text: str | None) -> Owner | None:
        """An owner from `token()`; None for anything else (never raises)."""
        if not text:
            return None
        host, _, rest = str(text).partition("/")
        pid, _, start = rest.partition("/")
        if not host or not pid.isdigit():
            return None
        return cls(host=host, pid=int(pid), start=start)

    def alive(self) -> bool | None:
        """True while the process runs, False once it is gone, None on another host."""
        if self.host != socket.gethostname():
            return None
        now = process_start(self.pid)
        if now is None:
            return False
        return not (self.start and now and now != self.start)

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}"


@functools.lru_cache(maxsize=1)
def _owner_of(pid: int) -> Owner:
    return Owner(host=socket.gethostname(), pid=pid, start=process_start(pid) or "")


def current_owner() -> Owner:
    """This process (recomputed after a fork)."""
    return _owner_of(os.getpid())
