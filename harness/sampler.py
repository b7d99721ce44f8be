"""What every sampler is, wherever it runs: its options and the face it shows the harness.

`ProbeOptions` holds what the host sampler (`harness.prober.HostProber`) and the pod
sampler (`harness.podprober.PodProber`) share: kind, route, pace and bounds, with
durations from `harness.timeouts`. `Prober` names what the rest of the harness uses
of a sampler.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Protocol

from harness.errors import ConfigError
from harness.samples import KEEP_ALIVE, NEW_CONNECTION, ROUTES, SAMPLER_KINDS, ProbeRun, ProbeSample
from harness.timeouts import DEFAULT_TIMEOUTS, Timeouts

__all__ = ["MAX_INFLIGHT", "MAX_REQUESTS", "ProbeOptions", "Prober"]

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
    route: str = "mapped"

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

    @property
    def label(self) -> str: ...

    def start(self) -> Prober: ...

    def samples(self) -> list[ProbeSample]: ...

    def wait_first_ok(self, timeout: float) -> bool: ...

    def wait(self, timeout: float | None = None) -> bool: ...

    def stop(self) -> ProbeRun: ...
