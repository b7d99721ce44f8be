"""The harness's one wait loop: poll a probe until it is done, within a named timeout.

`poll(probe, waited_for=..., timeout=..., interval=...)` calls `probe()`, which
returns `(done, observed)`, until `done`, and returns the last `observed`.
Between polls it sleeps `interval` seconds (never past the deadline). When the
timeout runs out it raises `WaitTimeout` saying what it waited for and what the
last poll saw (`describe(observed)`, with `dump(observed)` for the details).
`invariant(observed)`, checked on every poll before `done`, returns what broke
(or None): that raises `InvariantViolation` at once. A set `stop` event ends the
wait as a timeout does. A probe may raise to end the wait with its own error.
`clock` and `sleep` are injectable (tests, the RC updater's own).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from .errors import InvariantViolation, WaitTimeout
from .samples import clock as harness_clock

__all__ = ["poll"]

T = TypeVar("T")


def poll(
    probe: Callable[[], tuple[bool, T]],
    *,
    waited_for: str,
    timeout: float,
    interval: float,
    describe: Callable[[T], str] = str,
    dump: Callable[[T], str] | None = None,
    invariant: Callable[[T], str | None] | None = None,
    stop: threading.Event | None = None,
    clock: Callable[[], float] = harness_clock,
    sleep: Callable[[float], object] = time.sleep,
) -> T:
    """Poll `probe` until done; see the module docstring for the rules."""

    def evidence(observed: T) -> tuple[str, str]:
        return describe(observed), dump(observed) if dump is not None else ""

    deadline = clock() + timeout
    while True:
        done, observed = probe()
        broken = invariant(observed) if invariant is not None else None
        if broken:
            raise InvariantViolation(broken, *evidence(observed), waited_for=waited_for)
        if done:
            return observed
        remaining = deadline - clock()
        if remaining <= 0:
            raise WaitTimeout(waited_for, timeout, *evidence(observed))
        pause = min(interval, remaining)
        if stop is None:
            sleep(pause)
        elif stop.wait(pause):
            raise WaitTimeout(waited_for, timeout, *evidence(observed))
