"""StatefulSets and DaemonSets on a cluster: apply, list their pods and revisions, and wait
for their rollouts.

These controllers own their pods directly, with no ReplicaSet in between. The
waits poll kubectl's rules (`harness.rollout.status`) and raise `WaitTimeout`
saying what they waited for and what they last saw, with the status and the pods.
Their manifests are built by `harness.manifests`; their pods are watched by
`harness.rollout.podwatcher.PodWatcher`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import kubernetes.client
import yaml

from harness.errors import ConfigError, HarnessError
from harness.kube.clientapply import client_apply
from harness.kube.config import call_api
from harness.kube.patches import FIELD_MANAGER, apply_patch, object_path
from harness.kube.raw import RawApi
from harness.poll import poll
from harness.rollout.history import SetRevision, set_revisions
from harness.rollout.pods import PodState, describe_pods, label_selector, pod_state
from harness.rollout.status import SetRolloutStatus, daemonset_rollout_status, statefulset_rollout_status
from harness.timeouts import DEFAULT_TIMEOUTS, Timeouts

__all__ = [
    "apply_object",
    "list_pods",
    "list_revisions",
    "wait_set_rollout",
]


@dataclass(frozen=True)
class _SetKind:
    """How to read one kind of pod set, judge its rollout and name it in a wait."""

    resource: str
    read: str  # the AppsV1Api method
    rules: Callable[[Mapping[str, Any]], SetRolloutStatus]
    what: str


_KINDS = {
    "StatefulSet": _SetKind("statefulsets", "read_namespaced_stateful_set", statefulset_rollout_status, "statefulset"),
    "DaemonSet": _SetKind("daemonsets", "read_namespaced_daemon_set", daemonset_rollout_status, "daemon set"),
}


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def apply_object(
    raw: RawApi, obj: Mapping[str, Any], namespace: str, *, field_manager: str = FIELD_MANAGER
) -> dict[str, Any]:
    """Server-side apply (force) of a StatefulSet or DaemonSet through `raw` (so the
    exchange is recorded), or kubectl's client-side apply where `raw.server_side_apply` is
    False (before 1.16); returns the object the server answered with."""
    kind = obj.get("kind")
    if obj.get("apiVersion") != "apps/v1" or kind not in _KINDS:
        raise ConfigError(f"apply_object takes apps/v1 StatefulSet or DaemonSet, not {obj.get('apiVersion')}/{kind}")
    name = _meta(obj).get("name")
    if not name:
        raise ConfigError(f"{kind} manifest has no metadata.name; set one")
    body = copy.deepcopy(dict(obj))
    body["metadata"]["namespace"] = namespace
    if not raw.server_side_apply:
        resp = client_apply(raw, "apps/v1", _KINDS[kind].resource, body, namespace, field_manager=field_manager)
        return resp.body if isinstance(resp.body, dict) else {}
    resp = raw.call(
        apply_patch(
            object_path("apps/v1", _KINDS[kind].resource, name, namespace),
            body,
            field_manager=field_manager,
            force=True,
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
        label_selector=label_selector(labels),
        method="GET",
        path=path,
        timeout=timeouts.api_request,
    )
    return [pod_state(p) for p in body.get("items") or []]


def wait_set_rollout(
    apps: kubernetes.client.AppsV1Api,
    core: kubernetes.client.CoreV1Api,
    namespace: str,
    kind: str,
    name: str,
    timeouts: Timeouts = DEFAULT_TIMEOUTS,
    timeout: float | None = None,
) -> SetRolloutStatus:
    """Poll `kubectl rollout status`'s rules for StatefulSet or DaemonSet (`kind`) `name` until
    done (`statefulset_rollout_status`, `daemonset_rollout_status`); `WaitTimeout` (with the
    last verdict, the status and the pods) after `timeout` (default `timeouts.rollout`)."""
    if kind not in _KINDS:
        raise ConfigError(f"wait_set_rollout takes kind StatefulSet or DaemonSet, not {kind!r}")
    spec = _KINDS[kind]
    path = object_path("apps/v1", spec.resource, name, namespace)
    read = getattr(apps, spec.read)

    def probe() -> tuple[bool, tuple[dict[str, Any], SetRolloutStatus]]:
        obj: dict[str, Any] = call_api(read, name, namespace, method="GET", path=path, timeout=timeouts.api_request)
        verdict = spec.rules(obj)
        return verdict.done, (obj, verdict)

    def dump(seen: tuple[dict[str, Any], SetRolloutStatus]) -> str:
        obj = seen[0]
        labels = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {"app": name}
        try:
            pods = describe_pods(list_pods(core, namespace, labels, timeouts))
        except HarnessError as exc:
            pods = f"(pods not listed: {exc})"
        return yaml.safe_dump({"status": obj.get("status") or {}}, sort_keys=False) + pods

    _, verdict = poll(
        probe,
        waited_for=f'{spec.what} "{namespace}/{name}" to finish its rollout',
        timeout=timeouts.rollout if timeout is None else timeout,
        interval=timeouts.rollout_poll,
        describe=lambda seen: seen[1].summary(),
        dump=dump,
    )
    return verdict
