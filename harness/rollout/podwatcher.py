"""`PodWatcher`: a thread that records every change of the pods matching a label selector."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import kubernetes.client

from harness.kube.patches import object_path
from harness.kube.watch import ListCall, ListWatchRecorder
from harness.rollout.pods import PodEvent, PodState, label_selector, pod_state
from harness.samples import clock
from harness.timeouts import DEFAULT_TIMEOUTS, Timeouts

__all__ = ["PodWatcher"]


class PodWatcher(ListWatchRecorder[PodEvent]):
    """Records a `PodEvent` (on `clock`) whenever a pod matching `labels` changes
    revision, image, node, readiness or termination, or is gone.

    List, then watch from the list's resourceVersion (relist on 410 Gone, when
    pods no longer listed are recorded as deleted), in windows of
    `timeouts.api_request` seconds. Bounded by `max_events` (then `truncated`
    is set and recording stops) and `max_duration` (default
    `timeouts.probe_max_duration`). The thread only records; an error ends it
    and is raised by `stop()`. The loop is `harness.kube.watch.ListWatchRecorder`'s.
    """

    noun = "events"

    def __init__(
        self,
        api_client: kubernetes.client.ApiClient,
        namespace: str,
        labels: Mapping[str, str],
        *,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
        max_events: int = 100_000,
        max_duration: float | None = None,
    ) -> None:
        super().__init__(
            path=object_path("v1", "pods", None, namespace),
            thread_name=f"pod-watch-{namespace}",
            namespace=namespace,
            timeouts=timeouts,
            max_records=max_events,
            max_duration=max_duration,
        )
        self.labels = dict(labels)
        self._core = kubernetes.client.CoreV1Api(api_client)
        self._known: dict[str, PodState] = {}
        self._names: dict[str, str] = {}
        self._last_end: float | None = None

    def __repr__(self) -> str:
        return f"PodWatcher({self.namespace} {label_selector(self.labels)}, events={len(self._records)})"

    def __enter__(self) -> PodWatcher:
        return self.start()

    @property
    def events(self) -> list[PodEvent]:
        return self._records_copy()

    def start(self, wait_listed: bool = True) -> PodWatcher:
        """Start the thread; by default return once the first list is recorded (or the thread ended)."""
        self._start((lambda: f"the first pod list of {self!r}") if wait_listed else None)
        return self

    # -- thread side: records only

    def _what(self) -> str:
        return f"pod watcher of {self.namespace} ({label_selector(self.labels)})"

    def _list_call(self) -> ListCall:
        return self._core.list_namespaced_pod, (self.namespace,), {"label_selector": label_selector(self.labels)}

    def _on_list(self, items: list[dict[str, Any]]) -> None:
        t = clock()
        listed = [pod_state(p) for p in items]
        uids = {p.uid for p in listed}
        with self._lock:
            vanished = [p for uid, p in self._known.items() if uid not in uids]
        for pod in vanished:
            self._record("deleted", pod, t)
        for pod in listed:
            self._record("listed", pod, t)

    def _on_event(self, kind: str, obj: dict[str, Any]) -> None:
        self._record(kind, pod_state(obj), clock())

    def seen_pods(self) -> dict[str, str]:
        """Every pod seen so far, deleted ones too: uid -> name."""
        with self._lock:
            return dict(self._names)

    def shutdowns(self) -> tuple[list[str], float | None]:
        """The pods seen terminating whose exit (or deletion) has not been seen yet, and the latest
        instant an exit or deletion of a terminating pod was recorded (None: none yet)."""
        with self._lock:
            pending = sorted(p.name for p in self._known.values() if p.terminating and p.exit_code is None)
            return pending, self._last_end

    def _record(self, kind: str, pod: PodState, t: float) -> None:
        with self._lock:
            self._names[pod.uid] = pod.name
            known = self._known
            before = known.get(pod.uid)
            if kind == "deleted":
                if known.pop(pod.uid, None) is None:
                    return
            else:
                if before == pod:
                    return
                known[pod.uid] = pod
            if before is not None and before.exit_code is None and (before.terminating or pod.terminating):
                if kind == "deleted" or pod.exit_code is not None:
                    self._last_end = t
            self._keep(PodEvent(t, kind, pod, time.time() - (clock() - t)))
