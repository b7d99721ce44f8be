"""The samplers on the real data path, with nothing changing: the evidence they give is whole.

A record with a hole in a steady state would make every rollout verdict rest on
missing data; this is where such a hole shows first, with its timeline.
"""

from __future__ import annotations

import pytest

from harness.assertions import assert_verdicts
from harness.manifests import deployment

NAME = "steady-demo"


def test_a_steady_service_is_sampled_without_a_hole(deployments, probed_service, app_images, record, timeouts):
    """Both samplers MUST record 10 s of a steady Service (4 ready pods, nothing changing) with no
    gap between request starts above the bound, no failed request and nothing lost."""
    old = app_images["old"]
    deployments.apply(deployment(NAME, old.image, "v0.1"))
    deployments.wait_rollout_complete(NAME, timeouts.rollout)
    probed = probed_service(NAME, {"app": NAME})
    probed.hold("steady", (old.server,), 10.0)
    analyses = probed.finish()
    for a in analyses:
        record.measure(f"steady-{a.label.replace(' ', '-')}-max-gap-ms", f"{a.coverage.max_gap * 1000:.1f}")
    assert_verdicts(analyses)


def test_kube_proxy_s_rules_as_read_send_the_service_to_its_ready_pods(
    cluster, core_api, namespace, deployments, probed_service, app_images, record, timeouts
):
    """On a kind cluster this host started, the rules read from each node's nat table after kube-proxy's
    syncs MUST send the Service to exactly its ready pods once the data path is at rest, and every sync
    seen in the window MUST have had its rules read (`harness.proxyrules`, README finding 30)."""
    from harness.session import kind_node_pids

    pids, note = kind_node_pids(cluster)
    if not pids:
        pytest.skip(f"kube-proxy's rules are read only on kind nodes this host started: {note}")
    name = "rules-demo"
    deployments.apply(deployment(name, app_images["old"].image, "v0.1"))
    deployments.wait_rollout_complete(name, timeouts.rollout)
    probed = probed_service(name, {"app": name})
    probed.settle()
    analyses = probed.finish(observe=False)
    timeline = probed.timeline
    assert timeline is not None and set(timeline.proxy_nodes) == set(pids), timeline and timeline.notes
    pods = core_api.list_namespaced_pod(namespace, label_selector=f"app={name}").items
    ready = tuple(
        sorted(
            p.status.pod_ip
            for p in pods
            if any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or ())
        )
    )
    assert len(ready) == 4, ready
    for node in timeline.proxy_nodes:
        read = [p for p in timeline.proxy if p.node == node and p.routes is not None]
        assert read and read[-1].routes == ready, (node, read[-1:], ready)
    unread = [p for p in timeline.proxy if p.routes is None]
    assert len(unread) <= len(timeline.proxy_nodes), unread  # at most each node's last, read as the poller stopped
    record.measure("kube-proxy-syncs-with-rules-read", f"{len(timeline.proxy) - len(unread)} of {len(timeline.proxy)}")
    assert_verdicts(analyses)
