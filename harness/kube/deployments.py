"""kubectl-equivalent Deployment operations: apply, rollout status, history, undo, pause, scale.

Pure rules (unit-tested without a cluster) sit first: `rollout_status` is
`kubectl rollout status`'s decision over one Deployment object,
`parse_history` is `kubectl rollout history` over the owned ReplicaSets,
`plan_undo` is `kubectl rollout undo`'s patch. `Deployments` does the I/O over
the typed client (undo and set-image go through `RawApi` so the exchange is
recorded). `ReplicaSetWatcher` is a stoppable thread that records a
`ReplicaPoint` for every change of every ReplicaSet of one Deployment.

Objects are handled as API JSON (camelCase dicts), exactly as the server sent them.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import kubernetes.client
import yaml

from harness.errors import ConfigError, HarnessError, ProviderError, WaitTimeout
from harness.kube.config import ClusterAccess, call_api
from harness.kube.patches import (
    APPLY_PATCH_YAML,
    CHANGE_CAUSE,
    FIELD_MANAGER,
    MERGE_PATCH,
    STRATEGIC_MERGE_PATCH,
    change_cause_ops,
    deployment_path,
    json_patch,
    object_path,
    set_image_ops,
    strip_pod_template_hash,
    undo_ops,
)
from harness.kube.raw import Exchange, RawApi
from harness.kube.watch import ListCall, ListWatchRecorder
from harness.samples import clock
from harness.rolloutsteps import ReplicaPoint
from harness.timeouts import DEFAULT_TIMEOUTS, Timeouts

__all__ = [
    "RolloutFailed",
    "RolloutStatus",
    "Revision",
    "UndoPlan",
    "UndoResult",
    "ApplyResult",
    "ReplicaTotals",
    "REVISION",
    "REVISION_HISTORY",
    "UNDO_KEEPS_FROM_DEPLOYMENT",
    "rollout_status",
    "owned_replicasets",
    "parse_history",
    "plan_undo",
    "with_change_cause",
    "replica_point",
    "replica_totals",
    "describe_rollout",
    "Deployments",
    "ReplicaSetWatcher",
]

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
UNDO_KEEPS_FROM_DEPLOYMENT = frozenset(
    {
        LAST_APPLIED,
        REVISION,
        REVISION_HISTORY,
        "deployment.kubernetes.io/desired-replicas",
        "deployment.kubernetes.io/max-replicas",
        "deprecated.deployment.rollback.to",
    }
)
"""Annotations `rollout undo` keeps from the Deployment; every other one comes from the ReplicaSet."""

_PROGRESS_DEADLINE = "ProgressDeadlineExceeded"


class RolloutFailed(HarnessError):
    """The Deployment reported ProgressDeadlineExceeded: the rollout will not finish by itself."""

    def __init__(self, name: str, reason: str, message: str, dump: str = "") -> None:
        self.name = name
        self.reason = reason
        self.condition_message = message
        self.dump = dump
        super().__init__(f'deployment "{name}" exceeded its progress deadline ({reason}: {message})')


# --------------------------------------------------------------------------- pure: rollout status


@dataclass(frozen=True)
class RolloutStatus:
    """`kubectl rollout status`'s verdict on one Deployment object, with the counts it used."""

    done: bool
    message: str
    failed: bool = False
    generation: int = 0
    observed_generation: int = 0
    spec_replicas: int | None = None
    replicas: int = 0
    updated: int = 0
    ready: int = 0
    available: int = 0

    def summary(self) -> str:
        return (
            f"{self.message} [generation {self.generation}, observed {self.observed_generation}; "
            f"spec {self.spec_replicas}, replicas {self.replicas}, updated {self.updated}, "
            f"ready {self.ready}, available {self.available}]"
        )


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _annotations(obj: Mapping[str, Any]) -> dict[str, str]:
    return dict(_meta(obj).get("annotations") or {})


def _condition(dep: Mapping[str, Any], ctype: str) -> Mapping[str, Any] | None:
    for cond in (dep.get("status") or {}).get("conditions") or []:
        if isinstance(cond, Mapping) and cond.get("type") == ctype:
            return cond
    return None


def rollout_status(dep: Mapping[str, Any]) -> RolloutStatus:
    """The rules of `kubectl rollout status` for a Deployment, in kubectl's order.

    1. generation > status.observedGeneration → waiting for the spec update to be observed;
    2. a Progressing condition with reason ProgressDeadlineExceeded → failed;
    3. updatedReplicas < spec.replicas → waiting for new replicas to be updated;
    4. replicas > updatedReplicas → old replicas pending termination;
    5. availableReplicas < updatedReplicas → updated replicas not yet available;
    otherwise done. (kubectl tests 3 as "<", so more updated than desired,
    e.g. during a scale-down, does not keep it waiting.)
    """
    name = _meta(dep).get("name", "")
    st = dep.get("status") or {}
    raw_wanted = (dep.get("spec") or {}).get("replicas")
    wanted = None if raw_wanted is None else int(raw_wanted)
    generation = int(_meta(dep).get("generation") or 0)
    observed = int(st.get("observedGeneration") or 0)
    replicas = int(st.get("replicas") or 0)
    updated = int(st.get("updatedReplicas") or 0)
    available = int(st.get("availableReplicas") or 0)

    def verdict(done: bool, message: str, failed: bool = False) -> RolloutStatus:
        return RolloutStatus(
            done=done,
            message=message,
            failed=failed,
            generation=generation,
            observed_generation=observed,
            spec_replicas=wanted,
            replicas=replicas,
            updated=updated,
            ready=int(st.get("readyReplicas") or 0),
            available=available,
        )

    if generation > observed:
        return verdict(False, "Waiting for deployment spec update to be observed...")
    cond = _condition(dep, "Progressing")
    if cond is not None and cond.get("reason") == _PROGRESS_DEADLINE:
        return verdict(False, f'deployment "{name}" exceeded its progress deadline', failed=True)
    waiting = f'Waiting for deployment "{name}" rollout to finish: '
    if wanted is not None and updated < wanted:
        return verdict(False, f"{waiting}{updated} out of {wanted} new replicas have been updated...")
    if replicas > updated:
        return verdict(False, f"{waiting}{replicas - updated} old replicas are pending termination...")
    if available < updated:
        return verdict(False, f"{waiting}{available} of {updated} updated replicas are available...")
    return verdict(True, f'deployment "{name}" successfully rolled out')


# --------------------------------------------------------------------------- pure: history


@dataclass(frozen=True)
class Revision:
    """One row of `kubectl rollout history`, from one owned ReplicaSet."""

    revision: int
    replicaset: str
    change_cause: str | None
    images: tuple[str, ...]
    replicas: int
    ready: int = 0
    available: int = 0
    revision_history: tuple[int, ...] = ()
    template: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    annotations: dict[str, str] = field(default_factory=dict, repr=False, compare=False)


def _controller_ref(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for ref in _meta(obj).get("ownerReferences") or []:
        if isinstance(ref, Mapping) and ref.get("controller"):
            return ref
    return None


def owned_replicasets(dep: Mapping[str, Any], replicasets: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The ReplicaSets whose controller is this Deployment (by uid when known, else kind+name)."""
    uid = _meta(dep).get("uid")
    name = _meta(dep).get("name")
    out = []
    for rs in replicasets:
        ref = _controller_ref(rs)
        if ref is None or ref.get("kind") != "Deployment":
            continue
        if (uid and ref.get("uid") == uid) or (not uid and ref.get("name") == name):
            out.append(rs)
    return out


def _revision_of(rs: Mapping[str, Any]) -> int | None:
    value = _annotations(rs).get(REVISION)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _ints(csv: str | None) -> tuple[int, ...]:
    out = []
    for part in (csv or "").split(","):
        if part.strip().isdigit():
            out.append(int(part))
    return tuple(out)


def parse_history(dep: Mapping[str, Any], replicasets: Iterable[Mapping[str, Any]]) -> list[Revision]:
    """Revisions of the Deployment from its owned ReplicaSets, sorted by revision.

    A ReplicaSet without a parseable revision annotation is left out."""
    rows = []
    for rs in owned_replicasets(dep, replicasets):
        rev = _revision_of(rs)
        if rev is None:
            continue
        template = (rs.get("spec") or {}).get("template") or {}
        containers = (template.get("spec") or {}).get("containers") or []
        st = rs.get("status") or {}
        ann = _annotations(rs)
        rows.append(
            Revision(
                revision=rev,
                replicaset=_meta(rs).get("name", ""),
                change_cause=ann.get(CHANGE_CAUSE),
                images=tuple(str(c.get("image", "")) for c in containers),
                replicas=int((rs.get("spec") or {}).get("replicas") or 0),
                ready=int(st.get("readyReplicas") or 0),
                available=int(st.get("availableReplicas") or 0),
                revision_history=_ints(ann.get(REVISION_HISTORY)),
                template=copy.deepcopy(template),
                annotations=ann,
            )
        )
    return sorted(rows, key=lambda r: r.revision)


# --------------------------------------------------------------------------- pure: undo


@dataclass(frozen=True)
class UndoPlan:
    """What `rollout undo` will do: target revision, and the JSON patch (unless skipped)."""

    name: str
    revision: int
    replicaset: str
    skipped: bool
    message: str
    ops: list[dict[str, Any]] = field(default_factory=list, repr=False, compare=False)
    annotations: dict[str, str] = field(default_factory=dict, repr=False, compare=False)


def plan_undo(
    dep: Mapping[str, Any], replicasets: Iterable[Mapping[str, Any]], to_revision: int | None = None
) -> UndoPlan:
    """Build `kubectl rollout undo`'s change for a Deployment, from its ReplicaSets.

    What kubectl does today, and what this does:
    - a paused Deployment is refused ("resume it first");
    - the target is the ReplicaSet whose `deployment.kubernetes.io/revision`
      equals `to_revision`, or by default the second-highest revision (the
      previous one); none → error;
    - if that ReplicaSet's pod template equals the Deployment's, ignoring the
      `pod-template-hash` label, nothing is sent ("skipped rollback");
    - otherwise one JSON patch with two ops: replace `/spec/template` with the
      ReplicaSet's template minus the `pod-template-hash` label, and replace
      `/metadata/annotations` with: the Deployment's own values of the
      annotations in `UNDO_KEEPS_FROM_DEPLOYMENT` (last-applied-configuration,
      revision, revision-history, desired-replicas, max-replicas,
      deprecated.deployment.rollback.to), plus every other annotation of the
      ReplicaSet (which the controller copied from the Deployment when that
      revision was current, notably `kubernetes.io/change-cause`).
      So the change-cause goes back to that revision's, and a Deployment
      annotation that is neither kept nor on the ReplicaSet is dropped —
      as kubectl drops it. (Only difference: when the Deployment has no
      annotations at all, the second op is an "add", since JSON-patch
      "replace" needs an existing member.)
    The controller then reuses the old ReplicaSet, giving it the next revision
    number and recording its old number in `revision-history`.
    """
    name = _meta(dep).get("name", "")
    if (dep.get("spec") or {}).get("paused"):
        raise ConfigError(f'deployment "{name}" is paused; resume it first, then undo (kubectl refuses too)')
    if to_revision is not None and (
        isinstance(to_revision, bool) or not isinstance(to_revision, int) or to_revision < 0
    ):
        raise ConfigError(f"undo revision must be an int ≥ 1 (or None for the previous one), not {to_revision!r}")
    by_rev: dict[int, Mapping[str, Any]] = {}
    for rs in owned_replicasets(dep, replicasets):
        rev = _revision_of(rs)
        if rev is not None:
            by_rev[rev] = rs
    revisions = sorted(by_rev)
    if not to_revision:  # None or 0: the previous revision, as kubectl's default
        if len(revisions) < 2:
            raise ConfigError(
                f'deployment "{name}" has no previous revision to undo to (revisions: {revisions}); roll out a change '
                'first'
            )
        target = revisions[-2]
    else:
        if to_revision not in by_rev:
            raise ConfigError(
                f'deployment "{name}" has no revision {to_revision} (has: {revisions}); pick one of those'
            )
        target = to_revision
    rs = by_rev[target]
    rs_name = _meta(rs).get("name", "")
    template = strip_pod_template_hash((rs.get("spec") or {}).get("template") or {})
    current = strip_pod_template_hash((dep.get("spec") or {}).get("template") or {})
    if template == current:
        return UndoPlan(
            name, target, rs_name, True, f"skipped rollback (current template already matches revision {target})"
        )
    dep_ann = _annotations(dep)
    annotations = {k: v for k, v in dep_ann.items() if k in UNDO_KEEPS_FROM_DEPLOYMENT}
    annotations.update({k: v for k, v in _annotations(rs).items() if k not in UNDO_KEEPS_FROM_DEPLOYMENT})
    present = _meta(dep).get("annotations") is not None
    ops = undo_ops(template, annotations, annotations_present=present)
    return UndoPlan(name, target, rs_name, False, f"deployment.apps/{name} rolled back", ops, annotations)


def with_change_cause(manifest: Mapping[str, Any], cause: str | None) -> dict[str, Any]:
    """Deep copy of a manifest with `kubernetes.io/change-cause` set (None: copy unchanged)."""
    out = copy.deepcopy(dict(manifest))
    if cause is not None:
        meta = out.setdefault("metadata", {})
        meta["annotations"] = dict(meta.get("annotations") or {})
        meta["annotations"][CHANGE_CAUSE] = str(cause)
    return out


# --------------------------------------------------------------------------- pure: replica points


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


def describe_rollout(dep: Mapping[str, Any] | None, replicasets: Iterable[Mapping[str, Any]] = ()) -> str:
    """A YAML dump of what matters for a rollout: Deployment spec/status/conditions and its ReplicaSets."""
    doc: dict[str, Any] = {}
    if dep is not None:
        spec = dep.get("spec") or {}
        doc["deployment"] = {
            "name": _meta(dep).get("name"),
            "generation": _meta(dep).get("generation"),
            "annotations": {k: v for k, v in _annotations(dep).items() if k != LAST_APPLIED},
            "replicas": spec.get("replicas"),
            "paused": spec.get("paused", False),
            "strategy": spec.get("strategy"),
            "minReadySeconds": spec.get("minReadySeconds", 0),
            "progressDeadlineSeconds": spec.get("progressDeadlineSeconds"),
            "status": {k: v for k, v in (dep.get("status") or {}).items() if k != "conditions"},
            "conditions": [
                {k: c.get(k) for k in ("type", "status", "reason", "message")}
                for c in (dep.get("status") or {}).get("conditions") or []
            ],
        }
    doc["replicasets"] = [
        {
            "name": _meta(rs).get("name"),
            "revision": _annotations(rs).get(REVISION),
            "spec": (rs.get("spec") or {}).get("replicas"),
            "status": {k: v for k, v in (rs.get("status") or {}).items() if k != "conditions"},
            "images": [
                c.get("image")
                for c in (((rs.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
            ],
        }
        for rs in replicasets
    ]
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)


# --------------------------------------------------------------------------- I/O


@dataclass(frozen=True)
class ApplyResult:
    """What server-side apply returned."""

    name: str
    created: bool
    generation: int
    resource_version: str
    object: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class UndoResult:
    """The outcome of `Deployments.undo`: the plan, and the recorded exchange when a patch went out."""

    plan: UndoPlan
    exchange: Exchange | None = None
    object: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def skipped(self) -> bool:
        return self.plan.skipped

    @property
    def revision(self) -> int:
        return self.plan.revision


def _check_manifest(manifest: Mapping[str, Any], namespace: str) -> str:
    if not isinstance(manifest, Mapping):
        raise ConfigError("deployment manifest must be a mapping (a parsed YAML document)")
    if manifest.get("apiVersion") != "apps/v1" or manifest.get("kind") != "Deployment":
        raise ConfigError(
            f"manifest is {manifest.get('apiVersion')}/{manifest.get('kind')}, not apps/v1 Deployment; fix "
            "apiVersion/kind"
        )
    name = _meta(manifest).get("name")
    if not name:
        raise ConfigError("deployment manifest has no metadata.name; set one")
    ns = _meta(manifest).get("namespace")
    if ns not in (None, namespace):
        raise ConfigError(f"manifest namespace {ns!r} differs from {namespace!r}; drop metadata.namespace or match it")
    return str(name)


class Deployments:
    """Deployment operations in one namespace, as kubectl does them.

    Owns a typed `ApiClient` and (unless one is passed) a `RawApi`; `close()`
    stops any watcher it started and releases both.
    """

    def __init__(
        self,
        access: ClusterAccess,
        namespace: str,
        *,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
        raw: RawApi | None = None,
        field_manager: str = FIELD_MANAGER,
    ) -> None:
        object_path("v1", "namespaces", namespace)  # validates the name
        self.access = access
        self.namespace = namespace
        self.timeouts = timeouts
        self.field_manager = field_manager
        self._client = access.api_client()
        self._apps = kubernetes.client.AppsV1Api(self._client)
        self._own_raw = raw is None
        self.raw = raw if raw is not None else RawApi(access, timeouts)
        self._watchers: list[ReplicaSetWatcher] = []

    def __repr__(self) -> str:
        return f"Deployments(namespace={self.namespace!r}, server={self.access.server!r})"

    def __enter__(self) -> Deployments:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for w in self._watchers:
            try:
                w.stop(raise_error=False)
            except HarnessError:
                pass
        self._watchers.clear()
        try:
            self._client.close()  # type: ignore[no-untyped-call]
        finally:
            if self._own_raw:
                self.raw.close()

    @property
    def exchanges(self) -> list[Exchange]:
        """Every raw exchange (undo, set-image, patch) so far."""
        return self.raw.exchanges

    # -- typed-client plumbing

    def _call(self, fn: Any, *args: Any, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        return self._call_status(fn, *args, method=method, path=path, **kwargs)[1]

    def _call_status(self, fn: Any, *args: Any, method: str, path: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
        status, body = call_api(
            fn,
            *args,
            method=method,
            path=path,
            timeout=self.timeouts.api_request,
            server=self.access.server,
            with_status=True,
            **kwargs,
        )
        if not isinstance(body, dict):
            raise ProviderError(f"{method} {path}: the API server answered {status} without a JSON object")
        return int(status), body

    def _path(self, name: str | None = None, sub: str = "") -> str:
        resource = "deployments" + (f"/{sub}" if sub else "")
        return object_path("apps/v1", resource, name, self.namespace)

    def get(self, name: str) -> dict[str, Any]:
        return self._call(
            self._apps.read_namespaced_deployment, name, self.namespace, method="GET", path=self._path(name)
        )

    def list_replicasets(self) -> list[dict[str, Any]]:
        body = self._call(
            self._apps.list_namespaced_replica_set,
            self.namespace,
            method="GET",
            path=object_path("apps/v1", "replicasets", None, self.namespace),
        )
        return list(body.get("items") or [])

    def replicasets(self, name: str, dep: Mapping[str, Any] | None = None) -> list[Mapping[str, Any]]:
        """The ReplicaSets the Deployment controls."""
        dep = dep if dep is not None else self.get(name)
        return owned_replicasets(dep, self.list_replicasets())

    # -- operations

    def apply(self, manifest: Mapping[str, Any], change_cause: str | None = None) -> ApplyResult:
        """Create or update by server-side apply (force, field manager `field_manager`).

        `change_cause` is written to `kubernetes.io/change-cause` in the same
        request, as `--record` did. Server-side apply semantics: a field this
        manager applied before and leaves out now is removed — including a
        change-cause from an earlier apply when `change_cause` is None (where
        `--record`-less kubectl left the stale one in place).
        """
        name = _check_manifest(manifest, self.namespace)
        body = with_change_cause(manifest, change_cause)
        body.setdefault("metadata", {})["namespace"] = self.namespace
        status, obj = self._call_status(
            self._apps.patch_namespaced_deployment,
            name,
            self.namespace,
            body,
            field_manager=self.field_manager,
            force=True,
            _content_type=APPLY_PATCH_YAML,
            method="PATCH",
            path=self._path(name),
        )
        meta = _meta(obj)
        return ApplyResult(
            name=name,
            created=status == 201,
            generation=int(meta.get("generation") or 0),
            resource_version=str(meta.get("resourceVersion", "")),
            object=obj,
        )

    def delete(self, name: str) -> None:
        self._call(
            self._apps.delete_namespaced_deployment, name, self.namespace, method="DELETE", path=self._path(name)
        )

    def rollout_status(self, name: str) -> RolloutStatus:
        return rollout_status(self.get(name))

    def wait_rollout_complete(self, name: str, timeout: float | None = None) -> RolloutStatus:
        """Poll until `rollout_status` says done (see its rules).

        Raises `RolloutFailed` on ProgressDeadlineExceeded and `WaitTimeout`
        (with the last verdict and a dump of the Deployment and its
        ReplicaSets) when `timeout` (default `timeouts.rollout`) runs out."""
        timeout = self.timeouts.rollout if timeout is None else timeout
        deadline = clock() + timeout
        stop = threading.Event()
        while True:
            dep = self.get(name)
            st = rollout_status(dep)
            if st.done:
                return st
            if st.failed:
                cond = _condition(dep, "Progressing") or {}
                raise RolloutFailed(
                    name,
                    str(cond.get("reason", "")),
                    str(cond.get("message", "")),
                    describe_rollout(dep, self._safe_replicasets(dep)),
                )
            remaining = deadline - clock()
            if remaining <= 0:
                raise WaitTimeout(
                    f'deployment "{self.namespace}/{name}" to finish its rollout',
                    timeout,
                    st.summary(),
                    describe_rollout(dep, self._safe_replicasets(dep)),
                )
            stop.wait(min(self.timeouts.poll_interval, remaining))

    def _safe_replicasets(self, dep: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        try:
            return owned_replicasets(dep, self.list_replicasets())
        except HarnessError:
            return []

    def history(self, name: str) -> list[Revision]:
        """`kubectl rollout history`: one `Revision` per owned ReplicaSet, by revision."""
        dep = self.get(name)
        return parse_history(dep, self.list_replicasets())

    def undo(self, name: str, to_revision: int | None = None, *, dry_run: bool = False) -> UndoResult:
        """`kubectl rollout undo [--to-revision N]` (see `plan_undo` for exactly what is sent).

        The JSON patch goes through `RawApi`, so it is in `exchanges`."""
        dep = self.get(name)
        plan = plan_undo(dep, self.list_replicasets(), to_revision)
        if plan.skipped:
            return UndoResult(plan)
        req = json_patch(
            deployment_path(self.namespace, name), plan.ops, field_manager=self.field_manager, dry_run=dry_run
        )
        resp = self.raw.call(req)
        return UndoResult(plan, self.raw.exchanges[-1], resp.body if isinstance(resp.body, dict) else {})

    def patch(self, name: str, ops: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """A JSON patch through `RawApi` (recorded); returns the updated object."""
        resp = self.raw.call(json_patch(deployment_path(self.namespace, name), ops, field_manager=self.field_manager))
        return resp.body if isinstance(resp.body, dict) else {}

    def set_image(self, name: str, container: str, image: str, change_cause: str | None = None) -> dict[str, Any]:
        """`kubectl set image [--record]` as one recorded JSON patch."""
        dep = self.get(name)
        ops = set_image_ops(dep, container, image)
        if change_cause is not None:
            ops += change_cause_ops(dep, change_cause)
        return self.patch(name, ops)

    def pause(self, name: str) -> dict[str, Any]:
        """`kubectl rollout pause` (idempotent here; kubectl errors when already paused)."""
        return self._set_paused(name, True)

    def resume(self, name: str) -> dict[str, Any]:
        """`kubectl rollout resume` (idempotent here)."""
        return self._set_paused(name, False)

    def _set_paused(self, name: str, paused: bool) -> dict[str, Any]:
        return self._call(
            self._apps.patch_namespaced_deployment,
            name,
            self.namespace,
            {"spec": {"paused": paused}},
            field_manager=self.field_manager,
            _content_type=STRATEGIC_MERGE_PATCH,
            method="PATCH",
            path=self._path(name),
        )

    def scale(self, name: str, replicas: int) -> dict[str, Any]:
        """`kubectl scale --replicas=N` through the scale subresource (no new revision)."""
        if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0:
            raise ConfigError(f"replicas must be an int ≥ 0, not {replicas!r}")
        return self._call(
            self._apps.patch_namespaced_deployment_scale,
            name,
            self.namespace,
            {"spec": {"replicas": replicas}},
            field_manager=self.field_manager,
            _content_type=MERGE_PATCH,
            method="PATCH",
            path=self._path(name, "scale"),
        )

    def watch_replicasets(
        self, name: str, *, max_points: int = 100_000, max_duration: float | None = None
    ) -> ReplicaSetWatcher:
        """Start a `ReplicaSetWatcher` for this Deployment's ReplicaSets (stopped by `close()` too)."""
        w = ReplicaSetWatcher(
            self._client,
            self.namespace,
            name,
            timeouts=self.timeouts,
            max_points=max_points,
            max_duration=max_duration,
            server=self.access.server,
        )
        self._watchers.append(w)
        return w.start()


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
            timeouts=timeouts,
            path=object_path("apps/v1", "replicasets", None, namespace),
            max_duration=timeouts.probe_max_duration if max_duration is None else max_duration,
            thread_name=f"rs-watch-{namespace}-{deployment}",
            server=server,
        )
        self.namespace = namespace
        self.deployment = deployment
        self.max_points = max_points
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
        ref = _controller_ref(rs)
        if ref is None or ref.get("kind") != "Deployment" or ref.get("name") != self.deployment:
            return
        point = replica_point(rs, clock(), deleted=deleted)
        key = (point.replicas, point.ready, point.available, point.revision)
        with self._lock:
            if self._last.get(point.owner) == key:
                return
            if self._keep(point, self.max_points):
                self._last[point.owner] = key
