"""Where a scenario's wall time goes: named parts, summed for the test that runs now.

Tests run one at a time in a pytest process, so one stopwatch serves them all: the
plugin resets it when a scenario's record is made and reads it when the report is
written. The rollout itself is timed by the record (`ScenarioRecord.rollout`); the
parts here are the rest that is not the harness's own bookkeeping.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from .samples import clock

__all__ = ["PARTS", "Stopwatch", "STOPWATCH", "TeardownClock", "observe_for"]

PARTS = ("observe", "samplers", "analysis", "picture")
"""observe: named observation windows (the settled state watched); samplers: starting them
until each had its first answer; analysis: stopping them and analysing their runs;
picture: waiting, before the samplers start, for the timeline picture of the scenario before to be
drawn (`harness.pictures` draws it while this one sets up)."""


class Stopwatch:
    """Seconds per named part since the last `reset`."""

    def __init__(self) -> None:
        self.parts: dict[str, float] = {}

    def reset(self) -> None:
        self.parts = {}

    def add(self, part: str, seconds: float) -> None:
        self.parts[part] = self.parts.get(part, 0.0) + seconds

    @contextmanager
    def timing(self, part: str) -> Iterator[None]:
        started = clock()
        try:
            yield
        finally:
            self.add(part, clock() - started)


STOPWATCH = Stopwatch()


class TeardownClock:
    """A test's teardown, split into its own part and the session's.

    pytest tears the session's fixtures down in the last test's teardown (the wait for the
    namespaces deleted in the background, the cluster's removal): that is no test's time. The
    test's own part ends when the last fixture of a narrower scope than the session is torn down."""

    def __init__(self) -> None:
        self.started: float | None = None
        self.own_end = 0.0

    def begin(self, now: float) -> None:
        self.started = self.own_end = now

    def finalized(self, scope: str, now: float) -> None:
        """A fixture of `scope` was just torn down."""
        if self.started is not None and scope != "session":
            self.own_end = now

    def end(self, now: float, *, last: bool) -> tuple[float, float]:
        """(the test's own teardown seconds, the session's); the session's is 0 unless `last`."""
        if self.started is None:
            return 0.0, 0.0
        own_end = self.own_end if last else now
        own, session = own_end - self.started, now - own_end
        self.started = None
        return own, session


def observe_for(seconds: float) -> None:
    """Let the samplers watch for a named observation window (timed as "observe")."""
    with STOPWATCH.timing("observe"):
        deadline = clock() + seconds
        while (left := deadline - clock()) > 0:
            time.sleep(min(0.1, left))
