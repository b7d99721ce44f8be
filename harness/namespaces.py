"""A namespace per test: unique names, a dump on failure, deletion that is waited for."""

from __future__ import annotations

import re
import secrets
import time

from kubernetes import client

from .errors import WaitTimeout

__all__ = ["namespace_name", "create_namespace", "delete_namespace", "dump_namespace", "LABEL"]

LABEL = "rollproof.io/test"


def namespace_name(test_name: str) -> str:
    """`rp-<test name slug>-<random>`, a valid DNS label of at most 63 characters."""
    slug = re.sub(r"[^a-z0-9]+", "-", test_name.lower()).strip("-")[:40].strip("-") or "test"
    return f"rp-{slug}-{secrets.token_hex(3)}"


def create_namespace(core: client.CoreV1Api, test_name: str) -> str:
    name = namespace_name(test_name)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(
        name=name, labels={LABEL: "true"})))
    return name


def _drop_own_finalizers(core: client.CoreV1Api, name: str) -> None:
    """Remove `rollproof/...` finalizers (an interrupted RC rename) so deletion can finish."""
    for rc in core.list_namespaced_replication_controller(name).items:
        finalizers = rc.metadata.finalizers or []
        kept = [f for f in finalizers if not f.startswith("rollproof/")]
        if kept != finalizers:
            core.patch_namespaced_replication_controller(rc.metadata.name, name, {"metadata": {"finalizers": kept}})


def delete_namespace(core: client.CoreV1Api, name: str, timeout: float, interval: float) -> None:
    """Delete `name` and wait until it is gone."""
    try:
        _drop_own_finalizers(core, name)
        core.delete_namespace(name, grace_period_seconds=0)
    except client.ApiException as exc:
        if exc.status == 404:
            return
        raise
    started = time.monotonic()
    phase = "Terminating"
    while time.monotonic() - started < timeout:
        try:
            phase = core.read_namespace(name).status.phase
        except client.ApiException as exc:
            if exc.status == 404:
                return
            raise
        time.sleep(interval)
    pods = core.list_namespaced_pod(name).items
    left = ", ".join(f"{p.metadata.name} ({p.status.phase})" for p in pods) or "no pods"
    raise WaitTimeout(f"namespace {name} to be deleted", timeout, f"phase {phase}; {left}")


def dump_namespace(api: client.ApiClient, name: str) -> str:
    """A readable dump of what a namespace holds, for failure reports."""
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    lines = [f"namespace {name}"]
    try:
        for dep in apps.list_namespaced_deployment(name).items:
            s = dep.status
            lines.append(f"deployment {dep.metadata.name}: gen {dep.metadata.generation} observed "
                         f"{s.observed_generation} replicas {s.replicas} updated {s.updated_replicas} "
                         f"ready {s.ready_replicas} available {s.available_replicas}")
        for rs in apps.list_namespaced_replica_set(name).items:
            ann = rs.metadata.annotations or {}
            lines.append(f"replicaset {rs.metadata.name}: rev {ann.get('deployment.kubernetes.io/revision')} "
                         f"spec {rs.spec.replicas} ready {rs.status.ready_replicas}")
        for rc in core.list_namespaced_replication_controller(name).items:
            lines.append(f"rc {rc.metadata.name}: spec {rc.spec.replicas} ready {rc.status.ready_replicas} "
                         f"annotations {rc.metadata.annotations or {}}")
        for pod in core.list_namespaced_pod(name).items:
            images = ",".join(c.image for c in pod.spec.containers)
            ready = all(cs.ready for cs in pod.status.container_statuses or []) and bool(pod.status.container_statuses)
            lines.append(f"pod {pod.metadata.name}: {pod.status.phase} ready={ready} node={pod.spec.node_name} "
                         f"ip={pod.status.pod_ip} image={images}")
        events = sorted(core.list_namespaced_event(name).items,
                        key=lambda e: (e.last_timestamp or e.event_time or e.metadata.creation_timestamp))
        for event in events[-40:]:
            lines.append(f"event {event.involved_object.kind}/{event.involved_object.name}: {event.reason}: "
                         f"{(event.message or '').strip()}")
    except client.ApiException as exc:
        lines.append(f"(dump incomplete: {exc.status} {exc.reason})")
    return "\n".join(lines)
