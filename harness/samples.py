"""What the prober records: one sample per request, on the harness's one clock."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ProbeSample", "clock"]

import time

clock = time.monotonic
"""The one clock of the harness: prober samples and rollout steps both use it.

Processes inside kind nodes share the host kernel, so CLOCK_MONOTONIC read in a
prober pod is the same clock as this one."""


@dataclass(frozen=True)
class ProbeSample:
    """One request to the Service.

    `status` is the HTTP status (None when no response came); `error` is an
    error class such as "connect-refused", "connect-timeout", "reset",
    "read-timeout", "http-5xx" (None on success); `server` is the `Server`
    response header; `marker` is a short body marker (the page's version tag).
    """

    start: float
    end: float
    status: int | None
    error: str | None = None
    server: str | None = None
    marker: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None and 200 <= self.status < 400

    @property
    def latency(self) -> float:
        return self.end - self.start
