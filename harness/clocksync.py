"""Aligning a remote sampler's clock with the harness's: timestamp exchanges, Cristian's way.

The harness notes its clock, asks the remote side for its own, and notes its clock
again when the answer comes. The remote reading was taken somewhere in that round
trip, so `local ~= remote + offset` with `offset = midpoint - remote`, wrong by at
most half the round trip. Of several exchanges the one with the shortest round trip
bounds the error best. Exchanges at the start and at the end of a run also bound the
drift between the two clocks; the larger error of the two is the run's bound.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .errors import ConfigError
from .samples import clock

__all__ = ["Exchange", "ClockAlignment", "align", "combine", "exchange_with"]


@dataclass(frozen=True)
class Exchange:
    """One timestamp exchange: harness clock when asked and answered, the remote clock between."""

    sent: float
    remote: float
    received: float

    @property
    def round_trip(self) -> float:
        return self.received - self.sent

    @property
    def offset(self) -> float:
        """What to add to a remote time to get a harness time."""
        return (self.sent + self.received) / 2 - self.remote


@dataclass(frozen=True)
class ClockAlignment:
    """`offset` to add to remote times; true offset within +-`error` seconds."""

    offset: float
    error: float
    exchanges: int

    def describe(self) -> str:
        return f"offset {self.offset:+.6f}s +-{self.error * 1000:.1f} ms ({self.exchanges} exchanges)"


def align(exchanges: Sequence[Exchange]) -> ClockAlignment:
    """The best estimate from one round of exchanges: the shortest round trip's."""
    usable = [e for e in exchanges if e.round_trip >= 0]
    if not usable:
        raise ConfigError("no usable clock exchange (every answer came back before it was asked)")
    best = min(usable, key=lambda e: e.round_trip)
    return ClockAlignment(best.offset, best.round_trip / 2, len(usable))


def combine(start: ClockAlignment, end: ClockAlignment | None) -> ClockAlignment:
    """One alignment for a whole run from its start and end rounds: the start's offset, with an
    error that also covers the drift seen by the end round."""
    if end is None:
        return start
    drift = abs(end.offset - start.offset)
    return ClockAlignment(start.offset, max(start.error, end.error) + drift, start.exchanges + end.exchanges)


def exchange_with(
    read_remote: Callable[[], float], rounds: int = 5, local: Callable[[], float] = clock
) -> list[Exchange]:
    """`rounds` exchanges with a remote clock read by `read_remote` (one request each)."""
    out = []
    for _ in range(rounds):
        sent = local()
        remote = read_remote()
        received = local()
        out.append(Exchange(sent, remote, received))
    return out
