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
import threading
from collections.abc import Callable, Mapping
from typing import Any

import kubernetes.client
import yaml

from harness.errors import ConfigError, HarnessError, WaitTimeout
from harness.kube.config import call_api
from harness.kube.patches import FIELD_MANAGER, apply_patch, object_path
from harness.kube.raw import RawApi
from harness.rollout.history import SetRevision, set_revisions
from harness.rollout.pods import PodState, describe_pods, label_selector, pod_state
from harness.rollout.status import SetRolloutStatus, daemonset_rollout_status, statefulset_rollout_status
from harness.samples import clock
from harness.timeouts import DEFAULT_TIMEOUTS, Timeouts

__all__ = [
    "apply_object",
    "list_pods",
    "list_revisions",
    "wait_statefulset_rollout",
    "wait_daemonset_rollout",
]


_RESOURCES = {"StatefulSet": "statefulsets", "DaemonSet": "daemonsets"}


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


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
        label_selector=label_selector(labels),
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
