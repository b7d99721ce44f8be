"""kubectl-equivalent Deployment operations: apply, rollout status, history, undo, pause, scale.

`Deployments` does the I/O over the typed client (undo and set-image go through
`RawApi` so the exchange is recorded); the rules it applies are the pure ones of
`harness.rollout.status` and `harness.rollout.history`, and its ReplicaSet
watcher is `harness.rollout.replicasets.ReplicaSetWatcher`.

Objects are handled as API JSON (camelCase dicts), exactly as the server sent them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import kubernetes.client

from harness.errors import ConfigError, HarnessError, ProviderError
from harness.kube.config import ClusterAccess, call_api
from harness.kube.patches import (
    APPLY_PATCH_YAML,
    FIELD_MANAGER,
    MERGE_PATCH,
    STRATEGIC_MERGE_PATCH,
    change_cause_ops,
    deployment_path,
    json_patch,
    object_path,
    set_image_ops,
)
from harness.kube.clientapply import client_apply
from harness.kube.raw import Exchange, RawApi
from harness.poll import poll
from harness.rollout.history import Revision, owned_replicasets, parse_history, plan_undo, with_change_cause
from harness.rollout.history import UndoPlan
from harness.rollout.replicasets import ReplicaSetWatcher
from harness.rollout.status import RolloutStatus, condition, describe_rollout, rollout_status
from harness.timeouts import DEFAULT_TIMEOUTS, Timeouts

__all__ = ["RolloutFailed", "ApplyResult", "UndoResult", "Deployments"]


class RolloutFailed(HarnessError):
    """The Deployment reported ProgressDeadlineExceeded: the rollout will not finish by itself."""

    def __init__(self, name: str, reason: str, message: str, dump: str = "") -> None:
        self.name = name
        self.reason = reason
        self.condition_message = message
        self.dump = dump
        super().__init__(f'deployment "{name}" exceeded its progress deadline ({reason}: {message})')


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


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
        """Create or update by server-side apply (force, field manager `field_manager`), or where the
        server has none (`raw.server_side_apply` False, before 1.16) as kubectl's client-side apply did.

        `change_cause` is written to `kubernetes.io/change-cause` in the same
        request, as `--record` did. Server-side apply semantics: a field this
        manager applied before and leaves out now is removed — including a
        change-cause from an earlier apply when `change_cause` is None (where
        `--record`-less kubectl left the stale one in place).
        """
        name = _check_manifest(manifest, self.namespace)
        body = with_change_cause(manifest, change_cause)
        body.setdefault("metadata", {})["namespace"] = self.namespace
        if not self.raw.server_side_apply:
            resp = client_apply(
                self.raw, "apps/v1", "deployments", body, self.namespace, field_manager=self.field_manager
            )
            status, obj = resp.status, resp.body if isinstance(resp.body, dict) else {}
        else:
            status, obj = self._server_side_apply(name, body)
        meta = _meta(obj)
        return ApplyResult(
            name=name,
            created=status == 201,
            generation=int(meta.get("generation") or 0),
            resource_version=str(meta.get("resourceVersion", "")),
            object=obj,
        )

    def _server_side_apply(self, name: str, body: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        return self._call_status(
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

        def probe() -> tuple[bool, tuple[dict[str, Any], RolloutStatus]]:
            dep = self.get(name)
            st = rollout_status(dep)
            if st.failed:
                cond = condition(dep, "Progressing") or {}
                raise RolloutFailed(name, str(cond.get("reason", "")), str(cond.get("message", "")), self._dump(dep))
            return st.done, (dep, st)

        _, verdict = poll(
            probe,
            waited_for=f'deployment "{self.namespace}/{name}" to finish its rollout',
            timeout=timeout,
            interval=self.timeouts.rollout_poll,
            describe=lambda seen: seen[1].summary(),
            dump=lambda seen: self._dump(seen[0]),
        )
        return verdict

    def _dump(self, dep: Mapping[str, Any]) -> str:
        return describe_rollout(dep, self._safe_replicasets(dep))

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
