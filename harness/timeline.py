"""Pure analysis of one rollout's timeline: probe outages, versions, flip-backs, replica totals.

Everything here reads records taken on the harness clock (`samples.clock`) and
returns dataclasses; nothing waits, talks to a cluster or imports pytest.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .errors import ConfigError
from .samples import ProbeSample
from .steps import ReplicaPoint, ScaleStep

__all__ = [
    "WINDOW_SECONDS",
    "Outage",
    "VersionSlice",
    "VersionSpan",
    "FlipBack",
    "ProbeAnalysis",
    "ReplicaInstant",
    "error_class",
    "find_outages",
    "analyse",
    "replica_instants",
    "window",
    "render_window",
    "render_replicas",
]

WINDOW_SECONDS = 1.0
"""Default context, each side of a point of interest, quoted in assertion messages."""

_MAX_LINES = 24


@dataclass(frozen=True)
class Outage:
    """A maximal run of consecutive failed samples (in order of start)."""

    start: float
    end: float
    failed: int
    errors: tuple[str, ...]

    @property
    def duration(self) -> float:
        return self.end - self.start


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
class FlipBack:
    """At `t` an earlier version (`to_version`) answered after `from_version` had."""

    t: float
    from_version: str
    to_version: str


@dataclass(frozen=True)
class ProbeAnalysis:
    """What a list of probe samples says; `samples` is kept (sorted) for quoting."""

    samples: tuple[ProbeSample, ...] = field(repr=False)
    total: int
    failed: int
    outages: tuple[Outage, ...]
    versions_seen: tuple[str, ...]
    slices: tuple[VersionSlice, ...]
    spans: tuple[VersionSpan, ...]
    flip_backs: tuple[FlipBack, ...]
    unexpected_versions: tuple[str, ...]
    error_counts: tuple[tuple[str, int], ...]
    start: float | None
    end: float | None

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

    def span(self, version: str) -> VersionSpan | None:
        return next((s for s in self.spans if s.version == version), None)

    def first_seen(self, version: str) -> float | None:
        found = self.span(version)
        return found.first if found else None

    def last_seen(self, version: str) -> float | None:
        found = self.span(version)
        return found.last if found else None


@dataclass(frozen=True)
class ReplicaInstant:
    """Replica totals across all owners right after the records taken at `t`."""

    t: float
    replicas: int
    available: int
    owners: tuple[tuple[str, int], ...]
    action: str | None = None


def error_class(sample: ProbeSample) -> str | None:
    """The failure class of a sample, None when it succeeded."""
    if sample.ok:
        return None
    if sample.error:
        return sample.error
    return f"http-{sample.status}" if sample.status is not None else "no-response"


def find_outages(samples: Sequence[ProbeSample]) -> list[Outage]:
    """Maximal runs of consecutive failed samples; `samples` sorted by start."""
    outages: list[Outage] = []
    run: list[ProbeSample] = []
    for sample in [*samples, None]:
        if sample is not None and not sample.ok:
            run.append(sample)
            continue
        if run:
            errors = tuple(sorted({error_class(s) or "" for s in run}))
            outages.append(Outage(run[0].start, max(s.end for s in run), len(run), errors))
            run = []
    return outages


def _flip_backs(samples: Sequence[ProbeSample], order: Sequence[str],
                settled_at: float | None = None) -> list[FlipBack]:
    rank = {version: i for i, version in enumerate(order)}
    flips: list[FlipBack] = []
    top = -1
    for sample in samples:
        r = rank.get(sample.server) if sample.server is not None else None
        if r is None:
            continue
        if r < top and (settled_at is None or sample.start >= settled_at):
            flips.append(FlipBack(sample.start, order[top], sample.server))
        else:
            top = r
    return flips


def _slices(samples: Sequence[ProbeSample], versions: Sequence[str], width: float) -> list[VersionSlice]:
    if not samples:
        return []
    origin = samples[0].start
    per_slice: dict[int, Counter[str]] = {}
    for sample in samples:
        index = int((sample.start - origin) // width)
        bucket = per_slice.setdefault(index, Counter())
        if sample.server is not None:
            bucket[sample.server] += 1
    slices = []
    for index in range(max(per_slice) + 1):
        bucket = per_slice.get(index, Counter())
        counts = tuple((v, bucket[v]) for v in versions if bucket[v])
        start = origin + index * width
        slices.append(VersionSlice(start, start + width, counts))
    return slices


def analyse(
    samples: Iterable[ProbeSample],
    *,
    slice_seconds: float = 1.0,
    expected_versions: Sequence[str] | None = None,
    settled_at: float | None = None,
) -> ProbeAnalysis:
    """Outages, versions, flip-backs and counts of one probe run.

    Versions are `Server` headers. Flip-backs follow the order of
    `expected_versions` when given, else the order of first appearance.
    During a rolling update old and new pods legitimately answer side by side:
    with `settled_at` (the instant from which only the newest version may
    answer, e.g. rollout complete plus endpoint propagation) only responses from
    then on count as flip-backs.
    """
    if slice_seconds <= 0:
        raise ConfigError(f"slice_seconds must be positive, got {slice_seconds}")
    ordered = tuple(sorted(samples, key=lambda s: s.start))
    spans: dict[str, VersionSpan] = {}
    for s in ordered:
        if s.server is None:
            continue
        old = spans.get(s.server)
        first = old.first if old else s.start
        spans[s.server] = VersionSpan(s.server, first, s.start, (old.responses if old else 0) + 1)
    versions = tuple(spans)
    order = tuple(expected_versions) if expected_versions is not None else versions
    unexpected = () if expected_versions is None else tuple(v for v in versions if v not in order)
    errors = Counter(error_class(s) for s in ordered if not s.ok)
    return ProbeAnalysis(
        samples=ordered,
        total=len(ordered),
        failed=sum(errors.values()),
        outages=tuple(find_outages(ordered)),
        versions_seen=versions,
        slices=tuple(_slices(ordered, versions, slice_seconds)),
        spans=tuple(spans.values()),
        flip_backs=tuple(_flip_backs(ordered, order, settled_at)),
        unexpected_versions=unexpected,
        error_counts=tuple(sorted((str(k), n) for k, n in errors.items())),
        start=ordered[0].start if ordered else None,
        end=max(s.end for s in ordered) if ordered else None,
    )


def replica_instants(records: Sequence[ReplicaPoint] | Sequence[ScaleStep]) -> list[ReplicaInstant]:
    """Totals at every recorded instant, sorted by time.

    ReplicaPoints: the last value of each owner is carried forward until that
    owner reports again (a deleted owner must be recorded once at zero).
    ScaleSteps: each step gives old + new replicas; available is the old
    controller's replicas plus the new one's available pods.
    """
    if all(isinstance(r, ScaleStep) for r in records):
        return [_step_instant(s) for s in sorted(records, key=lambda s: s.t)]
    if not all(isinstance(r, ReplicaPoint) for r in records):
        raise ConfigError("replica records must be all ReplicaPoint or all ScaleStep")
    latest: dict[str, ReplicaPoint] = {}
    instants: list[ReplicaInstant] = []
    points = sorted(records, key=lambda p: p.t)
    for i, point in enumerate(points):
        latest[point.owner] = point
        if i + 1 < len(points) and points[i + 1].t == point.t:
            continue  # fold records taken at the same instant into one
        instants.append(
            ReplicaInstant(
                t=point.t,
                replicas=sum(p.replicas for p in latest.values()),
                available=sum(p.available for p in latest.values()),
                owners=tuple((o, p.replicas) for o, p in latest.items()),
            )
        )
    return instants


def _step_instant(step: ScaleStep) -> ReplicaInstant:
    if step.old == step.new:
        owners: tuple[tuple[str, int], ...] = ((step.new, step.new_replicas),)
    else:
        owners = ((step.old, step.old_replicas), (step.new, step.new_replicas))
    total = sum(n for _, n in owners)
    # The old controller's pods are taken as available (the updater scales it down only
    # to what the new one makes up); `available` counts the new controller's pods.
    available = step.available if step.old == step.new else step.old_replicas + step.available
    return ReplicaInstant(step.t, total, available, owners, step.action)


def window(samples: Sequence[ProbeSample], t: float, before: float, after: float) -> list[ProbeSample]:
    """Samples whose request started within [t - before, t + after]."""
    return [s for s in samples if t - before <= s.start <= t + after]


def _sample_key(sample: ProbeSample) -> tuple[object, ...]:
    return (sample.status, error_class(sample), sample.server, sample.marker)


def _run_line(run: list[ProbeSample], t0: float) -> str:
    first, last = run[0], run[-1]
    when = f"{first.start - t0:+.3f}"
    if len(run) > 1:
        when += f" .. {last.start - t0:+.3f}"
    status = "-" if first.status is None else str(first.status)
    server = first.server or "-"
    if first.marker and first.marker != first.server:
        server += f" ({first.marker})"
    return f"{when:<19} {len(run):>4}x  {status:<6} {error_class(first) or 'ok':<16} {server}"


def _step_line(step: ScaleStep, t0: float) -> str:
    return (
        f"{step.t - t0:+.3f}  ~ {step.action}: {step.old}={step.old_replicas} "
        f"{step.new}={step.new_replicas} available={step.available}"
    )


def _trim(lines: list[str], focus: int, max_lines: int) -> list[str]:
    if len(lines) <= max_lines:
        return lines
    lo = max(0, min(focus - max_lines // 2, len(lines) - max_lines))
    hi = lo + max_lines
    head = [f"  ... {lo} earlier line(s)"] if lo else []
    tail = [f"  ... {len(lines) - hi} later line(s)"] if hi < len(lines) else []
    return head + lines[lo:hi] + tail


def render_window(
    samples: Sequence[ProbeSample],
    t: float,
    before: float = WINDOW_SECONDS,
    after: float = WINDOW_SECONDS,
    *,
    t0: float | None = None,
    steps: Sequence[ScaleStep] = (),
    max_lines: int = _MAX_LINES,
) -> str:
    """A short excerpt of the timeline around `t`, for assertion messages.

    Consecutive samples with the same outcome are folded into one line; rollout
    steps inside the window are interleaved; the line holding the sample
    nearest to `t` is marked with `>`. Times are seconds relative to `t0`
    (default: `t` itself).
    """
    origin = t if t0 is None else t0
    picked = window(samples, t, before, after)
    if not picked:
        return f"(no probe samples between {t - before - origin:+.3f}s and {t + after - origin:+.3f}s)"
    nearest = min(picked, key=lambda s: abs(s.start - t))
    pending = sorted((s for s in steps if t - before <= s.t <= t + after), key=lambda s: s.t)
    lines: list[str] = []
    focus = 0
    run: list[ProbeSample] = []

    def flush() -> None:
        nonlocal focus
        if run:
            if any(s is nearest for s in run):
                focus = len(lines)
            lines.append(_run_line(run, origin))
            run.clear()

    for sample in picked:
        while pending and pending[0].t <= sample.start:
            flush()
            lines.append(_step_line(pending.pop(0), origin))
        if run and _sample_key(run[-1]) != _sample_key(sample):
            flush()
        run.append(sample)
    flush()
    lines.extend(_step_line(s, origin) for s in pending)
    marked = [("> " if i == focus else "  ") + line for i, line in enumerate(lines)]
    header = f"  {'t (s)':<19} {'n':>4}   {'status':<6} {'error':<16} server"
    return "\n".join([header, *_trim(marked, focus, max_lines)])


def render_replicas(
    instants: Sequence[ReplicaInstant],
    t: float,
    before: float = WINDOW_SECONDS,
    after: float = WINDOW_SECONDS,
    *,
    t0: float | None = None,
    max_lines: int = _MAX_LINES,
) -> str:
    """Replica totals around `t`, one line per instant, the instant at `t` marked."""
    origin = t if t0 is None else t0
    picked = [i for i in instants if t - before <= i.t <= t + after]
    if not picked:
        return f"(no replica records between {t - before - origin:+.3f}s and {t + after - origin:+.3f}s)"
    focus = min(range(len(picked)), key=lambda k: abs(picked[k].t - t))
    lines = []
    for k, inst in enumerate(picked):
        owners = " ".join(f"{o}={n}" for o, n in inst.owners)
        action = f"  ({inst.action})" if inst.action else ""
        mark = "> " if k == focus else "  "
        lines.append(
            f"{mark}{inst.t - origin:+.3f}  total={inst.replicas} available={inst.available}  {owners}{action}"
        )
    return "\n".join(_trim(lines, focus, max_lines))
