"""Waiting on plain workload objects (RCs, pods) by label: bounded, saying what was seen."""

from __future__ import annotations

from typing import Any

from kubernetes import client

from .kube.config import kube_errors
from .poll import poll
from .timeouts import DEFAULT_TIMEOUTS

__all__ = ["ready_pods", "wait_ready_pods", "pod_env"]


def _selector(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def ready_pods(core: client.CoreV1Api, namespace: str, labels: dict[str, str]) -> list[Any]:
    """Pods matching `labels` that are Ready and not terminating."""
    with kube_errors("GET", f"/api/v1/namespaces/{namespace}/pods", DEFAULT_TIMEOUTS.api_request):
        pods = core.list_namespaced_pod(namespace, label_selector=_selector(labels)).items
    return [
        p
        for p in pods
        if p.metadata.deletion_timestamp is None
        and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
    ]


def wait_ready_pods(
    core: client.CoreV1Api, namespace: str, labels: dict[str, str], count: int, timeout: float, interval: float
) -> list[Any]:
    """Block until exactly `count` matching pods are Ready (and none more)."""

    def ready() -> tuple[bool, list[Any]]:
        seen = ready_pods(core, namespace, labels)
        return len(seen) == count, seen

    return poll(
        ready,
        waited_for=f"{count} ready pods with {_selector(labels)} in {namespace}",
        timeout=timeout,
        interval=interval,
        describe=lambda seen: f"{len(seen)} ready: {', '.join(p.metadata.name for p in seen) or 'none'}",
    )


def pod_env(pod: Any, name: str) -> str | None:
    """The value of env var `name` in the pod's first container."""
    for env in pod.spec.containers[0].env or []:
        if env.name == name:
            return env.value
    return None
