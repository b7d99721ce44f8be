"""Waiting for a fresh cluster: every node Ready, every kube-system pod Running and ready."""

from __future__ import annotations

import time

from kubernetes import client

from ..errors import HarnessError
from ..kube.config import kube_errors
from ..poll import poll
from ..timeouts import DEFAULT_TIMEOUTS

__all__ = ["wait_cluster_ready", "cluster_state"]


def cluster_state(api: client.ApiClient) -> tuple[list[str], list[str]]:
    """(problems with nodes, problems with kube-system pods); both empty when ready."""
    core = client.CoreV1Api(api)
    node_problems = []
    with kube_errors("GET", "/api/v1/nodes", DEFAULT_TIMEOUTS.api_request):
        nodes = core.list_node().items
    if not nodes:
        node_problems.append("no nodes registered")
    for node in nodes:
        ready = next((c for c in node.status.conditions or [] if c.type == "Ready"), None)
        if ready is None or ready.status != "True":
            node_problems.append(f"node {node.metadata.name} not Ready ({ready.reason if ready else 'no condition'})")
    pod_problems = []
    with kube_errors("GET", "/api/v1/namespaces/kube-system/pods", DEFAULT_TIMEOUTS.api_request):
        pods = core.list_namespaced_pod("kube-system").items
    if not pods:
        pod_problems.append("no kube-system pods yet")
    for pod in pods:
        statuses = pod.status.container_statuses or []
        waiting = [s.state.waiting.reason for s in statuses if s.state and s.state.waiting]
        if pod.status.phase != "Running" or not statuses or not all(s.ready for s in statuses):
            pod_problems.append(
                f"pod {pod.metadata.name} {pod.status.phase}"
                + (f" ({', '.join(w for w in waiting if w)})" if any(waiting) else "")
            )
    return node_problems, pod_problems


def wait_cluster_ready(api: client.ApiClient, timeout: float, interval: float) -> float:
    """Block until the cluster is ready; returns the seconds it took."""
    started = time.monotonic()

    def ready() -> tuple[bool, str]:
        try:
            nodes, pods = cluster_state(api)
        except HarnessError as exc:  # the API server is still starting
            return False, f"API not answering: {exc}"
        return not nodes and not pods, "; ".join(nodes + pods)

    poll(ready, waited_for="every node Ready and every kube-system pod Running", timeout=timeout, interval=interval)
    return time.monotonic() - started
