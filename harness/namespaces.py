"""A namespace per test: unique names, owner-labelled, a dump on failure, deletion that is waited for.

Every namespace made here carries the owner labels and annotations of
`harness.leftovers`, so one left by an interrupted run is recognised (and
removed once that run is gone) by the next session or `rollproof cluster sweep`.
API errors come out as `harness.errors` (a 403 as one line naming the verb).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from typing import Any

from kubernetes import client

from .errors import HarnessError, NotFound
from .kube.config import call_api, kube_errors
from .kube.patches import object_path
from .leftovers import owner_annotations, owner_labels
from .poll import poll
from .timeouts import DEFAULT_TIMEOUTS, Timeouts

__all__ = [
    "namespace_name",
    "create_namespace",
    "delete_namespace",
    "start_delete",
    "wait_deleted",
    "NamespaceReaper",
    "dump_namespace",
    "drop_own_finalizers",
    "LABEL",
]

LABEL = "rollproof.io/test"


def namespace_name(test_name: str) -> str:
    """`rp-<test name slug>-<random>`, a valid DNS label of at most 63 characters."""
    slug = re.sub(r"[^a-z0-9]+", "-", test_name.lower()).strip("-")[:40].strip("-") or "test"
    return f"rp-{slug}-{secrets.token_hex(3)}"


def create_namespace(core: client.CoreV1Api, test_name: str, timeouts: Timeouts = DEFAULT_TIMEOUTS) -> str:
    """Create `rp-<test>-<random>`, labelled and annotated with this run as its owner."""
    name = namespace_name(test_name)
    body = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {LABEL: "true", **owner_labels()}, "annotations": owner_annotations()},
    }
    call_api(core.create_namespace, body, method="POST", path="/api/v1/namespaces", timeout=timeouts.api_request)
    return name


def drop_own_finalizers(core: client.CoreV1Api, name: str, timeouts: Timeouts = DEFAULT_TIMEOUTS) -> None:
    """Remove `rollproof/...` finalizers (an interrupted RC rename) so deletion can finish."""
    path = f"/api/v1/namespaces/{name}/replicationcontrollers"
    body = call_api(
        core.list_namespaced_replication_controller, name, method="GET", path=path, timeout=timeouts.api_request
    )
    for rc in body.get("items", []):
        meta = rc.get("metadata", {})
        finalizers = meta.get("finalizers") or []
        kept = [f for f in finalizers if not f.startswith("rollproof/")]
        if kept != finalizers:
            call_api(
                core.patch_namespaced_replication_controller,
                meta["name"],
                name,
                {"metadata": {"finalizers": kept}},
                method="PATCH",
                path=f"{path}/{meta['name']}",
                timeout=timeouts.api_request,
            )


def start_delete(core: client.CoreV1Api, name: str, timeouts: Timeouts = DEFAULT_TIMEOUTS) -> bool:
    """Ask for `name` to be deleted (its own finalizers dropped first); False when it is already gone."""
    path = f"/api/v1/namespaces/{name}"
    try:
        drop_own_finalizers(core, name, timeouts)
        call_api(
            core.delete_namespace,
            name,
            method="DELETE",
            path=path,
            timeout=timeouts.api_request,
            grace_period_seconds=0,
        )
    except NotFound:
        return False
    return True


def wait_deleted(
    core: client.CoreV1Api, names: list[str], timeout: float, interval: float, timeouts: Timeouts = DEFAULT_TIMEOUTS
) -> None:
    """Wait until every namespace in `names` is gone; WaitTimeout names those left and their pods."""
    left = list(names)
    phases: dict[str, str] = {}

    def gone() -> tuple[bool, list[str]]:
        for name in list(left):
            try:
                body = call_api(
                    core.read_namespace,
                    name,
                    method="GET",
                    path=f"/api/v1/namespaces/{name}",
                    timeout=timeouts.api_request,
                )
            except NotFound:
                left.remove(name)
                continue
            phases[name] = (body.get("status") or {}).get("phase", "Terminating")
        return not left, left

    def describe(left: list[str]) -> str:
        seen = []
        for name in left:
            pods = call_api(
                core.list_namespaced_pod,
                name,
                method="GET",
                path=f"/api/v1/namespaces/{name}/pods",
                timeout=timeouts.api_request,
            ).get("items", [])
            held = ", ".join(f"{p['metadata']['name']} ({(p.get('status') or {}).get('phase')})" for p in pods)
            seen.append(f"{name}: phase {phases.get(name)}; {held or 'no pods'}")
        return "; ".join(seen)

    what = f"namespace {names[0]}" if len(names) == 1 else f"{len(names)} namespaces"
    poll(gone, waited_for=f"{what} to be deleted", timeout=timeout, interval=interval, describe=describe)


def delete_namespace(
    core: client.CoreV1Api, name: str, timeout: float, interval: float, timeouts: Timeouts = DEFAULT_TIMEOUTS
) -> None:
    """Delete `name` and wait until it is gone."""
    if start_delete(core, name, timeouts):
        wait_deleted(core, [name], timeout, interval, timeouts)


class NamespaceReaper:
    """Test namespaces deleted in the background: each test asks and goes on, the session waits once.

    A namespace's pods end with their own grace (a preStop sleep, nginx's shutdown),
    which no test needs to wait for; `finish` waits for all of them, with one
    timeout per namespace still deleting, and says which are left. On a cluster the
    session deletes next there is nothing to wait for: the namespaces go with it.
    """

    def __init__(self, core: client.CoreV1Api, timeouts: Timeouts) -> None:
        self.core, self.timeouts = core, timeouts
        self.pending: list[str] = []

    def delete(self, name: str) -> None:
        if start_delete(self.core, name, self.timeouts):
            self.pending.append(name)

    def finish(self, *, wait: bool = True) -> list[str]:
        """Wait (unless not `wait`) for every namespace asked to be deleted; return those not waited for."""
        pending, self.pending = self.pending, []
        if pending and wait:
            wait_deleted(self.core, pending, self.timeouts.namespace_delete, self.timeouts.poll_interval, self.timeouts)
            return []
        return pending


def _items(fn: Callable[[str], Any], name: str, path: str) -> list[Any]:
    """A typed-client list of namespace `name`, through the one error boundary."""
    with kube_errors("GET", path, DEFAULT_TIMEOUTS.api_request):
        return list(fn(name).items)


def dump_namespace(api: client.ApiClient, name: str) -> str:
    """A readable dump of what a namespace holds, for failure reports."""
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    lines = [f"namespace {name}"]
    try:
        for dep in _items(apps.list_namespaced_deployment, name, object_path("apps/v1", "deployments", None, name)):
            s = dep.status
            lines.append(
                f"deployment {dep.metadata.name}: gen {dep.metadata.generation} observed "
                f"{s.observed_generation} replicas {s.replicas} updated {s.updated_replicas} "
                f"ready {s.ready_replicas} available {s.available_replicas}"
            )
        for rs in _items(apps.list_namespaced_replica_set, name, object_path("apps/v1", "replicasets", None, name)):
            ann = rs.metadata.annotations or {}
            lines.append(
                f"replicaset {rs.metadata.name}: rev {ann.get('deployment.kubernetes.io/revision')} "
                f"spec {rs.spec.replicas} ready {rs.status.ready_replicas}"
            )
        rc_path = object_path("v1", "replicationcontrollers", None, name)
        for rc in _items(core.list_namespaced_replication_controller, name, rc_path):
            lines.append(
                f"rc {rc.metadata.name}: spec {rc.spec.replicas} ready {rc.status.ready_replicas} "
                f"annotations {rc.metadata.annotations or {}}"
            )
        for pod in _items(core.list_namespaced_pod, name, object_path("v1", "pods", None, name)):
            images = ",".join(c.image for c in pod.spec.containers)
            ready = all(cs.ready for cs in pod.status.container_statuses or []) and bool(pod.status.container_statuses)
            lines.append(
                f"pod {pod.metadata.name}: {pod.status.phase} ready={ready} node={pod.spec.node_name} "
                f"ip={pod.status.pod_ip} image={images}"
            )
        events = sorted(
            _items(core.list_namespaced_event, name, object_path("v1", "events", None, name)),
            key=lambda e: e.last_timestamp or e.event_time or e.metadata.creation_timestamp,
        )
        for event in events[-40:]:
            lines.append(
                f"event {event.involved_object.kind}/{event.involved_object.name}: {event.reason}: "
                f"{(event.message or '').strip()}"
            )
    except HarnessError as exc:
        lines.append(f"(dump incomplete: {exc})")
    return "\n".join(lines)
