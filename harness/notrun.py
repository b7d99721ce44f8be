"""When no CPU of this machine ran anything: silences in the kernel's interrupt trace.

A CPU that runs a task takes its scheduler tick every 1/HZ (the tick stops only in idle, unless
the kernel is built for `nohz_full`), so a CPU that took no interrupt from `a` to `b` ran
nothing from `a + tick` to `b - tick`: it was idle, or its host did not run it (README finding
25). Where that holds for every CPU at once, nothing on the machine ran: not the samplers, not
the Docker proxy, not the kind node's kube-proxy rules or pods. No request could start, be
answered or be dropped then, so that time is no hole in a host sampler's record; the rest of
a gap still is (`analysis`, README finding 33).

`InterruptTrace` keeps every CPU's interrupt entries (timer, IPIs, device) in a tracefs
instance of its own, stamped with CLOCK_MONOTONIC (the harness's clock), while a Service is
probed, and hands back `NotRun`: the intervals no CPU ran. Lost events end a silence (what is
not known is taken as running). Where tracefs is not mounted (a machine whose boot did not mount
it) a root process mounts it (`ensure_tracefs`); without it (not root) `NotRun.unavailable` says
why, and the gaps stay as they are.
"""

from __future__ import annotations

import atexit
import functools
import gzip
import os
import re
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from .samples import clock

__all__ = ["NotRun", "InterruptTrace", "availability", "Tracefs", "ensure_tracefs", "machine_silences", "tick_period"]

TRACEFS = "/sys/kernel/tracing"
PREFIX = "rollproof-"
EVENTS = (
    "irq_vectors/local_timer_entry",
    "irq_vectors/reschedule_entry",
    "irq_vectors/call_function_entry",
    "irq_vectors/call_function_single_entry",
    "irq/irq_handler_entry",  # device interrupts; on arm64 the timer too
)
_EVENT = re.compile(rb" (\d+\.\d+): (?:local_timer|reschedule|call_function|call_function_single|irq_handler)_entry:")
_LOST = re.compile(rb"^CPU:\d+ \[LOST (\d+) EVENTS\]")
BUFFER_KB = 1024
"""Per CPU; at the ~3,400 interrupts/s of a rollout on two CPUs that holds about 10 s, read every `DRAIN`."""
DRAIN = 0.1
"""Seconds between reads of the trace."""
_RESOLUTION = 1e-6
"""The trace's timestamps are in microseconds."""


@dataclass(frozen=True)
class NotRun:
    """The intervals (monotonic seconds) in which no CPU of this machine ran, between `span`'s ends."""

    intervals: tuple[tuple[float, float], ...] = ()
    span: tuple[float, float] | None = None
    cpus: int = 0
    tick: float = 0.0
    lost: int = 0
    unavailable: str = ""
    """Why there is no trace ("" when there is one)."""

    def within(self, start: float, end: float) -> float:
        """Seconds of (start, end) in which no CPU ran."""
        return sum(max(0.0, min(b, end) - max(a, start)) for a, b in self.intervals)

    def describe(self) -> str:
        if self.unavailable:
            return f"no kernel interrupt trace ({self.unavailable})"
        lost = f", {self.lost} event(s) lost" if self.lost else ""
        idle = (
            f": no CPU ran {len(self.intervals)} time(s), {sum(b - a for a, b in self.intervals) * 1000:.1f} ms in "
            f"all, the longest {max(b - a for a, b in self.intervals) * 1000:.1f} ms"
            if self.intervals
            else ": some CPU ran at every moment"
        )
        return f"kernel interrupt trace of {self.cpus} CPU(s), tick {self.tick * 1000:.0f} ms{lost}{idle}"


def machine_silences(per_cpu: Sequence[Sequence[tuple[float, float]]], tick: float) -> tuple[tuple[float, float], ...]:
    """The intervals in which no CPU ran: each CPU's silences (from one interrupt to its next) less
    a tick at either end (a running CPU ticks within one), intersected over every CPU."""
    common: list[tuple[float, float]] | None = None
    for silences in per_cpu:
        mine = sorted((a + tick, b - tick) for a, b in silences if b - a - 2 * tick > _RESOLUTION)
        if common is None:
            common = mine
            continue
        out, i, j = [], 0, 0
        while i < len(common) and j < len(mine):
            a, b = max(common[i][0], mine[j][0]), min(common[i][1], mine[j][1])
            if a < b:
                out.append((a, b))
            if common[i][1] < mine[j][1]:
                i += 1
            else:
                j += 1
        common = out
    return tuple(common or ())


@functools.cache
def tick_period(config: str = "/proc/config.gz") -> float:
    """Seconds between scheduler ticks (CONFIG_HZ); 10 ms (HZ=100, the lowest) when it cannot be read."""
    try:
        with gzip.open(config, "rt") as f:
            for line in f:
                if line.startswith("CONFIG_HZ="):
                    return 1.0 / int(line.split("=", 1)[1])
    except (OSError, ValueError):
        pass
    return 0.01


def _online_cpus(path: str = "/sys/devices/system/cpu/online") -> list[int]:
    with open(path) as f:
        text = f.read().strip()
    cpus: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        cpus += range(int(lo), int(hi or lo) + 1)
    return cpus


def _tickless(path: str = "/sys/devices/system/cpu/nohz_full") -> str:
    """The CPUs that do not tick while they run one task (`nohz_full=`), "" when none."""
    try:
        with open(path) as f:
            return f.read().strip().strip("()").replace("null", "")
    except OSError:
        return ""


def _untraceable(tickless: str) -> str:
    return f"CPUs {tickless} are nohz_full: they do not tick while they run, so silence proves nothing"


class Tracefs(NamedTuple):
    """Whether trace instances can be made, and a note: what was done to allow it, or why not."""

    usable: bool
    note: str


def ensure_tracefs(root: str = TRACEFS) -> Tracefs:
    """Whether trace instances can be made under `root`, mounting tracefs there first where it is not
    mounted and this process is root; the note says what was done ("tracefs mounted at ...") or why not."""
    if not os.path.isdir(f"{root}/instances"):
        if not os.path.isdir(root):
            return Tracefs(False, f"no tracefs at {root} (a kernel built without it)")
        if os.geteuid() != 0:
            return Tracefs(
                False, f"tracefs is not mounted at {root}: run as root to mount it and tell holds of the machine apart"
            )
        try:
            subprocess.run(
                ["mount", "-t", "tracefs", "tracefs", root], check=True, capture_output=True, text=True, timeout=10
            )
        except subprocess.CalledProcessError as exc:
            return Tracefs(
                False, f"mounting tracefs at {root} failed: {exc.stderr.strip() or f'exit {exc.returncode}'}"
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return Tracefs(False, f"mounting tracefs at {root} failed: {exc}")
        if not os.path.isdir(f"{root}/instances"):
            return Tracefs(False, f"tracefs mounted at {root} has no instances/ (a kernel without trace instances)")
        mounted = f"tracefs mounted at {root}"
    else:
        mounted = ""
    if not os.access(f"{root}/instances", os.W_OK):
        return Tracefs(False, f"{root}/instances not writable: run as root to tell holds of the machine apart")
    return Tracefs(True, mounted)


def availability(root: str = TRACEFS) -> str:
    """One line for the session header: whether gaps can be told from holds of the whole machine."""
    if tickless := _tickless():
        return f"no interrupt trace ({_untraceable(tickless)})"
    usable, note = ensure_tracefs(root)
    if not usable:
        return f"no interrupt trace ({note})"
    return (
        f"interrupt trace per Service probed (tick {tick_period() * 1000:.0f} ms"
        + (f"; {note}" if note else "")
        + "): time no CPU ran is out of the gaps"
    )


def remove_stale(root: str = TRACEFS) -> None:
    """Remove the trace instances of runs whose process is gone (killed before they stopped)."""
    try:
        names = os.listdir(f"{root}/instances")
    except OSError:
        return
    for name in names:
        if not name.startswith(PREFIX):
            continue
        pid = name[len(PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            _remove(f"{root}/instances/{name}")


def _remove(path: str) -> None:
    try:
        _write(f"{path}/tracing_on", "0")
        os.rmdir(path)
    except OSError:
        pass


def _write(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


class _Cpu:
    """One CPU's trace pipe and its silences so far."""

    def __init__(self, fd: int, started: float) -> None:
        self.fd = fd
        self.last: float | None = started
        self.silences: list[tuple[float, float]] = []
        self.rest = b""
        self.lost = 0
        self.error = ""

    def read(self, min_silence: float, *, final: bool = False) -> None:
        """Take in what the pipe holds; `final`: a last line without its newline too."""
        while not self.error:
            try:
                chunk = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                break
            except OSError as exc:
                self.error = exc.strerror or str(exc)
                return
            if not chunk:
                break
            lines = (self.rest + chunk).split(b"\n")
            self.rest = lines.pop()
            for line in lines:
                self.line(line, min_silence)
        if final and self.rest:
            self.line(self.rest, min_silence)
            self.rest = b""

    def line(self, line: bytes, min_silence: float) -> None:
        m = _EVENT.search(line)
        if m is not None:
            self.event(float(m.group(1)), min_silence)
        elif (lost := _LOST.match(line)) is not None:
            self.lost += int(lost.group(1))
            self.last = None  # unknown until the next event: taken as running

    def event(self, t: float, min_silence: float) -> None:
        if self.last is not None and t - self.last > min_silence:
            self.silences.append((self.last, t))
        if self.last is None or t > self.last:
            self.last = t


_LIVE: set[InterruptTrace] = set()


@atexit.register
def _close_live() -> None:
    """A trace started and never stopped (a test, an error path) is removed when Python exits."""
    for trace in list(_LIVE):
        trace._close()


class InterruptTrace:
    """Every CPU's interrupt entries from `start()` to `stop()`, read in a thread of its own."""

    _count = 0

    def __init__(self, root: str = TRACEFS, tick: float | None = None, tickless: str | None = None) -> None:
        self.root = root
        self.tickless = (lambda: tickless) if tickless is not None else _tickless
        self.tick = tick if tick is not None else tick_period()
        InterruptTrace._count += 1
        self.path = f"{root}/instances/{PREFIX}{os.getpid()}-{InterruptTrace._count}"
        self._cpus: list[_Cpu] = []
        self._started: float | None = None
        self._unavailable = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._result: NotRun | None = None

    def start(self) -> InterruptTrace:
        """Start tracing; when tracefs cannot be used, `stop()` says why and nothing else changes."""
        if tickless := self.tickless():
            self._unavailable = _untraceable(tickless)
            return self
        usable, note = ensure_tracefs(self.root)
        if not usable:
            self._unavailable = note
            return self
        remove_stale(self.root)
        try:
            os.mkdir(self.path)
        except OSError as exc:
            self._unavailable = f"cannot create {self.path}: {exc.strerror}; tracefs needs root"
            return self
        _LIVE.add(self)
        try:
            _write(f"{self.path}/trace_clock", "mono")
            _write(f"{self.path}/buffer_size_kb", str(BUFFER_KB))
            enabled = 0
            for event in EVENTS:
                if os.path.exists(f"{self.path}/events/{event}/enable"):
                    _write(f"{self.path}/events/{event}/enable", "1")
                    enabled += 1
            if not enabled:
                raise OSError(0, f"none of the interrupt events {', '.join(EVENTS)} exists")
            started = clock()
            _write(f"{self.path}/tracing_on", "1")
            for cpu in _online_cpus():
                fd = os.open(f"{self.path}/per_cpu/cpu{cpu}/trace_pipe", os.O_RDONLY | os.O_NONBLOCK)
                self._cpus.append(_Cpu(fd, started))
        except OSError as exc:
            self._unavailable = f"tracing interrupts in {self.path}: {exc.strerror or exc}"
            self._close()
            return self
        self._started = started
        self._thread = threading.Thread(target=self._run, name="interrupt-trace", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(DRAIN):
            self._drain()

    def _drain(self, *, final: bool = False) -> None:
        with self._lock:
            for cpu in self._cpus:
                cpu.read(2 * self.tick, final=final)

    def stop(self) -> NotRun:
        """Stop tracing, remove the instance and return the intervals no CPU ran (again when stopped)."""
        if self._result is not None:
            return self._result
        if self._started is None:
            self._close()
            return NotRun(tick=self.tick, unavailable=self._unavailable or "not started")
        ended = clock()
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
        self._drain(final=True)
        if broken := [f"CPU {i}: {c.error}" for i, c in enumerate(self._cpus) if c.error]:
            self._close()
            self._result = NotRun(tick=self.tick, unavailable=f"reading the trace failed ({'; '.join(broken)})")
            return self._result
        for cpu in self._cpus:
            if cpu.last is not None and ended > cpu.last:
                cpu.event(ended, 2 * self.tick)
        result = NotRun(
            intervals=tuple(
                (a, b)
                for a, b in machine_silences([c.silences for c in self._cpus], self.tick)
                if a >= self._started and b <= ended
            ),
            span=(self._started, ended),
            cpus=len(self._cpus),
            tick=self.tick,
            lost=sum(c.lost for c in self._cpus),
        )
        self._close()
        self._result = result
        return result

    def _close(self) -> None:
        self._stop.set()
        with self._lock:
            for cpu in self._cpus:
                os.close(cpu.fd)
            self._cpus = []
        if os.path.isdir(self.path):
            _remove(self.path)
        _LIVE.discard(self)
