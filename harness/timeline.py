"""Pure helpers over records on the harness clock: outages, replica totals, and the
short timeline excerpts quoted in assertion messages. The verdict itself is
`harness.analysis`; nothing here waits, talks to a cluster or imports pytest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .errors import ConfigError
from .samples import ProbeSample
from .rolloutsteps import ReplicaPoint, ScaleStep

__all__ = [
    "WINDOW_SECONDS",
    "Outage",
    "ReplicaInstant",
    "error_class",
    "find_outages",
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
