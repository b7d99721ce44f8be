"""Assertions for rollout tests that fail with the timeline around the failure quoted.

Each helper raises a plain `AssertionError` (the library never imports pytest)
and returns what it computed, so a test can go on checking it.
"""

from __future__ import annotations

from collections.abc import Sequence

from .samples import ProbeSample
from .steps import ReplicaPoint, ScaleStep
from .timeline import (
    WINDOW_SECONDS,
    ProbeAnalysis,
    ReplicaInstant,
    analyse,
    render_replicas,
    render_window,
    replica_instants,
)

__all__ = ["assert_no_failures", "assert_version_order", "assert_replica_bounds"]

_LISTED = 5  # outages or violations listed one by one before "... and N more"


def _samples_of(analysis_or_samples: ProbeAnalysis | Sequence[ProbeSample]) -> Sequence[ProbeSample]:
    if isinstance(analysis_or_samples, ProbeAnalysis):
        return analysis_or_samples.samples
    return analysis_or_samples


def _more(count: int) -> list[str]:
    return [f"  ... and {count - _LISTED} more"] if count > _LISTED else []


def assert_no_failures(
    analysis_or_samples: ProbeAnalysis | Sequence[ProbeSample],
    budget: int = 0,
    *,
    steps: Sequence[ScaleStep] = (),
    context: float = WINDOW_SECONDS,
) -> ProbeAnalysis:
    """At most `budget` probe requests failed; an empty probe fails too.

    The message lists the outages and quotes the timeline (with any rollout
    `steps`) around the first one; t=0 is the first probe request.
    """
    if isinstance(analysis_or_samples, ProbeAnalysis):
        a = analysis_or_samples
    else:
        a = analyse(analysis_or_samples)
    if a.total == 0 or a.start is None:
        raise AssertionError("no probe samples were recorded, so nothing shows that no request was dropped")
    if a.failed <= budget:
        return a
    t0 = a.start
    lines = [
        f"{a.failed} of {a.total} probe requests failed (budget {budget}), "
        f"availability {a.availability:.3%}, {len(a.outages)} outage(s):"
    ]
    for o in a.outages[:_LISTED]:
        lines.append(
            f"  {o.start - t0:+.3f}s .. {o.end - t0:+.3f}s ({o.duration:.3f}s): "
            f"{o.failed} failed, {', '.join(o.errors)}"
        )
    lines += _more(len(a.outages))
    first = a.outages[0]
    lines.append("timeline around the first outage (t=0 at the first probe request):")
    lines.append(render_window(a.samples, first.start, context, first.duration + context, t0=t0, steps=steps))
    raise AssertionError("\n".join(lines))


def assert_version_order(
    samples: ProbeAnalysis | Sequence[ProbeSample],
    old: str,
    new: str,
    *,
    steps: Sequence[ScaleStep] = (),
    context: float = WINDOW_SECONDS,
    settled_at: float | None = None,
) -> ProbeAnalysis:
    """`old` answered first and `new` last, both seen, no other server, no flip-back.

    Without `settled_at` the switch must be atomic (no `old` after any `new`).
    With it, old and new may interleave while the rollout runs, but from
    `settled_at` on only `new` may answer. Versions are `Server` headers;
    requests that got no answer are ignored here (see `assert_no_failures`).
    """
    a = analyse(_samples_of(samples), expected_versions=(old, new), settled_at=settled_at)
    if a.start is None:
        raise AssertionError(f"no probe samples were recorded, so neither {old!r} nor {new!r} was seen")
    problems: list[tuple[str, float]] = []
    for span in a.spans:
        if span.version in a.unexpected_versions:
            problems.append(
                (f"unexpected server {span.version!r} answered {span.responses} time(s), first at "
                 f"{span.first - a.start:+.3f}s (expected only {old!r} then {new!r})", span.first)
            )
    if a.span(old) is None:
        problems.append((f"old version {old!r} never answered (seen: {list(a.versions_seen)})", a.start))
    if a.span(new) is None:
        last = a.samples[-1].start
        problems.append((f"new version {new!r} never answered (seen: {list(a.versions_seen)})", last))
    answered = [x for x in a.samples if x.server in (old, new)]
    if answered and answered[0].server != old:
        problems.append((f"the first answer came from {answered[0].server!r}, not the old version {old!r}",
                         answered[0].start))
    if answered and answered[-1].server != new:
        problems.append((f"the last answer came from {answered[-1].server!r}, not the new version {new!r}",
                         answered[-1].start))
    if a.flip_backs:
        f = a.flip_backs[0]
        since = {span.version: span.first for span in a.spans}[f.from_version]
        problems.append(
            (f"{len(a.flip_backs)} flip-back(s): first at {f.t - a.start:+.3f}s {f.to_version!r} answered "
             f"after {f.from_version!r} had answered since {since - a.start:+.3f}s", f.t)
        )
    if not problems:
        return a
    focus = problems[0][1]
    lines = [f"version order {old!r} -> {new!r} broken:"]
    lines += [f"  {text}" for text, _ in problems]
    lines.append("timeline around the first problem (t=0 at the first probe request):")
    lines.append(render_window(a.samples, focus, context, context, t0=a.start, steps=steps))
    raise AssertionError("\n".join(lines))


def assert_replica_bounds(
    points_or_steps: Sequence[ReplicaPoint] | Sequence[ScaleStep],
    desired: int,
    max_surge: int,
    max_unavailable: int,
    *,
    context: float = WINDOW_SECONDS,
) -> list[ReplicaInstant]:
    """At every recorded instant, total replicas <= desired + max_surge and
    available >= desired - max_unavailable (absolute numbers, not percentages).

    Feed only records taken during the rollout: a Deployment still scaling up
    from zero is legitimately below the floor.
    """
    instants = replica_instants(points_or_steps)
    if not instants:
        raise AssertionError("no replica records, so the surge and unavailable bounds cannot be checked")
    ceiling = desired + max_surge
    floor = desired - max_unavailable
    over = [i for i in instants if i.replicas > ceiling]
    under = [i for i in instants if i.available < floor]
    if not over and not under:
        return instants
    t0 = instants[0].t
    lines = [f"replica bounds broken (desired={desired}, maxSurge={max_surge}, maxUnavailable={max_unavailable}):"]
    if over:
        lines.append(f"  replicas above {ceiling} at {len(over)} instant(s):")
        lines += [f"    {i.t - t0:+.3f}s total={i.replicas}" for i in over[:_LISTED]] + _more(len(over))
    if under:
        lines.append(f"  available below {floor} at {len(under)} instant(s):")
        lines += [f"    {i.t - t0:+.3f}s available={i.available}" for i in under[:_LISTED]] + _more(len(under))
    first = min([*over[:1], *under[:1]], key=lambda i: i.t)
    lines.append("replicas around the first violation (t=0 at the first record):")
    lines.append(render_replicas(instants, first.t, context, context, t0=t0))
    raise AssertionError("\n".join(lines))
