"""StatefulSets and DaemonSets: the controllers that own their pods directly, with no
ReplicaSet in between. Builders, kubectl's rollout-status rules, bounded waits, and a
pod watcher whose records say which pod moved to which revision when.

Builders follow `harness.manifests` (fixtures/manifests/statefulset-demo.yaml and
daemonset-demo.yaml; the harness sets name, labels, image and the version env var).
Rollout-status rules are pure functions over the API JSON; the waits poll them and
raise `WaitTimeout` saying what they waited for and what they last saw. A StatefulSet
or DaemonSet has no ReplicaSets to watch, so `PodWatcher` records every change of the
pods themselves (`PodEvent`), from which `revision_points` derives per-revision
`ReplicaPoint`s (for the timeline and `assert_replica_bounds`) and `pod_lives` /
`update_order` say in which order pods reached a revision.

Objects are API JSON (camelCase dicts), as the server sent them.
"""

from __future__ import annotations

import copy
import math
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import kubernetes.client
import yaml

from .errors import ConfigError, HarnessError, WaitTimeout
from .kube.config import call_api
from .kube.patches import FIELD_MANAGER, apply_patch, object_path
from .kube.raw import RawApi
from .kube.watch import ListCall, ListWatchRecorder
from .manifests import first_container, harden, load_manifest, service, set_env
from .samples import clock
from .rolloutsteps import ReplicaPoint
from .timeouts import DEFAULT_TIMEOUTS, Timeouts

__all__ = [
    "REVISION_LABEL",
    "statefulset",
    "daemonset",
    "headless_service",
    "with_pull_policy",
    "scaled_value",
    "SetRolloutStatus",
    "statefulset_rollout_status",
    "daemonset_rollout_status",
    "apply_object",
    "wait_statefulset_rollout",
    "wait_daemonset_rollout",
    "PodState",
    "PodEvent",
    "PodLife",
    "pod_state",
    "pod_ordinal",
    "list_pods",
    "pod_lives",
    "update_order",
    "owner_points",
    "revision_points",
    "label_points",
    "Handoff",
    "ordinal_handoffs",
    "node_handoffs",
    "SetRevision",
    "set_revisions",
    "list_revisions",
    "describe_pods",
    "PodWatcher",
]

REVISION_LABEL = "controller-revision-hash"
"""Pod label naming the ControllerRevision a pod was made from (StatefulSet: the
revision's full name `<set>-<hash>`; DaemonSet: the hash alone)."""

_RESOURCES = {"StatefulSet": "statefulsets", "DaemonSet": "daemonsets"}
_ORDINAL = re.compile(r"-(\d+)$")


# --------------------------------------------------------------------------- pure: builders


def _named(obj: dict[str, Any], name: str, image: str, env: str, version: str, hardened: bool) -> dict[str, Any]:
    obj["metadata"]["name"] = name
    obj["metadata"]["labels"] = {"app": name}
    spec = obj["spec"]
    spec["selector"]["matchLabels"] = {"app": name}
    spec["template"]["metadata"]["labels"] = {"app": name}
    container = first_container(obj)
    container["image"] = image
    set_env(container, env, version)
    harden(spec["template"]["spec"], hardened)
    return obj


def statefulset(
    name: str,
    image: str,
    version: str = "v0.1",
    *,
    replicas: int = 4,
    partition: int = 0,
    service_name: str | None = None,
    hardened: bool = True,
    history_limit: int = 10,
) -> dict[str, Any]:
    """The demo StatefulSet `name` (label app=name) running `image` at `version`.

    RollingUpdate with `partition` (ordinals >= partition are updated); its
    governing headless Service is `service_name` (default `<name>-headless`)."""
    if isinstance(partition, bool) or not isinstance(partition, int) or partition < 0:
        raise ConfigError(f"partition must be an int >= 0, not {partition!r}")
    obj = _named(load_manifest("statefulset-demo.yaml"), name, image, "STATEFULSET_DEMO_VER", version, hardened)
    spec = obj["spec"]
    spec.update(replicas=replicas, revisionHistoryLimit=history_limit, serviceName=service_name or f"{name}-headless")
    spec["updateStrategy"] = {"type": "RollingUpdate", "rollingUpdate": {"partition": partition}}
    return obj


def daemonset(
    name: str,
    image: str,
    version: str = "v0.1",
    *,
    max_surge: int | str = 1,
    max_unavailable: int | str = 0,
    hardened: bool = True,
    history_limit: int = 10,
) -> dict[str, Any]:
    """The demo DaemonSet `name` (label app=name) running `image` at `version`.

    RollingUpdate with `max_surge` / `max_unavailable` (the API refuses both 0)."""
    obj = _named(load_manifest("daemonset-demo.yaml"), name, image, "DAEMONSET_DEMO_VER", version, hardened)
    obj["spec"]["revisionHistoryLimit"] = history_limit
    obj["spec"]["updateStrategy"] = {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": max_surge, "maxUnavailable": max_unavailable},
    }
    return obj


def headless_service(name: str, selector: dict[str, str]) -> dict[str, Any]:
    """A headless Service (clusterIP None) for `selector`: a StatefulSet's governing Service."""
    obj = service(name, selector, None)
    obj["spec"]["clusterIP"] = "None"
    return obj


def with_pull_policy(obj: Mapping[str, Any], policy: str) -> dict[str, Any]:
    """A copy of a workload manifest whose containers use imagePullPolicy `policy`."""
    if policy not in ("Always", "IfNotPresent", "Never"):
        raise ConfigError(f"imagePullPolicy {policy!r}: give Always, IfNotPresent or Never")
    out = copy.deepcopy(dict(obj))
    for container in out["spec"]["template"]["spec"]["containers"]:
        container["imagePullPolicy"] = policy
    return out


def scaled_value(value: int | str, total: int, *, round_up: bool) -> int:
    """An int-or-percent (maxSurge, maxUnavailable) as an absolute number of `total`,
    rounded as the controllers do: up for surge, down for unavailable."""
    if isinstance(value, bool):
        raise ConfigError(f"int-or-percent value {value!r} is neither an int nor 'N%'")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if not text.endswith("%") or not text[:-1].isdigit():
        raise ConfigError(f"int-or-percent value {value!r} is neither an int nor 'N%'")
    exact = int(text[:-1]) * total / 100
    return math.ceil(exact) if round_up else math.floor(exact)


# --------------------------------------------------------------------------- pure: rollout status


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


@dataclass(frozen=True)
class SetRolloutStatus:
    """`kubectl rollout status`'s verdict on one StatefulSet or DaemonSet, with the counts it used."""

    done: bool
    message: str
    counts: tuple[tuple[str, object], ...] = ()

    def summary(self) -> str:
        return f"{self.message} [{', '.join(f'{k} {v}' for k, v in self.counts)}]"


def statefulset_rollout_status(sts: Mapping[str, Any]) -> SetRolloutStatus:
    """kubectl's StatefulSet rules, in its order, plus one for partition 0.

    1. not RollingUpdate → error (kubectl refuses too);
    2. observedGeneration unset or behind generation → waiting for the spec update;
    3. readyReplicas < spec.replicas → waiting for pods to be ready;
    4. updatedReplicas < replicas - partition → partitioned roll out not finished;
    5. (stricter than kubectl, whose rule 4 ends it since the API defaults the
       partition to 0) with partition 0, currentRevision != updateRevision or
       availableReplicas < replicas → rolling update not complete.
    """
    name = _meta(sts).get("name", "")
    spec = sts.get("spec") or {}
    st = sts.get("status") or {}
    strategy = spec.get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        raise ConfigError(
            f'statefulset "{name}" uses updateStrategy {strategy.get("type")!r}: rollout status needs RollingUpdate'
        )
    replicas = int(spec["replicas"]) if spec.get("replicas") is not None else 1
    partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0)
    generation = int(_meta(sts).get("generation") or 0)
    observed = int(st.get("observedGeneration") or 0)
    ready = int(st.get("readyReplicas") or 0)
    available = int(st.get("availableReplicas") or 0)
    updated = int(st.get("updatedReplicas") or 0)
    current_rev, update_rev = st.get("currentRevision"), st.get("updateRevision")
    counts = (
        ("generation", generation),
        ("observed", observed),
        ("spec", replicas),
        ("partition", partition),
        ("ready", ready),
        ("available", available),
        ("updated", updated),
        ("currentRevision", current_rev),
        ("updateRevision", update_rev),
    )

    def verdict(done: bool, message: str) -> SetRolloutStatus:
        return SetRolloutStatus(done, message, counts)

    if observed == 0 or generation > observed:
        return verdict(False, "Waiting for statefulset spec update to be observed...")
    if ready < replicas:
        return verdict(False, f"Waiting for {replicas - ready} pods to be ready...")
    if updated < replicas - partition:
        return verdict(
            False,
            f"Waiting for partitioned roll out to finish: {updated} out of "
            f"{replicas - partition} new pods have been updated...",
        )
    if partition == 0 and (current_rev != update_rev or available < replicas):
        return verdict(
            False,
            f"waiting for statefulset rolling update to complete {updated} pods at revision "
            f"{update_rev} (current {current_rev}, {available} available)...",
        )
    if partition:
        return verdict(True, f"partitioned roll out complete: {updated} new pods have been updated...")
    return verdict(True, f"statefulset rolling update complete {updated} pods at revision {update_rev}...")


def daemonset_rollout_status(ds: Mapping[str, Any]) -> SetRolloutStatus:
    """kubectl's DaemonSet rules, in its order.

    1. not RollingUpdate → error (kubectl refuses too);
    2. generation > observedGeneration → waiting for the spec update;
    3. updatedNumberScheduled < desiredNumberScheduled → new pods not all scheduled;
    4. numberAvailable < desiredNumberScheduled → updated pods not all available;
    otherwise done.
    """
    name = _meta(ds).get("name", "")
    strategy = (ds.get("spec") or {}).get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        raise ConfigError(
            f'daemon set "{name}" uses updateStrategy {strategy.get("type")!r}: rollout status needs RollingUpdate'
        )
    st = ds.get("status") or {}
    generation = int(_meta(ds).get("generation") or 0)
    observed = int(st.get("observedGeneration") or 0)
    desired = int(st.get("desiredNumberScheduled") or 0)
    updated = int(st.get("updatedNumberScheduled") or 0)
    available = int(st.get("numberAvailable") or 0)
    counts = (
        ("generation", generation),
        ("observed", observed),
        ("desired", desired),
        ("updated", updated),
        ("available", available),
        ("current", int(st.get("currentNumberScheduled") or 0)),
        ("misscheduled", int(st.get("numberMisscheduled") or 0)),
    )
    if generation > observed:
        return SetRolloutStatus(False, "Waiting for daemon set spec update to be observed...", counts)
    if updated < desired:
        return SetRolloutStatus(
            False,
            f'Waiting for daemon set "{name}" rollout to finish: {updated} out of '
            f"{desired} new pods have been updated...",
            counts,
        )
    if available < desired:
        return SetRolloutStatus(
            False,
            f'Waiting for daemon set "{name}" rollout to finish: {available} of '
            f"{desired} updated pods are available...",
            counts,
        )
    return SetRolloutStatus(True, f'daemon set "{name}" successfully rolled out', counts)


# --------------------------------------------------------------------------- pure: pods


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
    labels: tuple[tuple[str, str], ...] = ()
    readiness_probe: bool = False
    """The first container declares a readinessProbe (Ready then means the app answered it)."""

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
        labels=tuple(sorted((meta.get("labels") or {}).items())),
        readiness_probe=bool(containers[0].get("readinessProbe")),
    )


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


@dataclass(frozen=True)
class SetRevision:
    """One ControllerRevision of a StatefulSet or DaemonSet: its number, name and image."""

    revision: int
    name: str
    image: str | None


def set_revisions(revisions: Iterable[Mapping[str, Any]], kind: str, owner: str) -> list[SetRevision]:
    """The ControllerRevisions whose controller is `kind` `owner`, by revision number."""
    out = []
    for rev in revisions:
        refs = [r for r in _meta(rev).get("ownerReferences") or [] if r.get("controller")]
        if not refs or refs[0].get("kind") != kind or refs[0].get("name") != owner:
            continue
        template = (((rev.get("data") or {}).get("spec") or {}).get("template") or {}).get("spec") or {}
        containers = template.get("containers") or [{}]
        out.append(
            SetRevision(int(rev.get("revision") or 0), str(_meta(rev).get("name", "")), containers[0].get("image"))
        )
    return sorted(out, key=lambda r: r.revision)


def describe_pods(pods: Iterable[PodState]) -> str:
    """One line per pod: name, revision, image, node, ready / terminating / waiting reason."""
    lines = []
    for p in sorted(pods, key=lambda p: p.name):
        state = "terminating" if p.terminating else ("ready" if p.ready else (p.waiting_reason or "not ready"))
        lines.append(f"{p.name} rev={p.revision} image={p.image} node={p.node} {state}")
    return "\n".join(lines) or "no pods"


# --------------------------------------------------------------------------- I/O


def _selector(labels: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def apply_object(
    raw: RawApi, obj: Mapping[str, Any], namespace: str, *, field_manager: str = FIELD_MANAGER
) -> dict[str, Any]:
    """Server-side apply (force) of a StatefulSet or DaemonSet through `raw` (so the
    exchange is recorded); returns the object the server answered with."""
    kind = obj.get("kind")
    if obj.get("apiVersion") != "apps/v1" or kind not in _RESOURCES:
        raise ConfigError(f"apply_object takes apps/v1 StatefulSet or DaemonSet, not {obj.get('apiVersion')}/{kind}")
    name = _meta(obj).get("name")
    if not name:
        raise ConfigError(f"{kind} manifest has no metadata.name; set one")
    body = copy.deepcopy(dict(obj))
    body["metadata"]["namespace"] = namespace
    resp = raw.call(
        apply_patch(
            object_path("apps/v1", _RESOURCES[kind], name, namespace), body, field_manager=field_manager, force=True
        )
    )
    return resp.body if isinstance(resp.body, dict) else {}


def list_revisions(
    apps: kubernetes.client.AppsV1Api, namespace: str, kind: str, owner: str, timeouts: Timeouts = DEFAULT_TIMEOUTS
) -> list[SetRevision]:
    """`kubectl rollout history` for a StatefulSet or DaemonSet: its ControllerRevisions."""
    path = object_path("apps/v1", "controllerrevisions", None, namespace)
    body = call_api(
        apps.list_namespaced_controller_revision, namespace, method="GET", path=path, timeout=timeouts.api_request
    )
    return set_revisions(body.get("items") or [], kind, owner)


def list_pods(
    core: kubernetes.client.CoreV1Api, namespace: str, labels: Mapping[str, str], timeouts: Timeouts = DEFAULT_TIMEOUTS
) -> list[PodState]:
    """The pods matching `labels`, as `PodState`s."""
    path = object_path("v1", "pods", None, namespace)
    body = call_api(
        core.list_namespaced_pod,
        namespace,
        label_selector=_selector(labels),
        method="GET",
        path=path,
        timeout=timeouts.api_request,
    )
    return [pod_state(p) for p in body.get("items") or []]


def _wait_set(
    read: Callable[[], dict[str, Any]],
    rules: Callable[[Mapping[str, Any]], SetRolloutStatus],
    what: str,
    core: kubernetes.client.CoreV1Api,
    namespace: str,
    name: str,
    timeouts: Timeouts,
    timeout: float | None,
) -> SetRolloutStatus:
    timeout = timeouts.rollout if timeout is None else timeout
    deadline = clock() + timeout
    stop = threading.Event()
    while True:
        obj = read()
        verdict = rules(obj)
        if verdict.done:
            return verdict
        remaining = deadline - clock()
        if remaining <= 0:
            labels = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {"app": name}
            try:
                pods = describe_pods(list_pods(core, namespace, labels, timeouts))
            except HarnessError as exc:
                pods = f"(pods not listed: {exc})"
            dump = yaml.safe_dump({"status": obj.get("status") or {}}, sort_keys=False) + pods
            raise WaitTimeout(f'{what} "{namespace}/{name}" to finish its rollout', timeout, verdict.summary(), dump)
        stop.wait(min(timeouts.poll_interval, remaining))


def wait_statefulset_rollout(
    apps: kubernetes.client.AppsV1Api,
    core: kubernetes.client.CoreV1Api,
    namespace: str,
    name: str,
    timeouts: Timeouts = DEFAULT_TIMEOUTS,
    timeout: float | None = None,
) -> SetRolloutStatus:
    """Poll `statefulset_rollout_status` until done; `WaitTimeout` (with the last
    verdict, the status and the pods) after `timeout` (default `timeouts.rollout`)."""
    path = object_path("apps/v1", "statefulsets", name, namespace)

    def read() -> dict[str, Any]:
        body: dict[str, Any] = call_api(
            apps.read_namespaced_stateful_set, name, namespace, method="GET", path=path, timeout=timeouts.api_request
        )
        return body

    return _wait_set(read, statefulset_rollout_status, "statefulset", core, namespace, name, timeouts, timeout)


def wait_daemonset_rollout(
    apps: kubernetes.client.AppsV1Api,
    core: kubernetes.client.CoreV1Api,
    namespace: str,
    name: str,
    timeouts: Timeouts = DEFAULT_TIMEOUTS,
    timeout: float | None = None,
) -> SetRolloutStatus:
    """Poll `daemonset_rollout_status` until done; `WaitTimeout` (with the last
    verdict, the status and the pods) after `timeout` (default `timeouts.rollout`)."""
    path = object_path("apps/v1", "daemonsets", name, namespace)

    def read() -> dict[str, Any]:
        body: dict[str, Any] = call_api(
            apps.read_namespaced_daemon_set, name, namespace, method="GET", path=path, timeout=timeouts.api_request
        )
        return body

    return _wait_set(read, daemonset_rollout_status, "daemon set", core, namespace, name, timeouts, timeout)


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
            timeouts=timeouts,
            path=object_path("v1", "pods", None, namespace),
            max_duration=timeouts.probe_max_duration if max_duration is None else max_duration,
            thread_name=f"pod-watch-{namespace}",
        )
        self.namespace = namespace
        self.labels = dict(labels)
        self.max_events = max_events
        self._core = kubernetes.client.CoreV1Api(api_client)
        self._known: dict[str, PodState] = {}
        self._names: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"PodWatcher({self.namespace} {_selector(self.labels)}, events={len(self._records)})"

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
        return f"pod watcher of {self.namespace} ({_selector(self.labels)})"

    def _list_call(self) -> ListCall:
        return self._core.list_namespaced_pod, (self.namespace,), {"label_selector": _selector(self.labels)}

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

    def _record(self, kind: str, pod: PodState, t: float) -> None:
        with self._lock:
            self._names[pod.uid] = pod.name
            known = self._known
            if kind == "deleted":
                if known.pop(pod.uid, None) is None:
                    return
            else:
                if known.get(pod.uid) == pod:
                    return
                known[pod.uid] = pod
            self._keep(PodEvent(t, kind, pod), self.max_events)
