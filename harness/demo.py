"""The walkthrough's demo app on a live cluster: Services, NodePorts and probe windows."""

from __future__ import annotations

import logging
from typing import Any

from kubernetes import client

from .cluster.flows import forget_flows
from .cluster.model import Cluster
from .errors import ApiError, ProviderError, WaitTimeout
from .kube.config import call_api
from .leftovers import owner_annotations, owner_labels
from .manifests import keepalive_lifetime, service
from .poll import poll
from .sampler import Prober
from .samples import ProbeSample
from .timeouts import DEFAULT_TIMEOUTS, Timeouts

__all__ = ["free_node_port", "create_service", "connection_lifetime", "wait_first_answer"]

log = logging.getLogger(__name__)


_ALLOCATED = "provided port is already allocated"


def _used_node_ports(core: client.CoreV1Api, timeouts: Timeouts) -> set[int]:
    body = call_api(
        core.list_service_for_all_namespaces, method="GET", path="/api/v1/services", timeout=timeouts.api_request
    )
    return {
        p["nodePort"]
        for svc in body.get("items", [])
        for p in (svc.get("spec") or {}).get("ports") or []
        if p.get("nodePort")
    }


def _all_in_use(cluster: Cluster) -> ProviderError:
    return ProviderError(
        f"every mapped NodePort ({', '.join(map(str, cluster.node_ports.node_ports))}) is in use: "
        "leftover Services of earlier runs are removed by `rollproof cluster sweep "
        f"{cluster.name}`; others by their owners, or recreate the cluster"
    )


def free_node_port(
    core: client.CoreV1Api,
    cluster: Cluster,
    exclude: frozenset[int] = frozenset(),
    timeouts: Timeouts = DEFAULT_TIMEOUTS,
) -> int | None:
    """A NodePort the kind config maps to 127.0.0.1 that no Service uses; None without mappings.

    Only a hint: another run may take it before this one creates its Service
    (`create_service` retries on that).
    """
    if not cluster.node_ports.ports:
        return None
    used = _used_node_ports(core, timeouts) | exclude
    for port in cluster.node_ports.node_ports:
        if port not in used:
            return port
    raise _all_in_use(cluster)


def traffic_policy(cluster: Cluster) -> str:
    """`Local` on a one-node cluster, else `Cluster`.

    With `Cluster`, kube-proxy masquerades NodePort traffic with random source
    ports, so host 4-tuples with different TCP timestamp offsets land on the pods'
    4-tuples; a SYN that meets one still in TIME_WAIT with a lower timestamp is
    dropped by the PAWS check (measured: 120-160 `TcpExt.PAWSTimewait` per pod a
    minute, on one node and on three; new connections answered 1 s late, or failed
    when the retransmission was dropped too). On one node every endpoint is local,
    so `Local` routes the same way without the masquerade (0 drops measured). On
    more nodes the mapped node runs no pods, so `Local` would route nowhere: the
    drops stay, and are attributed `paws-timewait`.
    """
    return "Local" if len(cluster.nodes) == 1 else "Cluster"


def create_service(
    core: client.CoreV1Api,
    cluster: Cluster,
    namespace: str,
    name: str,
    selector: dict[str, str],
    timeouts: Timeouts = DEFAULT_TIMEOUTS,
) -> dict[str, Any]:
    """The demo Service: NodePort mapped to 127.0.0.1 when the cluster has one, else ClusterIP.

    Picking the port and creating the Service are one step: when another
    creation took the port in between (422 "provided port is already
    allocated"), the next free mapped port is tried, at most once per mapped
    port. The Service carries this run's owner labels (see `harness.leftovers`).

    On a one-node cluster the NodePort keeps the client's address
    (`externalTrafficPolicy: Local`, see `traffic_policy`).
    """
    tried: set[int] = set()
    path = f"/api/v1/namespaces/{namespace}/services"
    while True:
        port = free_node_port(core, cluster, frozenset(tried), timeouts)
        if port is not None and cluster.provider == "kind" and cluster.nodes:
            forgotten = forget_flows(cluster.nodes, port)
            (log.warning if forgotten.errors else log.info)("%s", forgotten.describe())
        body = service(name, selector, port, external_traffic_policy=traffic_policy(cluster))
        meta = body.setdefault("metadata", {})
        meta.setdefault("labels", {}).update(owner_labels())
        meta.setdefault("annotations", {}).update(owner_annotations())
        try:
            call_api(
                core.create_namespaced_service, namespace, body, method="POST", path=path, timeout=timeouts.api_request
            )
            return body
        except ApiError as exc:
            if port is None or exc.status != 422 or _ALLOCATED not in exc.message:
                raise
            tried.add(port)
            if len(tried) >= len(cluster.node_ports.node_ports):
                raise _all_in_use(cluster) from None


def connection_lifetime(
    core: client.CoreV1Api, namespace: str, selector: dict[str, str], timeouts: Timeouts = DEFAULT_TIMEOUTS
) -> float | None:
    """The longest keep-alive connection lifetime the pods behind `selector` give nginx now
    (`manifests.keepalive_lifetime` of each pod's containers); None when a pod gives none or there
    is no pod: then no old answer after settle is excused by a connection's age."""
    path = f"/api/v1/namespaces/{namespace}/pods"
    label = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
    body = call_api(
        core.list_namespaced_pod, namespace, method="GET", path=path, timeout=timeouts.api_request, label_selector=label
    )
    lifetimes = []
    for pod in body.get("items") or []:
        containers = (pod.get("spec") or {}).get("containers") or []
        found = [keepalive_lifetime([*(c.get("command") or []), *(c.get("args") or [])]) for c in containers]
        lifetimes.append(max((x for x in found if x is not None), default=None))
    if not lifetimes or None in lifetimes:
        return None
    return max(x for x in lifetimes if x is not None)


def wait_first_answer(prober: Prober, timeout: float, interval: float) -> ProbeSample:
    """Block until the prober has recorded a successful answer."""
    waited_for = "the Service to answer through the prober"

    def answered() -> tuple[bool, tuple[ProbeSample | None, ProbeSample | None]]:
        samples = prober.samples()
        ok = next((s for s in samples if s.ok), None)
        ended = ok is None and prober.wait(0)  # it ended by itself (limits reached): no answer will come
        return ok is not None or ended, (ok, samples[-1] if samples else None)

    def describe(last: ProbeSample | None) -> str:
        return f"{last.status} {last.error or ''} server={last.server}" if last else "no request completed"

    ok, last = poll(
        answered, waited_for=waited_for, timeout=timeout, interval=interval, describe=lambda seen: describe(seen[1])
    )
    if ok is None:
        raise WaitTimeout(waited_for, timeout, describe(last))
    return ok
