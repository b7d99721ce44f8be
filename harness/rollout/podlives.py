"""A pod watcher's events read back: each pod's life, the order pods reached a revision,
per-owner `ReplicaPoint`s, and the hand-overs between old and new pods.

A StatefulSet or DaemonSet has no ReplicaSets to watch, so the replica bounds
(`harness.assertions.assert_replica_bounds`) and the timeline are fed by
`revision_points` (per revision) or `label_points` (per label value, e.g. an RC's
`ver`), derived from the pods themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from harness.rollout.pods import PodEvent, PodState, pod_ordinal
from harness.rolloutsteps import ReplicaPoint

__all__ = [
    "PodLife",
    "pod_lives",
    "update_order",
    "owner_points",
    "revision_points",
    "label_points",
    "Handoff",
    "ordinal_handoffs",
    "node_handoffs",
]


@dataclass(frozen=True)
class PodLife:
    """One pod (by uid) from the watcher's records: when it appeared, became ready,
    started terminating and was gone (None: not seen happen)."""

    name: str
    uid: str
    revision: str | None
    image: str | None
    node: str | None
    first_seen: float
    ready_at: float | None
    terminating_at: float | None
    gone_at: float | None

    @property
    def ordinal(self) -> int | None:
        return pod_ordinal(self.name)


def pod_lives(events: Iterable[PodEvent]) -> list[PodLife]:
    """Every pod's life from a watcher's events, in order of first appearance."""
    lives: dict[str, dict[str, Any]] = {}
    for e in sorted(events, key=lambda e: e.t):
        p = e.pod
        life = lives.setdefault(
            p.uid,
            dict(
                name=p.name,
                uid=p.uid,
                revision=p.revision,
                image=p.image,
                node=p.node,
                first_seen=e.t,
                ready_at=None,
                terminating_at=None,
                gone_at=None,
            ),
        )
        life["node"] = life["node"] or p.node
        if p.ready and not p.terminating and life["ready_at"] is None:
            life["ready_at"] = e.t
        if (p.terminating or e.kind == "deleted") and life["terminating_at"] is None:
            life["terminating_at"] = e.t
        if e.kind == "deleted" and life["gone_at"] is None:
            life["gone_at"] = e.t
    return sorted((PodLife(**life) for life in lives.values()), key=lambda life: life.first_seen)


def _within(t: float | None, since: float, until: float | None) -> bool:
    return t is not None and t >= since and (until is None or t < until)


def update_order(events: Iterable[PodEvent], revision: str, since: float, until: float | None = None) -> list[str]:
    """Names of the pods created at `revision` in [since, until), in the order they appeared."""
    return [
        life.name for life in pod_lives(events) if life.revision == revision and _within(life.first_seen, since, until)
    ]


def _owner(name: str, revision: str | None) -> str:
    if revision is None:
        return f"{name}-unlabelled"
    return revision if revision.startswith(f"{name}-") else f"{name}-{revision}"


def owner_points(events: Iterable[PodEvent], owner_of: Callable[[PodState], str]) -> list[ReplicaPoint]:
    """One `ReplicaPoint` per owner (`owner_of(pod)`) whenever its pod counts change.

    `replicas` counts the owner's pods that are not terminating, as the controllers
    count them: a pod whose deletion has begun no longer holds a replica's place
    (ReplicaSets and ReplicationControllers count active pods only, and the DaemonSet
    controller's surge accounting skips pods with a deletionTimestamp), so maxSurge
    bounds the pods that are not terminating. `ready` counts ready pods, and
    `available` ready pods that are not terminating (what a Service routes to).
    An owner whose last pod is gone is recorded once at zero."""
    live: dict[str, PodState] = {}
    last: dict[str, tuple[int, int, int]] = {}
    points: list[ReplicaPoint] = []
    ordered = sorted(events, key=lambda e: e.t)
    for i, e in enumerate(ordered):
        if e.kind == "deleted":
            live.pop(e.pod.uid, None)
        else:
            live[e.pod.uid] = e.pod
        if i + 1 < len(ordered) and ordered[i + 1].t == e.t:
            continue  # a list: one point per owner for the whole list
        totals: dict[str, list[int]] = {owner: [0, 0, 0] for owner in last}
        for pod in live.values():
            row = totals.setdefault(owner_of(pod), [0, 0, 0])
            row[0] += int(not pod.terminating)
            row[1] += int(pod.ready)
            row[2] += int(pod.available)
        for owner, (replicas, ready, available) in totals.items():
            if last.get(owner) != (replicas, ready, available):
                last[owner] = (replicas, ready, available)
                points.append(
                    ReplicaPoint(
                        t=e.t, owner=owner, replicas=replicas, ready=ready, available=available, revision=owner
                    )
                )
    return points


def revision_points(events: Iterable[PodEvent], name: str) -> list[ReplicaPoint]:
    """`owner_points` per revision: owner `<name>-<hash>` (StatefulSets, DaemonSets)."""
    return owner_points(events, lambda pod: _owner(name, pod.revision))


def label_points(events: Iterable[PodEvent], label: str, prefix: str) -> list[ReplicaPoint]:
    """`owner_points` per value of a pod label: owner `<prefix>-<value>` (e.g. an RC's `ver`)."""
    return owner_points(events, lambda pod: f"{prefix}-{dict(pod.labels).get(label, 'unlabelled')}")


@dataclass(frozen=True)
class Handoff:
    """One hand-over during a rollout: the pod made at the target revision, `ready`, became
    Ready at `ready_at`; the old pod `replaced` next started terminating at `terminating_at`.
    `in_order` when the old one went only once the new one was Ready."""

    ready: str
    ready_at: float | None
    replaced: str
    terminating_at: float | None

    @property
    def in_order(self) -> bool:
        return self.ready_at is not None and self.terminating_at is not None and self.ready_at <= self.terminating_at


def _made_at(lives: Sequence[PodLife], revision: str, since: float, until: float | None) -> list[PodLife]:
    return [life for life in lives if life.revision == revision and _within(life.first_seen, since, until)]


def _replaced_at(lives: Sequence[PodLife], revision: str, since: float, until: float | None) -> list[PodLife]:
    return [life for life in lives if life.revision != revision and _within(life.terminating_at, since, until)]


def _first_by(lives: Iterable[PodLife], key: str) -> dict[Any, PodLife]:
    out: dict[Any, PodLife] = {}
    for life in lives:
        out.setdefault(getattr(life, key), life)
    return out


def ordinal_handoffs(
    lives: Sequence[PodLife], order: Sequence[str], revision: str, since: float, until: float | None = None
) -> list[Handoff]:
    """StatefulSet (OrderedReady): for each pod of `order` after the first, when the pod
    before it was made Ready at `revision`, and when this pod's old incarnation began
    terminating (both within [since, until))."""
    made = _first_by(_made_at(lives, revision, since, until), "name")
    gone = _first_by(_replaced_at(lives, revision, since, until), "name")
    out = []
    for before, name in zip(order, order[1:]):
        new, old = made.get(before), gone.get(name)
        out.append(Handoff(before, new.ready_at if new else None, name, old.terminating_at if old else None))
    return out


def node_handoffs(lives: Sequence[PodLife], revision: str, since: float, until: float | None = None) -> list[Handoff]:
    """DaemonSet with maxSurge: per node, when its pod at `revision` became Ready and when
    the node's old pod began terminating (both within [since, until))."""
    made = _first_by(_made_at(lives, revision, since, until), "node")
    out = []
    for old in _replaced_at(lives, revision, since, until):
        new = made.get(old.node)
        out.append(
            Handoff(
                new.name if new else f"(no new pod on {old.node})",
                new.ready_at if new else None,
                old.name,
                old.terminating_at,
            )
        )
    return out
