"""The one analysis of a probe run: computed once, read by the assertions, the report,
the JUnit properties and the picture alike.

Inputs are a `ProbeRun` (what one sampler recorded and how its run went), the
rollout `Phase`s it watched, the window it had to cover and the gap bound.
The result, `ProbeAnalysis`, says:

- what failed (outages, error classes) and, when a data-path timeline was given,
  why (`harness.attribution`);
- which version answered when, separating *interleaving while both versions
  serve* (expected, counted) from *answers from a superseded version after the
  phase settled* (a defect, listed);
- whether the evidence is complete (`Coverage`): the window probed from before
  the first change to after the last settle, no gap between request starts above
  the bound (less the time no CPU of this machine ran, `harness.notrun`), no sample
  lost, no silent stop, clocks aligned;
- and the verdict: `problems` (each a one-line reason) and `passed`.

Nothing here waits, talks to a cluster or imports pytest.
"""

from __future__ import annotations

import bisect

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from .errors import ConfigError
from .samples import KEEP_ALIVE, USUAL_ROUTE, ProbeRun, ProbeSample, connections_opened, sampler_label
from .timeline import Outage, error_class, find_outages

if TYPE_CHECKING:
    from .attribution import Attribution
    from .notrun import NotRun

__all__ = [
    "GAP_BOUND_INTERVALS",
    "MAX_CLOCK_ERROR",
    "Phase",
    "Problem",
    "LateAnswer",
    "PhaseVersions",
    "VersionSlice",
    "VersionSpan",
    "Coverage",
    "ProbeAnalysis",
    "analyse",
    "gap_bound_for",
    "held_together",
]

GAP_BOUND_INTERVALS = 20
"""A gap between two request starts longer than this many probe intervals means the
record has a hole: the verdict cannot rest on it."""

MIN_GAP_BOUND = 0.02
"""Seconds: the gap bound never goes below this, whatever the interval (an unpaced sampler)."""

HOST_HELD = "the sampler process was held on this host"
"""How a gap of a host sampler's open loop is explained (and found again by `held_together`)."""

MAX_CLOCK_ERROR = 0.1
"""Seconds: a sampler whose clock is known less well than this cannot be placed against
the rollout's instants (settle, transitions) and its record is incomplete."""


@dataclass(frozen=True)
class Phase:
    """One rollout the probe watched.

    From `start` the answers go from `versions[0]` towards `versions[-1]`; from
    `settled_at` on only the `settled` versions may answer (default: the last one;
    a partitioned canary settles with both). `settled_at` None: the phase never
    settled, so every answer of an earlier version after a later one is a defect.
    """

    label: str
    start: float
    settled_at: float | None
    versions: tuple[str, ...]
    settled: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.versions:
            raise ConfigError(f"phase {self.label!r} names no version")
        if self.settled_at is not None and self.settled_at < self.start:
            raise ConfigError(f"phase {self.label!r} settles before it starts")

    @property
    def allowed_after_settle(self) -> tuple[str, ...]:
        return self.settled or (self.versions[-1],)


@dataclass(frozen=True)
class Problem:
    """One reason a verdict cannot pass: `kind` is "coverage", "failures" or "versions"."""

    kind: str
    text: str
    t: float | None = None


@dataclass(frozen=True)
class LateAnswer:
    """At `t`, after `phase` had settled, `version` answered where only `expected` may;
    `opened` is when the connection it came over was opened (None: a new connection, or not known)."""

    t: float
    version: str
    expected: tuple[str, ...]
    phase: str
    opened: float | None = None


@dataclass(frozen=True)
class PhaseVersions:
    """Which versions answered during one phase (successful answers only)."""

    phase: Phase
    end: float | None
    answers: int
    counts: tuple[tuple[str, int], ...]
    interleaved: int
    """Answers from an earlier version after a later one had answered, before the
    phase settled: expected while both ReplicaSets serve, counted, not a defect."""
    late: tuple[LateAnswer, ...]
    """Answers from a version not allowed after the phase settled: each a defect."""
    first: str | None
    last: str | None
    lingering: int = 0
    """Answers from a superseded version after settle over a keep-alive connection opened before it,
    within the pods' declared connection lifetime (`analyse`'s `connection_lifetime`): counted, not a
    defect (the pods close such a connection at its lifetime, so a client moves off it then)."""


@dataclass(frozen=True)
class VersionSlice:
    """How many responses each version gave to requests started in [start, end)."""

    start: float
    end: float
    counts: tuple[tuple[str, int], ...]

    def count(self, version: str) -> int:
        return dict(self.counts).get(version, 0)


@dataclass(frozen=True)
class VersionSpan:
    """When a version first and last answered (request start times), and how often."""

    version: str
    first: float
    last: float
    responses: int


@dataclass(frozen=True)
class Coverage:
    """How whole the record is: the window it had to cover and what it actually holds."""

    window_start: float | None
    window_end: float | None
    first_start: float | None
    last_start: float | None
    max_gap: float
    max_gap_at: float | None
    gap_bound: float | None
    gaps: tuple[tuple[float, float], ...]
    """Gaps between consecutive request starts above the bound, as (from, to)."""
    requests: int | None
    received: int
    lost: int
    skipped: int
    stop_reason: str
    stopped_at: float | None
    clock_offset: float
    clock_error: float
    outside_window: int
    not_run: tuple[tuple[float, float, float], ...] = ()
    """Gaps between request starts above the bound in which no CPU of this machine ran for a while,
    as (from, to, seconds none ran); those whose rest is within the bound are not in `gaps`."""
    trace: str = ""
    """What told when no CPU ran (`harness.notrun`), or why nothing could; "" when not asked."""
    no_cpu_ran: tuple[tuple[float, float], ...] = ()
    """Every interval of the window in which no CPU of this machine ran, gap or not."""

    @property
    def explained(self) -> tuple[tuple[float, float, float], ...]:
        """The gaps over the bound that are none once the time no CPU ran is taken out."""
        return tuple(g for g in self.not_run if (g[0], g[1]) not in self.gaps)


@dataclass(frozen=True)
class ProbeAnalysis:
    """What one probe run says, and whether it can carry a verdict; see the module docstring."""

    kind: str
    where: str
    interval: float
    origin: float
    samples: tuple[ProbeSample, ...] = field(repr=False)
    total: int
    failed: int
    outages: tuple[Outage, ...]
    versions_seen: tuple[str, ...]
    spans: tuple[VersionSpan, ...]
    slices: tuple[VersionSlice, ...]
    phases: tuple[PhaseVersions, ...]
    unexpected_versions: tuple[str, ...]
    error_counts: tuple[tuple[str, int], ...]
    start: float | None
    end: float | None
    coverage: Coverage
    failures_asserted: bool
    problems: tuple[Problem, ...]
    attributions: tuple[Attribution, ...] = ()
    """One `harness.attribution.Attribution` per failed request, when a data-path timeline was given."""
    route: str = USUAL_ROUTE
    connection_lifetime: float | None = None
    """The pods' declared keep-alive connection lifetime the version check allowed for (seconds)."""
    unjudged_failures: tuple[ProbeSample, ...] = field(default=(), repr=False)
    """Failed requests begun outside the window: not judged, but evidence still (a source port they
    used keeps its conntrack entry, `harness.attribution.same_port_failure`)."""

    @property
    def label(self) -> str:
        """The sampler's name in reports: its kind, and its route when not the usual one."""
        return sampler_label(self.kind, self.route)

    @property
    def ok(self) -> int:
        return self.total - self.failed

    @property
    def availability(self) -> float:
        """Share of requests that succeeded; 0.0 when nothing was probed."""
        return self.ok / self.total if self.total else 0.0

    @property
    def duration(self) -> float:
        """Seconds from the first request's start to the last response's end."""
        if self.start is None or self.end is None:
            return 0.0
        return self.end - self.start

    @property
    def rate(self) -> float:
        """Requests per second over `duration`."""
        return self.total / self.duration if self.duration > 0 else 0.0

    @property
    def complete(self) -> bool:
        """The evidence covers the whole window: no coverage problem."""
        return not any(p.kind == "coverage" for p in self.problems)

    @property
    def passed(self) -> bool:
        return not self.problems

    @property
    def late_answers(self) -> tuple[LateAnswer, ...]:
        return tuple(late for phase in self.phases for late in phase.late)

    @property
    def interleaved(self) -> int:
        return sum(phase.interleaved for phase in self.phases)

    def span(self, version: str) -> VersionSpan | None:
        return next((s for s in self.spans if s.version == version), None)

    def first_seen(self, version: str) -> float | None:
        found = self.span(version)
        return found.first if found else None

    def last_seen(self, version: str) -> float | None:
        found = self.span(version)
        return found.last if found else None

    def rel(self, t: float) -> str:
        """`t` as seconds since the origin, for messages: "+8.635s"."""
        return f"{t - self.origin:+.3f}s"

    @property
    def verdict(self) -> str:
        """One sentence: the claim this run supports, or why it supports none."""
        if self.problems:
            first = self.problems[0]
            more = f" (and {len(self.problems) - 1} more problem(s))" if len(self.problems) > 1 else ""
            return f"{first.text}{more}"
        gap = f"max gap {self.coverage.max_gap * 1000:.1f} ms"
        if explained := self.coverage.explained:
            a, b, idle = max(explained, key=lambda g: g[1] - g[0])
            gap += (
                f" ({len(explained)} over the bound while no CPU of this machine ran: the largest "
                f"{(b - a) * 1000:.0f} ms, {idle * 1000:.0f} ms of it)"
            )
        if self.failures_asserted:
            return f"no request dropped: {self.total} {self.label} requests, all answered, window covered, {gap}"
        return (
            f"{self.failed} of {self.total} {self.label} requests failed (measured, not asserted); "
            f"window covered, {gap}"
        )


def gap_bound_for(interval: float) -> float:
    """The largest gap between request starts a complete record may hold at this interval."""
    return max(GAP_BOUND_INTERVALS * interval, MIN_GAP_BOUND)


def _spans(samples: Sequence[ProbeSample]) -> tuple[VersionSpan, ...]:
    spans: dict[str, VersionSpan] = {}
    for s in samples:
        if s.server is None or not s.ok:
            continue
        old = spans.get(s.server)
        first = old.first if old else s.start
        spans[s.server] = VersionSpan(s.server, first, s.start, (old.responses if old else 0) + 1)
    return tuple(spans.values())


def _slices(samples: Sequence[ProbeSample], versions: Sequence[str], width: float) -> tuple[VersionSlice, ...]:
    if not samples:
        return ()
    origin = samples[0].start
    per_slice: dict[int, Counter[str]] = {}
    for sample in samples:
        bucket = per_slice.setdefault(int((sample.start - origin) // width), Counter())
        if sample.server is not None and sample.ok:
            bucket[sample.server] += 1
    out = []
    for index in range(max(per_slice) + 1):
        bucket = per_slice.get(index, Counter())
        start = origin + index * width
        out.append(VersionSlice(start, start + width, tuple((v, bucket[v]) for v in versions if bucket[v])))
    return tuple(out)


@dataclass(frozen=True)
class _Connections:
    """When each connection of a run was opened, and which reused requests fall inside a declared
    connection lifetime: the server closes a connection with the first answer it gives once the
    lifetime has passed since it accepted it (nginx's keepalive_time), and it accepted before it gave
    the connection's first answer, so a request begun by that answer's end plus the lifetime, and the
    first one after, are within it."""

    opened: dict[tuple[int | None, int | None], float]
    within: frozenset[tuple[int | None, int | None, int | None]]

    @classmethod
    def of(cls, samples: Sequence[ProbeSample], lifetime: float | None) -> _Connections:
        opened = connections_opened(samples)
        within: set[tuple[int | None, int | None, int | None]] = set()
        if lifetime is None:
            return cls(opened, frozenset())
        by_conn: dict[tuple[int | None, int | None], list[ProbeSample]] = {}
        for s in samples:
            if s.conn is not None:
                by_conn.setdefault(s.connection, []).append(s)
        for requests in by_conn.values():
            first = next((s for s in requests if not s.reused), None)
            if first is None or not first.ok:
                continue
            key = first.connection
            bound = first.end + lifetime
            for s in requests:
                if s.reused:
                    within.add((*key, s.seq))
                    if s.start > bound:
                        break  # the answer that crossed the lifetime was the connection's last
        return cls(opened, frozenset(within))

    def opened_at(self, s: ProbeSample) -> float | None:
        return self.opened.get(s.connection) if s.reused else None

    def lingering(self, s: ProbeSample, settled_at: float) -> bool:
        """`s` went over a connection opened before `settled_at`, within the declared lifetime."""
        opened = self.opened_at(s)
        return opened is not None and opened < settled_at and (*s.connection, s.seq) in self.within


_NO_CONNECTIONS = _Connections({}, frozenset())


def _phase_versions(
    phase: Phase, end: float | None, answered: Sequence[ProbeSample], connections: _Connections = _NO_CONNECTIONS
) -> PhaseVersions:
    rank = {version: i for i, version in enumerate(phase.versions)}
    allowed = set(phase.allowed_after_settle)
    top = -1
    interleaved = 0
    lingering = 0
    late: list[LateAnswer] = []
    counts: Counter[str] = Counter()
    for s in answered:
        assert s.server is not None
        counts[s.server] += 1
        after_settle = phase.settled_at is not None and s.start >= phase.settled_at
        if after_settle:
            assert phase.settled_at is not None
            if s.server in allowed:
                pass
            elif connections.lingering(s, phase.settled_at):
                lingering += 1
            else:
                late.append(
                    LateAnswer(s.start, s.server, phase.allowed_after_settle, phase.label, connections.opened_at(s))
                )
            continue
        r = rank.get(s.server)
        if r is None:
            continue  # an unexpected version: reported on its own
        if r < top:
            if phase.settled_at is None:  # no settle instant: the switch must be monotonic
                late.append(LateAnswer(s.start, s.server, phase.versions[top:], phase.label))
            else:
                interleaved += 1
        else:
            top = r
    return PhaseVersions(
        phase=phase,
        end=end,
        answers=len(answered),
        counts=tuple((v, counts[v]) for v in dict.fromkeys(s.server for s in answered if s.server)),
        interleaved=interleaved,
        late=tuple(late),
        first=answered[0].server if answered else None,
        last=answered[-1].server if answered else None,
        lingering=lingering,
    )


def _coverage(
    run: ProbeRun,
    judged: Sequence[ProbeSample],
    window: tuple[float, float] | None,
    gap_bound: float | None,
    outside: int,
    not_run: NotRun | None = None,
) -> Coverage:
    starts = [s.start for s in judged]
    w_start, w_end = window if window is not None else (None, None)
    edges = ([w_start] if w_start is not None else []) + starts + ([w_end] if w_end is not None else [])
    max_gap, max_at = 0.0, None
    gaps: list[tuple[float, float]] = []
    idle: list[tuple[float, float, float]] = []
    for a, b in zip(edges, edges[1:]):
        if b - a > max_gap:
            max_gap, max_at = b - a, a
        if gap_bound is not None and b - a > gap_bound:
            held = not_run.within(a, b) if not_run is not None else 0.0
            if held > 0:
                idle.append((a, b, held))
            if b - a - held > gap_bound:
                gaps.append((a, b))
    return Coverage(
        window_start=w_start,
        window_end=w_end,
        first_start=starts[0] if starts else None,
        last_start=starts[-1] if starts else None,
        max_gap=max_gap,
        max_gap_at=max_at,
        gap_bound=gap_bound,
        gaps=tuple(gaps),
        requests=run.requests,
        received=len(run.samples),
        lost=run.lost,
        skipped=run.skipped,
        stop_reason=run.stop_reason,
        stopped_at=run.stopped_at,
        clock_offset=run.clock_offset,
        clock_error=run.clock_error,
        outside_window=outside,
        not_run=tuple(idle),
        trace=not_run.describe() if not_run is not None else "",
        no_cpu_ran=_clipped(not_run.intervals if not_run is not None else (), w_start, w_end),
    )


def _clipped(
    intervals: Sequence[tuple[float, float]], start: float | None, end: float | None
) -> tuple[tuple[float, float], ...]:
    lo, hi = start if start is not None else float("-inf"), end if end is not None else float("inf")
    return tuple((max(a, lo), min(b, hi)) for a, b in intervals if b > lo and a < hi)


def _held_sampler(c: Coverage, a: float, b: float, route: str) -> str:
    """Why an open-loop sampler's request starts can be `a`..`b` apart: it was not running."""
    if c.requests is None or c.skipped or c.first_start is None or c.last_start is None:
        return ""
    if not c.first_start <= a < b <= c.last_start:
        return ""
    where = (
        "a sampler pod waits for its node's CPU behind the cluster's own work"
        if route == "pod"
        else "the sampler process was held on this host"
    )
    return (
        f": the sampler was held, not the data path (its ticks start requests whatever is in flight and "
        f"none was skipped); {where}"
    )


def _coverage_problems(
    c: Coverage, rel: Callable[[float], str], max_clock_error: float | None, route: str = USUAL_ROUTE
) -> list[Problem]:
    out: list[Problem] = []

    def add(text: str, t: float | None = None) -> None:
        out.append(Problem("coverage", f"evidence incomplete: {text}", t))

    if c.received == 0:
        add("no probe sample was recorded")
        return out
    if c.window_start is None or c.window_end is None:
        add(
            "no window was given, so nothing shows the rollout was probed from before its first change "
            "to after it settled"
        )
    if c.gap_bound is None:
        add("no gap bound is known (the probe interval was not recorded)")
    idle = {(a, b): held for a, b, held in c.not_run}
    for a, b in c.gaps[:3]:
        ran = (
            f", and no CPU of this machine ran for {idle[(a, b)] * 1000:.0f} ms of it: "
            f"{(b - a - idle[(a, b)]) * 1000:.0f} ms unprobed while it ran"
            if (a, b) in idle
            else ""
        )
        add(
            f"no probe between {rel(a)} and {rel(b)} ({(b - a) * 1000:.0f} ms > bound "
            f"{(c.gap_bound or 0) * 1000:.0f} ms{ran}){_held_sampler(c, a, b, route)}",
            a,
        )
    if len(c.gaps) > 3:
        add(f"{len(c.gaps) - 3} more gap(s) above the bound")
    if c.stop_reason not in ("stopped", "unknown"):
        when = f" at {rel(c.stopped_at)}" if c.stopped_at is not None else ""
        add(
            f"the sampler ended by itself{when} ({c.stop_reason}) instead of being stopped after the window",
            c.stopped_at,
        )
    elif c.window_end is not None and c.stopped_at is not None and c.stopped_at < c.window_end:
        add(f"the sampler stopped at {rel(c.stopped_at)}, before the window ended at {rel(c.window_end)}", c.stopped_at)
    if c.stop_reason == "unknown":
        add("the sampler's run is unknown (samples only): nothing shows it ran through the window")
    if c.lost:
        add(f"{c.lost} sample(s) the sampler took never reached the harness (they may have been failures)")
    if c.requests is not None and c.requests > c.received + c.lost:
        add(f"the sampler started {c.requests} requests but {c.received} were received")
    if max_clock_error is not None and c.clock_error > max_clock_error:
        add(
            f"the sampler's clock is known only to +-{c.clock_error * 1000:.0f} ms "
            f"(bound {max_clock_error * 1000:.0f} ms)"
        )
    return out


def analyse(
    run: ProbeRun | Iterable[ProbeSample],
    *,
    phases: Sequence[Phase] = (),
    window: tuple[float, float] | None = None,
    gap_bound: float | None = None,
    origin: float | None = None,
    failures: str = "asserted",
    max_clock_error: float | None = None,
    slice_seconds: float = 1.0,
    expected_versions: Sequence[str] | None = None,
    settled_at: float | None = None,
    evidence: Sequence[str] = (),
    attribute: Callable[[Sequence[ProbeSample]], Sequence[Attribution]] | None = None,
    connection_lifetime: float | None = None,
    not_run: NotRun | None = None,
) -> ProbeAnalysis:
    """Analyse one probe run; see the module docstring.

    Only samples whose request started inside `window` (start, end) are judged;
    the others are counted in `coverage.outside_window`. `gap_bound` defaults to
    `gap_bound_for(run.interval)` when the run records its interval. `failures`
    is "asserted" (a failed request fails the verdict) or "measured" (counted
    and reported, not judged). `expected_versions`/`settled_at` are shorthand for
    one phase starting at the window (or first sample). `evidence` lists what else
    the verdict rests on that failed (a watcher that listed late): each becomes a
    coverage problem. `attribute`, if given,
    is called with the analysis' failed samples and returns their attributions.
    Times in problem texts are relative to `origin` (default: the window start,
    else the first sample). `connection_lifetime` (seconds) is how long the pods keep a
    keep-alive connection at most (nginx's keepalive_time; None: no bound declared): an answer
    from a superseded version after settle over a connection opened before it and within that
    lifetime is counted as lingering, not a defect. `not_run`, for a sampler on this machine, is
    when no CPU of it ran (`harness.notrun`): that time is taken out of a gap before it is held
    against the bound, since nothing, the data path included, ran then.
    """
    if slice_seconds <= 0:
        raise ConfigError(f"slice_seconds must be positive, got {slice_seconds}")
    if failures not in ("asserted", "measured"):
        raise ConfigError(f"failures must be 'asserted' or 'measured', got {failures!r}")
    if not isinstance(run, ProbeRun):
        run = ProbeRun.of_samples(tuple(run))
    ordered = tuple(sorted(run.samples, key=lambda s: s.start))
    if window is not None:
        judged = tuple(s for s in ordered if window[0] <= s.start <= window[1])
    else:
        judged = ordered
    if origin is None:
        origin = window[0] if window is not None else (ordered[0].start if ordered else 0.0)
    if expected_versions is not None and not phases:
        start = window[0] if window is not None else (judged[0].start if judged else 0.0)
        phases = (
            Phase(
                "rollout",
                min(start, settled_at) if settled_at is not None else start,
                settled_at,
                tuple(expected_versions),
            ),
        )
    if gap_bound is None and run.interval > 0:
        gap_bound = gap_bound_for(run.interval)

    def rel(t: float) -> str:
        return f"{t - origin:+.3f}s"

    answered = [s for s in judged if s.ok and s.server is not None]
    spans = _spans(judged)
    versions = tuple(s.version for s in spans)
    expected = tuple(dict.fromkeys(v for p in phases for v in p.versions))
    unexpected = tuple(v for v in versions if v not in expected) if phases else ()
    phase_results = []
    connections = _Connections.of(ordered, connection_lifetime)
    ordered_phases = sorted(phases, key=lambda p: p.start)
    for i, phase in enumerate(ordered_phases):
        lo = phase.start if i else float("-inf")
        hi = ordered_phases[i + 1].start if i + 1 < len(ordered_phases) else None
        mine = [s for s in answered if s.start >= lo and (hi is None or s.start < hi)]
        phase_results.append(_phase_versions(phase, hi, mine, connections))

    errors = Counter(error_class(s) for s in judged if not s.ok)
    failed = sum(errors.values())
    outages = tuple(find_outages(judged))
    coverage = _coverage(run, judged, window, gap_bound, len(ordered) - len(judged), not_run)
    problems = _coverage_problems(coverage, rel, max_clock_error, run.route)
    problems += [Problem("coverage", f"evidence incomplete: {text}") for text in evidence]
    if failures == "asserted" and failed:
        first = outages[0]
        problems.append(
            Problem(
                "failures",
                f"{failed} of {len(judged)} {run.label} requests failed in {len(outages)} outage(s), "
                f"first at {rel(first.start)} ({', '.join(first.errors)})",
                first.start,
            )
        )
    problems += _version_problems(phase_results, unexpected, spans, rel, every_version=run.kind != KEEP_ALIVE)
    analysis = ProbeAnalysis(
        kind=run.kind,
        where=run.where,
        interval=run.interval,
        origin=origin,
        samples=judged,
        unjudged_failures=tuple(
            s for s in ordered if not s.ok and window is not None and not window[0] <= s.start <= window[1]
        ),
        total=len(judged),
        failed=failed,
        outages=outages,
        versions_seen=versions,
        spans=spans,
        slices=_slices(judged, versions, slice_seconds),
        phases=tuple(phase_results),
        unexpected_versions=unexpected,
        error_counts=tuple(sorted((str(k), n) for k, n in errors.items())),
        start=judged[0].start if judged else None,
        end=max((s.end for s in judged), default=None),
        coverage=coverage,
        failures_asserted=failures == "asserted",
        problems=tuple(problems),
        route=run.route,
        connection_lifetime=connection_lifetime,
    )
    if attribute is not None and failed:
        failed_samples = [s for s in judged if not s.ok]
        analysis = replace(analysis, attributions=tuple(attribute(failed_samples)))
    return analysis


def _version_problems(
    phases: Sequence[PhaseVersions],
    unexpected: Sequence[str],
    spans: Sequence[VersionSpan],
    rel: Callable[[float], str],
    *,
    every_version: bool = True,
) -> list[Problem]:
    """Unexpected versions, a phase without answers, a first answer from the wrong version, answers after
    settle from a superseded one; and, with `every_version` (new connections, balanced per request), a
    phase's first or last version that never answered. A keep-alive client stays on the pod of its
    connection until it rotates (about once a second against hardened pods), so a short phase can pass
    without its connection ever reaching the other version: that is not asked of it."""
    out: list[Problem] = []
    by_version = {s.version: s for s in spans}
    for version in unexpected:
        span = by_version[version]
        out.append(
            Problem(
                "versions",
                f"unexpected server {version!r} answered {span.responses} time(s), first at {rel(span.first)}",
                span.first,
            )
        )
    for index, pv in enumerate(phases):
        p = pv.phase
        seen = dict(pv.counts)
        where = f"phase {p.label!r}"
        if not pv.answers:
            out.append(Problem("versions", f"{where}: no successful answer at all", p.start))
            continue
        for version in dict.fromkeys((p.versions[0], p.versions[-1]) if every_version else ()):
            if version not in seen:
                out.append(Problem("versions", f"{where}: {version!r} never answered (seen: {list(seen)})", p.start))
        # the state before the first phase is one version; later phases start where the last one settled
        if index == 0 and pv.first not in (p.versions[0], None) and pv.first in p.versions:
            out.append(
                Problem("versions", f"{where}: the first answer came from {pv.first!r}, not {p.versions[0]!r}", p.start)
            )
        if pv.late:
            late = pv.late[0]
            settled = f"settled at {rel(p.settled_at)}" if p.settled_at is not None else "no settle instant"
            over = f" (over a connection opened at {rel(late.opened)})" if late.opened is not None else ""
            out.append(
                Problem(
                    "versions",
                    f"{where}: {len(pv.late)} answer(s) from a superseded version ({settled}): first at "
                    f"{rel(late.t)} {late.version!r}{over} where only {list(late.expected)} may answer",
                    late.t,
                )
            )
    return out


def held_together(analyses: Sequence[ProbeAnalysis]) -> list[ProbeAnalysis]:
    """Say so when the other host samplers were held during a gap too: each is a separate
    process scheduled ahead of the cluster (real-time, or SCHED_DEADLINE on request), so holes they share
    mean something held both: work on this machine ahead of them (kernel code that does not
    yield, the kernel's fair server ahead of real-time samplers, the samplers of a second run;
    README finding 14), or the virtual machine not being run (finding 25, told apart by
    `steal.explain_stolen`). The gap stays a problem: the verdict is still refused, with its cause."""
    hosts = [a for a in analyses if a.route != "pod"]
    out = []
    for a in analyses:
        if a.route == "pod" or len(hosts) < 2:
            out.append(a)
            continue
        problems = []
        for p in a.problems:
            gap = next(((x, y) for x, y in a.coverage.gaps if p.t == x and HOST_HELD in p.text), None)
            shared = [(b, held) for b in hosts if b is not a and gap and (held := _held_within(b, *gap))]
            if shared:
                names = ", ".join(f"the {b.label} sampler from {a.rel(x)} to {a.rel(y)}" for b, (x, y) in shared)
                p = replace(
                    p,
                    text=p.text.replace(
                        HOST_HELD,
                        f"{HOST_HELD}, and so was {names} (a process of its own): something held both (work on "
                        "this machine ahead of them, README finding 14, or its host not running it, finding 25)",
                    ),
                )
            problems.append(p)
        out.append(replace(a, problems=tuple(problems)))
    return out


def _held_within(b: ProbeAnalysis, start: float, end: float) -> tuple[float, float] | None:
    """`b`'s longest hole between request starts that overlaps (start, end) by at least 10 of its
    intervals (20 ms at least), or None: was `b` held at the same time?"""
    need = max(10 * b.interval, 0.02)
    starts = [s.start for s in b.samples]
    i = max(bisect.bisect_right(starts, start) - 1, 0)
    best = None
    while i + 1 < len(starts) and starts[i] < end:
        x, y = starts[i], starts[i + 1]
        overlap = min(y, end) - max(x, start)
        if overlap >= need and (best is None or y - x > best[1] - best[0]):
            best = (x, y)
        i += 1
    return best
