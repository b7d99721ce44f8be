"""Time the hypervisor spent running something else than this machine's CPUs (steal), beside the samplers.

A virtual machine's CPU that its host does not run stops everything on it, the samplers
included, and the guest kernel counts that time as steal (`/proc/stat`, per CPU, in clock
ticks). `StealRecorder` reads it every `interval` while a Service is probed; `explain_stolen`
adds to a host sampler's gap how long each CPU was stolen meanwhile (measured: a 102 ms gap of
the new-connection sampler while CPU 0 was stolen for 100 ms and CPU 1 kept running). The
verdict stays refused: nothing was probed in that gap, whatever held the machine.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace

from .analysis import HOST_HELD, ProbeAnalysis
from .procstat import cpu_steal
from .samples import clock

__all__ = ["StealRecord", "StealRecorder", "explain_stolen"]

NOTABLE = 0.01
"""Seconds of steal on a CPU during a gap from which it is named (one clock tick)."""


@dataclass(frozen=True)
class StealRecord:
    """Readings (t, per-CPU steal seconds) whenever a value changed, the first and the last."""

    readings: tuple[tuple[float, tuple[float, ...]], ...]
    interval: float

    def stolen(self, start: float, end: float) -> tuple[float, ...] | None:
        """Per-CPU steal from `start` to `end` (plus two readings' time: a CPU's steal shows at the
        first reading after it ran again); None when the readings do not cover the span."""
        if not self.readings or self.readings[0][0] > start or self.readings[-1][0] < end:
            return None
        before = _value_at(self.readings, start)
        after = _value_at(self.readings, end + 2 * self.interval)
        return tuple(b - a for a, b in zip(before, after))


def _value_at(readings: Sequence[tuple[float, tuple[float, ...]]], t: float) -> tuple[float, ...]:
    last = readings[0][1]
    for at, values in readings:
        if at > t:
            break
        last = values
    return last


class StealRecorder:
    """Reads `/proc/stat` every `interval` in a thread of its own, from `start()` to `stop()`."""

    def __init__(self, path: str = "/proc/stat", interval: float = 0.02) -> None:
        self.path = path
        self.interval = interval
        self._readings: list[tuple[float, tuple[float, ...]]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> StealRecorder:
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return self  # no /proc/stat: nothing recorded, `stop()` gives an empty record
        first = tuple(cpu_steal(fd))
        if not first:
            os.close(fd)
            return self
        self._readings.append((clock(), first))
        self._thread = threading.Thread(target=self._run, args=(fd,), name="steal-recorder", daemon=True)
        self._thread.start()
        return self

    def _run(self, fd: int) -> None:
        try:
            last = self._readings[-1][1]
            while not self._stop.wait(self.interval):
                values = tuple(cpu_steal(fd))
                if values and values != last:
                    self._readings.append((clock(), values))
                    last = values
            self._readings.append((clock(), last))
        finally:
            os.close(fd)

    def stop(self) -> StealRecord:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(1.0)
        return StealRecord(tuple(self._readings), self.interval)


def explain_stolen(analyses: Sequence[ProbeAnalysis], record: StealRecord) -> list[ProbeAnalysis]:
    """Each host sampler's held gap, with how long each CPU was stolen meanwhile where any was."""
    out = []
    for a in analyses:
        problems = []
        for p in a.problems:
            gap = next(((x, y) for x, y in a.coverage.gaps if p.t == x and HOST_HELD in p.text), None)
            stolen = record.stolen(*gap) if gap else None
            if stolen and max(stolen) >= NOTABLE:
                cpus = ", ".join(f"CPU {n} for {s * 1000:.0f} ms" for n, s in enumerate(stolen) if s >= NOTABLE)
                p = replace(
                    p,
                    text=f"{p.text}; meanwhile the hypervisor did not run {cpus} (steal time): the virtual "
                    "machine itself was not run (README finding 14)",
                )
            problems.append(p)
        out.append(replace(a, problems=tuple(problems)))
    return out
