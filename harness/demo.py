"""The walkthrough's demo app on a live cluster: Services, NodePorts and probe windows."""

from __future__ import annotations

import time
from typing import Any

from kubernetes import client

from .cluster.model import Cluster
from .errors import ProviderError, WaitTimeout
from .manifests import service
from .samples import ProbeSample, clock

__all__ = ["free_node_port", "create_service", "wait_first_answer", "observe_for"]


def free_node_port(core: client.CoreV1Api, cluster: Cluster) -> int | None:
    """A NodePort the kind config maps to 127.0.0.1 that no Service uses; None without mappings."""
    if not cluster.node_ports.ports:
        return None
    used = {p.node_port for svc in core.list_service_for_all_namespaces().items
            for p in svc.spec.ports or [] if p.node_port}
    for port in cluster.node_ports.node_ports:
        if port not in used:
            return port
    raise ProviderError(f"every mapped NodePort ({', '.join(map(str, cluster.node_ports.node_ports))}) is in use: "
                        "delete leftover Services, or recreate the cluster with more mappings")


def create_service(core: client.CoreV1Api, cluster: Cluster, namespace: str, name: str,
                   selector: dict[str, str]) -> dict[str, Any]:
    """The demo Service: NodePort mapped to 127.0.0.1 when the cluster has one, else ClusterIP."""
    body = service(name, selector, free_node_port(core, cluster))
    core.create_namespaced_service(namespace, body)
    return body


def wait_first_answer(prober: Any, timeout: float, interval: float) -> ProbeSample:
    """Block until the prober has recorded a successful answer."""
    started = clock()
    last: ProbeSample | None = None
    while clock() - started < timeout:
        samples = prober.samples()
        ok = next((s for s in samples if s.ok), None)
        if ok is not None:
            return ok
        last = samples[-1] if samples else last
        if prober.wait(0):  # it ended by itself (limits reached): no answer will come
            break
        time.sleep(interval)
    seen = (f"{last.status} {last.error or ''} server={last.server}" if last else "no request completed")
    raise WaitTimeout("the Service to answer through the prober", timeout, seen)


def observe_for(seconds: float) -> None:
    """Let the probers watch the settled state for a named observation window."""
    deadline = clock() + seconds
    while clock() < deadline:
        time.sleep(min(0.1, deadline - clock()))
