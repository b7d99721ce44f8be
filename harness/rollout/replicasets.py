"""A Deployment's ReplicaSets over time: a watcher that records a `ReplicaPoint` for every
change of any of them, and the running totals the surge and availability bounds read.

Points are on the harness clock (`harness.samples.clock`); objects are API JSON.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import kubernetes.client

from harness.kube.patches import object_path
from harness.kube.watch import ListCall, ListWatchRecorder
from harness.rollout.history import REVISION, controller_ref
from harness.samples import clock
from harness.rolloutsteps import ReplicaPoint
from harness.timeouts import DEFAULT_TIMEOUTS, Timeouts

__all__ = ["ReplicaTotals", "replica_point", "replica_totals", "ReplicaSetWatcher"]


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _annotations(obj: Mapping[str, Any]) -> dict[str, str]:
    return dict(_meta(obj).get("annotations") or {})


@dataclass(frozen=True)
class ReplicaTotals:
    """Sums over every ReplicaSet of a Deployment right after the point at `t`."""

    t: float
    replicas: int
    ready: int
    available: int
    owners: int


def replica_point(rs: Mapping[str, Any], t: float, *, deleted: bool = False) -> ReplicaPoint:
    """A ReplicaSet at `t`: replicas it is told to run (spec, what maxSurge bounds), and
    its ready/available pods (status, what maxUnavailable bounds).

    status.replicas is not used for the surge bound: the ReplicaSet controller
    writes each ReplicaSet's status on its own schedule, so summing two statuses
    can show a transient total the Deployment controller never asked for.
    """
    st = {} if deleted else (rs.get("status") or {})
    spec = {} if deleted else (rs.get("spec") or {})
    return ReplicaPoint(
        t=t,
        owner=_meta(rs).get("name", ""),
        replicas=int(spec.get("replicas") or 0),
        ready=int(st.get("readyReplicas") or 0),
        available=int(st.get("availableReplicas") or 0),
        revision=_annotations(rs).get(REVISION),
    )


def replica_totals(points: Sequence[ReplicaPoint]) -> list[ReplicaTotals]:
    """Running totals over owners after each point (in time order): surge = replicas - desired."""
    latest: dict[str, ReplicaPoint] = {}
    out = []
    for p in sorted(points, key=lambda p: p.t):
        latest[p.owner] = p
        out.append(
            ReplicaTotals(
                t=p.t,
                replicas=sum(q.replicas for q in latest.values()),
                ready=sum(q.ready for q in latest.values()),
                available=sum(q.available for q in latest.values()),
                owners=sum(1 for q in latest.values() if q.replicas),
            )
        )
    return out


class ReplicaSetWatcher(ListWatchRecorder[ReplicaPoint]):
    """Records a `ReplicaPoint` (on `clock`) whenever a ReplicaSet of one Deployment changes.

    List, then watch from the list's resourceVersion (relist on 410 Gone), in
    windows of `timeouts.api_request` seconds. Bounded by `max_points` (then
    `truncated` is set and recording stops) and `max_duration` (default
    `timeouts.probe_max_duration`). The thread only records; an error ends it
    and is raised by `stop()`. ReplicaSets are matched by their controller
    owner reference (kind Deployment, this name), so the watcher may start
    before the Deployment exists. The loop is `harness.kube.watch.ListWatchRecorder`'s.
    """

    noun = "points"

    def __init__(
        self,
        api_client: kubernetes.client.ApiClient,
        namespace: str,
        deployment: str,
        *,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
        max_points: int = 100_000,
        max_duration: float | None = None,
        server: str = "",
    ) -> None:
        super().__init__(
            path=object_path("apps/v1", "replicasets", None, namespace),
            thread_name=f"rs-watch-{namespace}-{deployment}",
            namespace=namespace,
            timeouts=timeouts,
            max_records=max_points,
            max_duration=max_duration,
            server=server,
        )
        self.deployment = deployment
        self._apps = kubernetes.client.AppsV1Api(api_client)
        self._last: dict[str, tuple[int, int, int, str | None]] = {}

    def __repr__(self) -> str:
        return f"ReplicaSetWatcher({self.namespace}/{self.deployment}, points={len(self._records)})"

    def __enter__(self) -> ReplicaSetWatcher:
        return self.start() if not self._thread.is_alive() and not self._stopping.is_set() else self

    @property
    def points(self) -> list[ReplicaPoint]:
        return self._records_copy()

    def start(self, wait_listed: bool = True) -> ReplicaSetWatcher:
        """Start the thread; by default return once the first list is recorded (or the thread ended)."""
        self._start((lambda: f"the first ReplicaSet list of {self!r}") if wait_listed else None)
        return self

    # -- thread side: records only

    def _what(self) -> str:
        return f"ReplicaSet watcher of {self.namespace}/{self.deployment}"

    def _list_call(self) -> ListCall:
        return self._apps.list_namespaced_replica_set, (self.namespace,), {}

    def _on_list(self, items: list[dict[str, Any]]) -> None:
        for rs in items:
            self._observe(rs)

    def _on_event(self, kind: str, obj: dict[str, Any]) -> None:
        self._observe(obj, deleted=kind == "deleted")

    def _observe(self, rs: Mapping[str, Any], deleted: bool = False) -> None:
        ref = controller_ref(rs)
        if ref is None or ref.get("kind") != "Deployment" or ref.get("name") != self.deployment:
            return
        point = replica_point(rs, clock(), deleted=deleted)
        key = (point.replicas, point.ready, point.available, point.revision)
        with self._lock:
            if self._last.get(point.owner) == key:
                return
            if self._keep(point):
                self._last[point.owner] = key
