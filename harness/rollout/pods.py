"""What a rollout needs of one pod, from its API JSON: revision, image, node, readiness.

`PodState` is one pod at one moment and `PodEvent` one change of it seen by a
watcher (`harness.rollout.podwatcher`); `describe_pods` is the one-line-per-pod
dump a failed wait shows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = [
    "REVISION_LABEL",
    "PodState",
    "PodEvent",
    "pod_state",
    "pod_ordinal",
    "pre_stop_sleep",
    "describe_pods",
    "label_selector",
]


REVISION_LABEL = "controller-revision-hash"
"""Pod label naming the ControllerRevision a pod was made from (StatefulSet: the
revision's full name `<set>-<hash>`; DaemonSet: the hash alone)."""


_ORDINAL = re.compile(r"-(\d+)$")


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


@dataclass(frozen=True)
class PodState:
    """What matters of one pod for a rollout: its revision, image, node and readiness."""

    name: str
    uid: str
    revision: str | None
    image: str | None
    node: str | None
    ready: bool
    terminating: bool
    waiting_reason: str | None = None
    ip: str | None = None
    exit_code: int | None = None
    """The first container's exit code once it has terminated (None while it runs)."""
    finished_at: float | None = None
    """When that container terminated, by its runtime (`finishedAt`, Unix seconds, whole seconds):
    the pod status that shows it can come seconds later (README finding 27)."""
    labels: tuple[tuple[str, str], ...] = ()
    readiness_probe: bool = False
    """The first container declares a readinessProbe (Ready then means the app answered it)."""
    pre_stop: bool = False
    """The first container declares a preStop hook (terminating then runs it before the app's SIGTERM)."""
    pre_stop_s: float | None = None
    """How long that hook holds the app, where it is a plain sleep (`sleep N`, or the `sleep` action)."""

    @property
    def available(self) -> bool:
        """Ready and not terminating: what a Service routes to (minReadySeconds 0)."""
        return self.ready and not self.terminating


def pod_state(pod: Mapping[str, Any]) -> PodState:
    """A pod's `PodState` from its API JSON."""
    meta = _meta(pod)
    spec = pod.get("spec") or {}
    st = pod.get("status") or {}
    containers = spec.get("containers") or [{}]
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in st.get("conditions") or [])
    waiting = next(
        (
            cs.get("state", {}).get("waiting", {}).get("reason")
            for cs in st.get("containerStatuses") or []
            if (cs.get("state") or {}).get("waiting")
        ),
        None,
    )
    terminated = next(
        (
            (cs.get("state") or {}).get("terminated")
            for cs in st.get("containerStatuses") or []
            if (cs.get("state") or {}).get("terminated")
        ),
        None,
    )
    return PodState(
        name=str(meta.get("name", "")),
        uid=str(meta.get("uid", "")),
        revision=(meta.get("labels") or {}).get(REVISION_LABEL),
        image=containers[0].get("image"),
        node=spec.get("nodeName"),
        ready=ready,
        terminating=meta.get("deletionTimestamp") is not None,
        waiting_reason=waiting,
        ip=st.get("podIP"),
        exit_code=int(terminated.get("exitCode", 0)) if terminated else None,
        finished_at=_unix(terminated.get("finishedAt")) if terminated else None,
        labels=tuple(sorted((meta.get("labels") or {}).items())),
        readiness_probe=bool(containers[0].get("readinessProbe")),
        pre_stop=bool((containers[0].get("lifecycle") or {}).get("preStop")),
        pre_stop_s=pre_stop_sleep((containers[0].get("lifecycle") or {}).get("preStop")),
    )


def _unix(stamp: object) -> float | None:
    """An API timestamp (RFC 3339, e.g. `2026-12-02T15:43:05Z`) as Unix seconds; None if absent or unreadable."""
    if not isinstance(stamp, str):
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def pre_stop_sleep(hook: Mapping[str, Any] | None) -> float | None:
    """Seconds a preStop hook sleeps when that is all it does (`exec: [sleep, N]`, `sh -c "sleep N"`,
    or `sleep: {seconds: N}`); None for anything else."""
    if not hook:
        return None
    if isinstance(hook.get("sleep"), Mapping):
        seconds = hook["sleep"].get("seconds")
        return float(seconds) if isinstance(seconds, (int, float)) and not isinstance(seconds, bool) else None
    command = list((hook.get("exec") or {}).get("command") or [])
    if len(command) == 3 and command[1] == "-c" and command[0].rsplit("/", 1)[-1] in ("sh", "bash"):
        command = command[2].split()
    if len(command) == 2 and command[0].rsplit("/", 1)[-1] == "sleep":
        try:
            return float(command[1])
        except ValueError:
            return None
    return None


def pod_ordinal(name: str) -> int | None:
    """The ordinal of a StatefulSet pod `<set>-<n>`; None for other names."""
    found = _ORDINAL.search(name)
    return int(found.group(1)) if found else None


@dataclass(frozen=True)
class PodEvent:
    """A pod seen (listed, added, modified) or gone (deleted) at `t` on the harness clock."""

    t: float
    kind: str  # "listed", "added", "modified", "deleted"
    pod: PodState
    wall: float | None = None  # the Unix time at `t` (to place the pod's own timestamps on the harness clock)


def describe_pods(pods: Iterable[PodState]) -> str:
    """One line per pod: name, revision, image, node, ready / terminating / waiting reason."""
    lines = []
    for p in sorted(pods, key=lambda p: p.name):
        state = "terminating" if p.terminating else ("ready" if p.ready else (p.waiting_reason or "not ready"))
        lines.append(f"{p.name} rev={p.revision} image={p.image} node={p.node} {state}")
    return "\n".join(lines) or "no pods"


def label_selector(labels: Mapping[str, str]) -> str:
    """`labels` as a label selector ("app=web,ver=v1"), keys sorted."""
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
