"""The cluster under test: nodes, system pods and the Service data path that every probe relies on."""

from __future__ import annotations

import logging

import pytest

from harness.assertions import assert_verdicts
from harness.cluster.ready import cluster_state
from harness.kit.appimages import ACCESS_LOG_FLUSH
from harness.manifests import deployment
from harness.poll import poll
from harness.samples import NEW_CONNECTION
from harness.workloads import wait_ready_pods

log = logging.getLogger("rollproof.suites")

NAME = "spread-demo"
PROBER_AGENT = "rollproof-prober"


def test_every_node_ready_and_every_system_pod_running(kube_api, record):
    """The cluster MUST have every node Ready and every kube-system pod Running and ready."""
    nodes, pods = cluster_state(kube_api)
    record.check("cluster-ready", "yes" if not nodes and not pods else "; ".join(nodes + pods))
    assert not nodes and not pods, nodes + pods


def test_service_traffic_reaches_pods_on_every_node(
    cluster, core_api, namespace, deployments, probed_service, app_images, record, timeouts
):
    """Service traffic MUST reach a pod on every node, and every request MUST succeed.

    One nginx pod per node (required anti-affinity, control-plane taint
    tolerated) behind the NodePort Service; each pod's access log MUST show
    probe requests, so the data path crosses nodes. A claim about several nodes:
    on a one-node cluster it is reported as not checked (skipped), never as passed.
    """
    node_count = len(core_api.list_node().items)
    if node_count < 2:
        record.measure("requests-served-per-node", f"not checked: {node_count} node")
        pytest.skip(f"needs a cluster of several nodes (this one has {node_count}): run with --nodes 3")
    probed_service.expose(NAME, {"app": NAME})
    body = deployment(NAME, app_images["old"].image, "v0.1", replicas=node_count)
    spec = body["spec"]["template"]["spec"]
    spec["tolerations"] = [
        {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}
    ]
    spec["affinity"] = {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"app": NAME}}, "topologyKey": "kubernetes.io/hostname"}
            ]
        }
    }
    deployments.apply(body)
    deployments.wait_rollout_complete(NAME, timeouts.rollout)
    pods = wait_ready_pods(core_api, namespace, {"app": NAME}, node_count, timeouts.pods_ready, timeouts.poll_interval)
    assert len({p.spec.node_name for p in pods}) == node_count

    probed = probed_service(NAME, {"app": NAME}, kinds=(NEW_CONNECTION,))
    probed.hold("steady state", (app_images["old"].server,), timeouts.probe_settle * node_count)
    analysis = probed.finish()[0]

    def served() -> tuple[bool, dict[str, int]]:
        per_node = {}
        for pod in pods:
            logs = core_api.read_namespaced_pod_log(pod.metadata.name, namespace, container="nginx")
            per_node[pod.spec.node_name] = sum(1 for line in logs.splitlines() if PROBER_AGENT in line)
        return sum(per_node.values()) >= analysis.total * 0.9 and all(per_node.values()), per_node

    # nginx buffers its access log up to ACCESS_LOG_FLUSH s (harness/kit/appimages.py)
    per_node = poll(
        served,
        waited_for="the pods' access logs to hold 90% of the probe requests, from every pod",
        timeout=ACCESS_LOG_FLUSH + timeouts.api_request,
        interval=timeouts.poll_interval,
        describe=lambda seen: f"probe requests logged per node {seen} of {analysis.total} sent",
    )
    log.info("probe requests served per node: %s", per_node)
    # One row for every cluster name and version: nodes by their role suffix (control-plane, worker2).
    record.measure(
        "requests-served-per-node",
        ", ".join(f"{node.removeprefix(cluster.name + '-')} {count}" for node, count in sorted(per_node.items())),
    )
    assert len(per_node) == node_count and all(count > 0 for count in per_node.values()), per_node
    assert sum(per_node.values()) >= analysis.total * 0.9
    assert_verdicts([analysis])
