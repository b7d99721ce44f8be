"""How long a pod's processes waited for a CPU: the run-queue delay the scheduler counts per task.

`/proc/PID/task/TID/schedstat` holds three numbers: nanoseconds on a CPU, nanoseconds runnable
but waiting for one, and how many times the task ran. The second is credited when the task
next runs, so a starvation of 1.5 s shows as one rise of about 1.5 s once it ends. Its largest
rise among the tasks of a pod's processes (read from this host: a kind node's pods are host
processes) says whether the pod could not answer because it did not get a CPU (README finding 18: pods
without a CPU request are BestEffort, which on cgroup v1 weighs 2 against the control plane's
880 and waits for as long as the control plane is busy).
"""

from __future__ import annotations

import os
from collections.abc import Iterable

__all__ = ["WAIT_COUNTER", "WAIT_FLOOR_MS", "parse_schedstat", "RunQueueWait"]

WAIT_COUNTER = "sched.wait_ms"
"""The name a pod's run-queue delay is recorded under beside its kernel counters."""
WAIT_FLOOR_MS = 20
"""Milliseconds of waiting in one poll below which nothing is recorded (ordinary scheduling)."""


def parse_schedstat(text: str) -> int | None:
    """The run-queue delay (ns) of one `schedstat` line, None when it is not one."""
    fields = text.split()
    if len(fields) < 2:
        return None
    try:
        return int(fields[1])
    except ValueError:
        return None


class RunQueueWait:
    """The run-queue delay of one pod's tasks: `rise(pids)` gives the milliseconds its most
    delayed task waited since the previous call, over tasks seen then (a new task's first
    reading is its baseline, a task gone since is dropped)."""

    def __init__(self, proc: str = "/proc") -> None:
        self.proc = proc
        self._last: dict[tuple[int, int], int] = {}

    def rise(self, pids: Iterable[int]) -> int:
        now: dict[tuple[int, int], int] = {}
        worst = 0
        for pid in pids:
            try:
                tids = os.listdir(f"{self.proc}/{pid}/task")
            except OSError:
                continue
            for tid in tids:
                try:
                    with open(f"{self.proc}/{pid}/task/{tid}/schedstat") as f:
                        wait = parse_schedstat(f.read())
                except (OSError, ValueError):
                    continue
                if wait is None or not tid.isdigit():
                    continue
                key = (pid, int(tid))
                now[key] = wait
                before = self._last.get(key)
                if before is not None and wait > before:
                    worst = max(worst, wait - before)
        self._last = now
        return worst // 1_000_000
