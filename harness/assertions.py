"""Assertions that raise what the analysis says, with the timeline around the first problem quoted.

The verdict is computed once, by `harness.analysis.analyse`; these helpers only
turn its problems into an `AssertionError` (the library never imports pytest),
so the report and the assertion can never disagree.
"""

from __future__ import annotations

from collections.abc import Sequence

from .analysis import ProbeAnalysis
from .datapath import PodTransition
from .rolloutsteps import ReplicaPoint, ScaleStep
from .timeline import WINDOW_SECONDS, ReplicaInstant, render_replicas, render_window, replica_instants

__all__ = ["assert_verdict", "assert_verdicts", "verdict_message", "assert_replica_bounds", "pod_availability"]

_LISTED = 5  # problems, failures or violations listed one by one before "... and N more"


def _more(count: int) -> list[str]:
    return [f"  ... and {count - _LISTED} more"] if count > _LISTED else []


def verdict_message(a: ProbeAnalysis, *, steps: Sequence[ScaleStep] = (), context: float = WINDOW_SECONDS) -> str:
    """The failure message of a verdict that did not pass: every problem, each failed
    request's cause, and the timeline around the first problem (t=0 at the origin)."""
    lines = [f"{a.label} sampler ({a.where}): {len(a.problems)} problem(s)"]
    lines += [f"  {p.text}" for p in a.problems[:_LISTED]] + _more(len(a.problems))
    if a.attributions:
        lines.append("failed requests and their causes:")
        for attribution in a.attributions[:_LISTED]:
            lines.append(f"  [{attribution.cause}] {attribution.text}")
            lines += [f"      {n}" for n in attribution.nearest]
        lines += _more(len(a.attributions))
    focus = next((p.t for p in a.problems if p.t is not None), None)
    if focus is not None:
        lines.append("timeline around the first problem (t=0 at the scenario start):")
        lines.append(render_window(a.samples, focus, context, context, t0=a.origin, steps=steps))
    return "\n".join(lines)


def assert_verdict(
    a: ProbeAnalysis, *, steps: Sequence[ScaleStep] = (), context: float = WINDOW_SECONDS
) -> ProbeAnalysis:
    """The verdict passed: complete evidence, no failed request (when asserted), versions in order."""
    if not a.passed:
        raise AssertionError(verdict_message(a, steps=steps, context=context))
    return a


def assert_verdicts(analyses: Sequence[ProbeAnalysis], *, steps: Sequence[ScaleStep] = ()) -> None:
    """Every sampler's verdict passed; the message covers every one that did not."""
    if not analyses:
        raise AssertionError("no sampler ran, so nothing shows that no request was dropped")
    failed = [a for a in analyses if not a.passed]
    if failed:
        raise AssertionError("\n\n".join(verdict_message(a, steps=steps) for a in failed))


def pod_availability(pods: Sequence[PodTransition], since: float | None = None) -> list[tuple[float, int]]:
    """(t, pods Ready and not terminating) after each pod transition, from `since`'s state on."""
    ready: dict[str, bool] = {}
    out: list[tuple[float, int]] = []
    for p in sorted(pods, key=lambda p: p.t):
        if p.what == "ready":
            ready[p.pod] = True
        elif p.what in ("not-ready", "terminating", "exited", "deleted"):
            ready[p.pod] = False
        elif p.what in ("created", "listed"):
            ready.setdefault(p.pod, False)
        out.append((p.t, sum(ready.values())))
    folded = [x for i, x in enumerate(out) if i + 1 == len(out) or out[i + 1][0] != x[0]]
    if since is None:
        return folded
    before = [x for x in folded if x[0] < since]
    return before[-1:] + [x for x in folded if x[0] >= since]


def _left_ready(pods: Sequence[PodTransition] | None, t: float) -> str:
    """Which pods stopped counting at `t`, and how: a pod that went not-ready without terminating
    failed its readiness probe (the kubelet's event says why); one that began terminating was
    taken down by its owner."""
    if pods is None:
        return ""
    terminating = {p.pod for p in pods if p.what == "terminating" and p.t <= t}
    left = [p for p in pods if p.t == t and p.what in ("not-ready", "terminating", "exited", "deleted")]
    if not left:
        return ""
    said = []
    for p in left:
        if p.what == "not-ready" and p.pod not in terminating:
            said.append(f"{p.pod} not-ready while not terminating: its readiness probe failed")
        else:
            said.append(f"{p.pod} {p.what}")
    return f" ({'; '.join(said)})"


def assert_replica_bounds(
    points_or_steps: Sequence[ReplicaPoint] | Sequence[ScaleStep],
    desired: int,
    max_surge: int,
    max_unavailable: int,
    *,
    since: float | None = None,
    context: float = WINDOW_SECONDS,
    pods: Sequence[PodTransition] | None = None,
) -> list[ReplicaInstant]:
    """At every recorded instant, total replicas <= desired + max_surge and
    available >= desired - max_unavailable (absolute numbers, not percentages).

    `since` (the rollout's start) checks the state in force at that instant and
    every one after, built from all the records: a ReplicaSet last recorded
    before `since` still counts (leaving its record out would make it vanish).
    A Deployment still scaling up from zero is legitimately below the floor.

    With `pods` (the pod watcher's transitions), availability is judged on the
    pods themselves: Ready and not terminating, at every pod transition. The
    owners' `availableReplicas` are summaries each controller writes on its own
    schedule, so their sum can dip while every pod serves (measured: 3 for 0.86 s
    while four pods were Ready); such dips are named in the message of a real
    violation, never one on their own.
    """
    instants = replica_instants(points_or_steps)
    if since is not None:
        before = [i for i in instants if i.t < since]
        instants = before[-1:] + [i for i in instants if i.t >= since]
    if not instants:
        raise AssertionError("no replica records, so the surge and unavailable bounds cannot be checked")
    ceiling = desired + max_surge
    floor = desired - max_unavailable
    over = [i for i in instants if i.replicas > ceiling]
    if pods is not None:
        served = pod_availability(pods, since=instants[0].t)
        if not served:
            raise AssertionError("no pod records, so the unavailable bound cannot be checked on the pods")
        under = [ReplicaInstant(t, 0, n, ()) for t, n in served if n < floor]
    else:
        under = [i for i in instants if i.available < floor]
    if not over and not under:
        return instants
    t0 = instants[0].t
    lines = [f"replica bounds broken (desired={desired}, maxSurge={max_surge}, maxUnavailable={max_unavailable}):"]
    if over:
        lines.append(f"  replicas above {ceiling} at {len(over)} instant(s):")
        lines += [f"    {i.t - t0:+.3f}s total={i.replicas}" for i in over[:_LISTED]] + _more(len(over))
    if under:
        what = "pods Ready and not terminating" if pods is not None else "available"
        lines.append(f"  {what} below {floor} at {len(under)} instant(s):")
        lines += [
            f"    {i.t - t0:+.3f}s available={i.available}{_left_ready(pods, i.t)}" for i in under[:_LISTED]
        ] + _more(len(under))
        if pods is not None:
            lagged = [i for i in instants if i.available < floor]
            if lagged:
                lines.append(
                    f"  (the owners' availableReplicas summed below {floor} at "
                    f"{', '.join(f'{i.t - t0:+.3f}s' for i in lagged[:_LISTED])})"
                )
    first = min([*over[:1], *under[:1]], key=lambda i: i.t)
    lines.append("replicas around the first violation (t=0 at the first record):")
    lines.append(render_replicas(instants, first.t, context, context, t0=t0))
    raise AssertionError("\n".join(lines))
