"""What every sampler is, wherever it runs: its options, the face it shows the harness, its lifecycle.

`ProbeOptions` holds what the host sampler (`harness.prober.HostProber`) and the pod
sampler (`harness.podprober.PodProber`) share: kind, route, pace and bounds, with
durations from `harness.timeouts`. `Prober` names what the rest of the harness uses
of a sampler. `SamplerBase` is the lifecycle both write once: the thread following
the sampler's output into a `SampleStream`, the waits, the run a stop returns, the
context manager; each route adds how it starts, follows and halts (`Ending`).
"""

from __future__ import annotations

import contextlib
import math
import re
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from typing import Protocol, TypeVar

from harness.errors import ConfigError
from harness.samples import (
    KEEP_ALIVE,
    NEW_CONNECTION,
    ROUTES,
    SAMPLER_KINDS,
    USUAL_ROUTE,
    ProbeRun,
    ProbeSample,
    clock,
    sampler_label,
)
from harness.samplestream import SampleStream
from harness.timeouts import DEFAULT_TIMEOUTS, Timeouts

__all__ = ["MAX_INFLIGHT", "MAX_REQUESTS", "ProbeOptions", "Prober", "SamplerBase", "Ending"]

MAX_INFLIGHT = 4000  # sockets one sampler may hold (its file-descriptor limit is raised to fit)
MAX_REQUESTS = 10_000_000  # requests one sampler may start (as probeloop's own default)


@dataclass(frozen=True)
class ProbeOptions:
    """How one sampler requests, wherever it runs: its kind, route, pace and bounds.
    Durations default to `DEFAULT_TIMEOUTS`; `ProbeOptions.of(timeouts)` takes them
    from the session's named timeouts."""

    kind: str = NEW_CONNECTION
    interval: float = DEFAULT_TIMEOUTS.probe_interval
    connect_timeout: float = DEFAULT_TIMEOUTS.probe_connect
    read_timeout: float = DEFAULT_TIMEOUTS.probe_read
    max_duration: float = DEFAULT_TIMEOUTS.probe_max_duration
    max_requests: int = MAX_REQUESTS
    max_inflight: int | None = None  # default: every tick of the longest request (see `inflight`)
    marker: str | None = None
    route: str = USUAL_ROUTE
    cpu: int | None = None  # a host sampler pinned to this CPU (`witnesses`); None: any

    def __post_init__(self) -> None:
        if self.kind not in SAMPLER_KINDS:
            raise ConfigError(f"sampler kind {self.kind!r}: give one of {', '.join(SAMPLER_KINDS)}")
        if self.route not in ROUTES:
            raise ConfigError(f"sampler route {self.route!r}: give one of {', '.join(ROUTES)}")
        for name in ("connect_timeout", "read_timeout", "max_duration"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be > 0 seconds, got {getattr(self, name)}")
        if not self.interval > 0:
            raise ConfigError(f"interval must be > 0 seconds (an open-loop sampler needs a pace), got {self.interval}")
        if self.max_requests < 1 or (self.max_inflight is not None and self.max_inflight < 1):
            raise ConfigError(
                f"max_requests and max_inflight must be >= 1, got {self.max_requests}, {self.max_inflight}"
            )
        if self.marker is not None:
            try:
                re.compile(self.marker)
            except re.error as exc:
                raise ConfigError(f"marker {self.marker!r} is not a valid regex: {exc}") from None

    @classmethod
    def of(cls, timeouts: Timeouts, **changes: object) -> ProbeOptions:
        return replace(
            cls(
                interval=timeouts.probe_interval,
                connect_timeout=timeouts.probe_connect,
                read_timeout=timeouts.probe_read,
                max_duration=timeouts.probe_max_duration,
            ),
            **changes,
        )  # type: ignore[arg-type]

    @property
    def keep_alive(self) -> bool:
        return self.kind == KEEP_ALIVE

    def witnesses(self, cpus: int) -> list[ProbeOptions]:
        """This sampler as one witness per CPU (at most two), each pinned to its CPU at `cpus` times
        this interval, so that together they keep this pace and a CPU the hypervisor does not run
        (README finding 14) leaves no hole in the evidence; one sampler on a single CPU, in a pod,
        or when already pinned. The harness merges the witnesses' runs (`merge_runs`)."""
        n = min(cpus, 2)
        if n < 2 or self.route == "pod" or self.cpu is not None:
            return [self]
        return [replace(self, interval=self.interval * n, cpu=cpu) for cpu in range(n)]

    @property
    def inflight(self) -> int:
        """Requests in flight at most: by default enough that requests hanging for their whole
        timeouts never hold a tick back, so a hang shows as failed samples, not as a hole."""
        if self.max_inflight is not None:
            return self.max_inflight
        return min(MAX_INFLIGHT, math.ceil((self.connect_timeout + self.read_timeout) / self.interval) + 1)

    @property
    def stop_wait(self) -> float:
        """Longest a stopped sampler may take to finish its requests in flight."""
        return self.connect_timeout + self.read_timeout + 1.0


class Prober(Protocol):
    """What the harness uses of a sampler, wherever it runs (`harness.probing`, `harness.demo`)."""

    stopped: bool
    kind: str

    @property
    def label(self) -> str: ...

    def start(self) -> Prober: ...

    def samples(self) -> list[ProbeSample]: ...

    def wait_first_ok(self, timeout: float) -> bool: ...

    def ended_by_itself(self) -> str | None: ...

    def wait(self, timeout: float | None = None) -> bool: ...

    def stop(self) -> ProbeRun: ...


@dataclass(frozen=True)
class Ending:
    """How a stopped sampler's run ended, as its route saw it: when it stopped
    recording, why (used when the sampler's own final count never came), and the
    offset and bound of its clock against the harness's."""

    stopped_at: float
    reason: str
    clock_offset: float = 0.0
    clock_error: float = 0.0


_Self = TypeVar("_Self", bound="SamplerBase")


class SamplerBase(ABC):
    """The lifecycle every sampler shares; a route adds `start`, `_follow` and `_halt`.

    `start()` begins the sampler and a thread (`_follow_in_thread`) that reads its
    output into `stream`; `samples()` is a live snapshot; `wait()` waits for that
    thread to end (the sampler ended by itself); `stop()` halts the sampler and
    returns the `ProbeRun`. As a context manager it starts, and stops on the way out
    unless already stopped; an exception from the body wins over one from the stop.
    """

    def __init__(self, options: ProbeOptions, *, route: str, where: str) -> None:
        self.options = options
        self.kind = options.kind
        self.route = route
        self.interval = options.interval
        self.where = where
        self.stream = SampleStream(self.kind)
        self.started_at: float | None = None
        self.stopped = False
        """True once `stop()` was called (by whoever owns the sampler)."""
        self._thread: threading.Thread | None = None

    @property
    def label(self) -> str:
        return sampler_label(self.kind, self.route)

    # -- caller side -------------------------------------------------------

    @abstractmethod
    def start(self: _Self) -> _Self:
        """Begin sampling and following the output; refuses a second start."""

    def samples(self) -> list[ProbeSample]:
        """A snapshot of the samples received so far (safe while running)."""
        return self.stream.snapshot()

    def wait_first_ok(self, timeout: float) -> bool:
        """Wait for a first successful request; False at `timeout`, or at once when the sampler
        has ended by itself without one (`ended_by_itself` says why)."""
        deadline = clock() + timeout
        while not self.stream.first_ok.wait(min(0.05, max(0.0, deadline - clock()))):
            if clock() >= deadline or self.ended_by_itself() is not None:
                return self.stream.first_ok.is_set()
        return True

    def ended_by_itself(self) -> str | None:
        """Why the sampler ended without being stopped (its last words), or None while it runs, once
        stopped, or before it started."""
        if self._thread is None or self._thread.is_alive() or self.stopped:
            return None
        words = " | ".join(self.stream.diagnostics[-3:])[-500:]
        return words or (f"it ended ({self.stream.why})" if self.stream.why else "its output ended")

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the sampler to end by itself and its output to be read; True if it has."""
        if self._thread is None:
            return False
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> ProbeRun:
        """Stop the sampler; its whole run."""
        self.stopped = True
        stopped_at = clock()
        ending = self._halt(stopped_at)
        return self.stream.run(
            where=self.where,
            interval=self.interval,
            started_at=self.started_at or stopped_at,
            stopped_at=ending.stopped_at,
            stopped_by_harness=True,
            end_reason=ending.reason,
            clock_offset=ending.clock_offset,
            clock_error=ending.clock_error,
            route=self.route,
        )

    def __enter__(self: _Self) -> _Self:
        return self.start()

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if self.stopped:
            return
        if exc is None:
            self.stop()
            return
        with contextlib.suppress(BaseException):  # the body's exception wins
            self.stop()

    # -- route side --------------------------------------------------------

    def _follow_in_thread(self, name: str) -> None:
        self._thread = threading.Thread(target=self._follow, name=name, daemon=True)
        self._thread.start()

    @abstractmethod
    def _follow(self) -> None:
        """Read the sampler's output into `stream` until it ends (runs in the thread)."""

    @abstractmethod
    def _halt(self, stopped_at: float) -> Ending:
        """Ask the sampler to stop, read its output to the end; how its run ended."""
