"""Whether this machine's CPUs were run at all during a held gap: steal time and timer interrupts.

A virtual machine's CPU that its host does not run stops everything on it, the samplers
included. The guest kernel counts that time as steal when the host reports it (`/proc/stat`, per
CPU, in clock ticks), and a CPU that is not run takes no interrupt either (`/proc/interrupts`,
LOC), reported or not. `StealRecorder` reads both every `interval` while a Service is probed;
`explain_stolen` adds to a host sampler's gap how long each CPU was stolen meanwhile (measured: a
102 ms gap while CPU 0 was stolen for 100 ms), or, when nothing was counted stolen but neither CPU
took half its usual timer interrupts, that the machine was not run unannounced (README finding
25: 30-60 ms holds with both CPUs silent in the kernel's own event trace). These gaps are the ones
still over the bound once the time no CPU ran is taken out (`harness.notrun`): the machine, or a
CPU of it, ran while the sampler did not, or there was no interrupt trace to tell.
"""

from __future__ import annotations

import bisect
import os
import statistics
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace

from .analysis import HOST_HELD, ProbeAnalysis
from .procstat import cpu_steal, local_timer_interrupts
from .samples import clock

__all__ = ["StealRecord", "StealRecorder", "explain_stolen"]

NOTABLE = 0.01
"""Seconds of steal on a CPU during a gap from which it is named (one clock tick)."""

SILENT = 0.5
"""A CPU that took less than this share of its usual timer interrupts over a gap was mostly not run."""


@dataclass(frozen=True)
class StealRecord:
    """Readings (t, per-CPU steal seconds) whenever a value changed, the first and the last; and
    `timers`, every reading of the per-CPU local timer interrupts (t, counts)."""

    readings: tuple[tuple[float, tuple[float, ...]], ...]
    interval: float
    timers: tuple[tuple[float, tuple[int, ...]], ...] = ()

    def timer_interrupts(self, start: float, end: float) -> tuple[tuple[int, ...], float] | None:
        """Per-CPU timer interrupts from the last reading at or before `start` to the first at or
        after `end`, and that span in seconds; None when the readings do not cover the gap."""
        times = [t for t, _ in self.timers]
        i = bisect.bisect_right(times, start) - 1
        j = bisect.bisect_left(times, end)
        if i < 0 or j >= len(times):
            return None
        (a, before), (b, after) = self.timers[i], self.timers[j]
        return tuple(y - x for x, y in zip(before, after)), b - a

    def usual_timer_rate(self) -> tuple[float, ...]:
        """Per CPU, the median rate of timer interrupts (per second) between consecutive readings."""
        rates = [
            [(y - x) / (t2 - t1) for x, y in zip(c1, c2)]
            for (t1, c1), (t2, c2) in zip(self.timers, self.timers[1:])
            if t2 > t1 and len(c1) == len(c2)
        ]
        return tuple(statistics.median(column) for column in zip(*rates)) if rates else ()

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

    def __init__(self, path: str = "/proc/stat", interval: float = 0.01, interrupts: str = "/proc/interrupts") -> None:
        self.path = path
        self.interval = interval
        self.interrupts = interrupts
        self._readings: list[tuple[float, tuple[float, ...]]] = []
        self._timers: list[tuple[float, tuple[int, ...]]] = []
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
        try:
            loc: int | None = os.open(self.interrupts, os.O_RDONLY)
        except OSError:
            loc = None
        self._readings.append((clock(), first))
        self._read_timers(loc)
        self._thread = threading.Thread(target=self._run, args=(fd, loc), name="steal-recorder", daemon=True)
        self._thread.start()
        return self

    def _read_timers(self, fd: int | None) -> None:
        counts = tuple(local_timer_interrupts(fd)) if fd is not None else ()
        if counts:
            self._timers.append((clock(), counts))

    def _run(self, fd: int, loc: int | None) -> None:
        try:
            last = self._readings[-1][1]
            while not self._stop.wait(self.interval):
                values = tuple(cpu_steal(fd))
                self._read_timers(loc)
                if values and values != last:
                    self._readings.append((clock(), values))
                    last = values
            self._readings.append((clock(), last))
        finally:
            os.close(fd)
            if loc is not None:
                os.close(loc)

    def stop(self) -> StealRecord:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(1.0)
        return StealRecord(tuple(self._readings), self.interval, tuple(self._timers))


def explain_stolen(analyses: Sequence[ProbeAnalysis], record: StealRecord) -> list[ProbeAnalysis]:
    """Each host sampler's held gap, with how long each CPU was stolen meanwhile where any was, or,
    with nothing counted stolen, whether every CPU went without most of its timer interrupts."""
    usual = record.usual_timer_rate()
    out = []
    for a in analyses:
        problems = []
        for p in a.problems:
            gap = next(((x, y) for x, y in a.coverage.gaps if p.t == x and HOST_HELD in p.text), None)
            stolen = record.stolen(*gap) if gap else None
            if gap and stolen and max(stolen) >= NOTABLE:
                p = replace(p, text=f"{p.text}; {_stolen_text(record, usual, stolen, *gap)}")
            elif gap and (silent := _silent(record, usual, *gap)):
                p = replace(p, text=f"{p.text}; {silent}")
            problems.append(p)
        out.append(replace(a, problems=tuple(problems)))
    return out


_RAN = (
    "a sampler held on a CPU that was run was held by something of this machine (work ahead of it, or a "
    "lock held on a CPU not run; README finding 39)"
)


def _stolen_text(
    record: StealRecord, usual: tuple[float, ...], stolen: tuple[float, ...], start: float, end: float
) -> str:
    """The CPUs the hypervisor did not run over a gap, and what those it ran took meanwhile."""
    cpus = ", ".join(f"CPU {n} for {s * 1000:.0f} ms" for n, s in enumerate(stolen) if s >= NOTABLE)
    text = f"meanwhile the hypervisor did not run {cpus} (steal time)"
    ran = [n for n, s in enumerate(stolen) if s < NOTABLE]
    if not ran:
        return f"{text}: the virtual machine itself was not run (README finding 14)"
    counted = record.timer_interrupts(start, end)
    if counted is not None and len(counted[0]) == len(stolen) == len(usual):
        counts, span = counted
        took = ", ".join(f"CPU {n} took {counts[n]} timer interrupts (usually {usual[n] * span:.0f})" for n in ran)
        return f"{text}, while {took} over {span * 1000:.0f} ms: {_RAN}"
    others = ", ".join(f"CPU {n}" for n in ran)
    return f"{text}, not {others}: {_RAN}"


def _silent(record: StealRecord, usual: tuple[float, ...], start: float, end: float) -> str | None:
    """What the timer interrupts say when every CPU took less than `SILENT` of its usual count over
    the gap (the readings around it), or None."""
    counted = record.timer_interrupts(start, end)
    if counted is None or not usual:
        return None
    counts, span = counted
    expected = [rate * span for rate in usual]
    if len(counts) != len(expected) or not all(n < SILENT * e for n, e in zip(counts, expected)):
        return None
    took = " and ".join(f"CPU {i} {n}" for i, n in enumerate(counts))
    usually = " and ".join(f"{e:.0f}" for e in expected)
    return (
        f"meanwhile {took} timer interrupts over {span * 1000:.0f} ms (usually {usually}) and none of it was "
        "counted stolen: the virtual machine was not run for most of that time, unannounced by its host "
        "(README finding 25)"
    )
