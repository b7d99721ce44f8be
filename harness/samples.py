"""What a sampler records, on the harness's one clock: one sample per request, and the run they form."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

__all__ = [
    "ProbeSample",
    "ProbeRun",
    "clock",
    "NEW_CONNECTION",
    "KEEP_ALIVE",
    "SAMPLER_KINDS",
    "ROUTES",
    "sampler_label",
    "USUAL_ROUTE",
    "merge_runs",
    "connections_opened",
    "failures_with_ports",
]

clock = time.monotonic
"""The one clock of the harness: prober samples, watchers and rollout steps all use it.

A sampler on this host (a thread or a child process) reads the same CLOCK_MONOTONIC.
A sampler in a pod reads its node's; on kind nodes (same kernel) that is this clock,
elsewhere `ProbeRun.clock_offset` converts it (see `harness.clocksync`)."""

NEW_CONNECTION = "new-connection"
"""Sampler kind: a new TCP connection per request (what a rollout breaks for new clients)."""

KEEP_ALIVE = "keep-alive"
"""Sampler kind: requests reuse idle connections (what a client with a pool sees)."""

SAMPLER_KINDS = (NEW_CONNECTION, KEEP_ALIVE)

ROUTES = ("mapped", "node", "pod")
"""Where a sampler's requests enter the data path: "mapped" (this host, the NodePort that the
kind config maps to 127.0.0.1: Docker's port mapping first), "node" (this host, straight to a
node container's address and NodePort) or "pod" (a sampler pod, to the Service's ClusterIP)."""


USUAL_ROUTE = "node"
"""The route whose samplers are named by their kind alone: the default on Linux with a kind
cluster (`harness.session.default_routes`); "mapped" was until README finding 18."""


def sampler_label(kind: str, route: str) -> str:
    """A sampler's name in reports, the same for the sampler and its run: its kind, and its
    route when not the usual one."""
    return kind if route == USUAL_ROUTE else f"{kind} via {route}"


@dataclass(frozen=True)
class ProbeSample:
    """One request to the Service.

    `status` is the HTTP status (None when no response came); `error` is an
    error class such as "connect-refused", "connect-timeout", "reset",
    "read-timeout", "http-5xx" (None on success); `server` is the `Server`
    response header; `marker` is a short body marker (the page's version tag).
    `seq` numbers the requests of one run in the order they were started;
    `conn` numbers its connections, and `reused` says the request went over a
    connection that had already answered an earlier one (keep-alive). `port` is the
    local (source) port of a new connection, where the sampler knows it: two requests
    from one port share a conntrack entry while it lives (attribution's stale-conntrack).
    `witness` numbers (from 1) the witness of a merged sampler that took the sample (None: the
    sampler ran alone); `seq` and `conn` count within one witness.
    """

    start: float
    end: float
    status: int | None
    error: str | None = None
    server: str | None = None
    marker: str | None = None
    seq: int | None = None
    conn: int | None = None
    reused: bool = False
    port: int | None = None
    witness: int | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None and 200 <= self.status < 400

    @property
    def latency(self) -> float:
        return self.end - self.start

    def shifted(self, offset: float) -> ProbeSample:
        """The same sample with both times moved by `offset` seconds (clock alignment)."""
        return ProbeSample(
            self.start + offset,
            self.end + offset,
            self.status,
            self.error,
            self.server,
            self.marker,
            self.seq,
            self.conn,
            self.reused,
            self.port,
            self.witness,
        )

    @property
    def connection(self) -> tuple[int | None, int | None]:
        """The connection this request went over, unique within its sampler: (witness, conn)."""
        return (self.witness, self.conn)


def connections_opened(samples: Iterable[ProbeSample]) -> dict[tuple[int | None, int | None], float]:
    """When each connection of a run was opened (by `ProbeSample.connection`): the start of its
    first, not reused, request."""
    opened: dict[tuple[int | None, int | None], float] = {}
    for s in samples:
        if s.conn is not None and not s.reused:
            opened.setdefault(s.connection, s.start)
    return opened


def failures_with_ports(samples: Iterable[ProbeSample]) -> list[ProbeSample]:
    """The failed requests of one sampler's samples, each with its connection's source port: a
    reused request carries the port its connection was opened from (its first request's)."""
    samples = list(samples)
    ports: dict[tuple[int | None, int | None], int] = {}
    for s in samples:
        if s.conn is not None and not s.reused and s.port is not None:
            ports.setdefault(s.connection, s.port)
    return [
        replace(s, port=ports[s.connection]) if s.reused and s.port is None and s.connection in ports else s
        for s in samples
        if not s.ok
    ]


@dataclass(frozen=True)
class ProbeRun:
    """Everything one sampler recorded, and how its run went: the evidence a verdict rests on.

    `started_at` / `stopped_at` bound the run on the harness clock; `stop_reason` is
    "stopped" when the harness ended it, else why it ended by itself ("max-duration",
    "max-requests", "error: ...", "log-ended", ...). `requests` is how many requests
    the sampler says it started (None when it could not say); `lost` how many of those
    never reached the harness; `skipped` how many ticks found every request slot busy.
    Sampler times were converted to the harness clock by adding `clock_offset`, known
    to within `clock_error` seconds.
    """

    kind: str
    where: str
    interval: float
    started_at: float
    stopped_at: float | None
    stop_reason: str
    samples: tuple[ProbeSample, ...]
    requests: int | None = None
    lost: int = 0
    skipped: int = 0
    clock_offset: float = 0.0
    clock_error: float = 0.0
    route: str = USUAL_ROUTE

    @property
    def label(self) -> str:
        """The sampler's name in reports (`sampler_label`)."""
        return sampler_label(self.kind, self.route)

    @classmethod
    def of_samples(
        cls, samples: list[ProbeSample] | tuple[ProbeSample, ...], *, kind: str = NEW_CONNECTION, interval: float = 0.0
    ) -> ProbeRun:
        """A run known only by its samples (tests, old records): nothing says it was whole."""
        ordered = tuple(sorted(samples, key=lambda s: s.start))
        start = ordered[0].start if ordered else 0.0
        end = max((s.end for s in ordered), default=None)
        return cls(
            kind=kind,
            where="(samples only)",
            interval=interval,
            started_at=start,
            stopped_at=end,
            stop_reason="unknown",
            samples=ordered,
            requests=None,
        )


def merge_runs(runs: Sequence[ProbeRun]) -> ProbeRun:
    """The witnesses of one sampler (same kind and route, each on its own CPU at a multiple of the
    pace) as one run: every sample of each, in order, at their joint pace, marked with its witness
    (their request and connection numbers overlap). Conservative where they
    differ: the run stopped as asked only if every witness did (else the first other reason, with
    its witness), counts add up (unknown if one is), the clock error is the largest."""
    if len(runs) == 1:
        return runs[0]
    first = runs[0]
    if any((r.kind, r.route) != (first.kind, first.route) for r in runs):
        raise ValueError(f"witnesses of one sampler differ: {[(r.kind, r.route) for r in runs]}")
    ended = [f"witness {i + 1}: {r.stop_reason}" for i, r in enumerate(runs) if r.stop_reason != "stopped"]
    stops = [r.stopped_at for r in runs]
    return ProbeRun(
        kind=first.kind,
        where=f"{first.where}, {len(runs)} witnesses",
        interval=1.0 / sum(1.0 / r.interval for r in runs),
        started_at=min(r.started_at for r in runs),
        stopped_at=None if None in stops else max(s for s in stops if s is not None),
        stop_reason=ended[0] if ended else "stopped",
        samples=tuple(
            sorted((replace(s, witness=i + 1) for i, r in enumerate(runs) for s in r.samples), key=lambda s: s.start)
        ),
        requests=None if any(r.requests is None for r in runs) else sum(r.requests or 0 for r in runs),
        lost=sum(r.lost for r in runs),
        skipped=sum(r.skipped for r in runs),
        clock_offset=first.clock_offset,
        clock_error=max(r.clock_error for r in runs),
        route=first.route,
    )
