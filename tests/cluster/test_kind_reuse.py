"""Reusing a running kind cluster from a checkout that has no kubeconfig for it.

CI clones the repository afresh; a cluster of the same name left running by an
earlier run must be reused, not fail because pytest-kind never wrote its
kubeconfig in this checkout.
"""

from __future__ import annotations

import stat
import subprocess

import pytest
from kubernetes import client

from harness.cluster.kind import KindProvider, KindSettings
from harness.kube.config import load_kubeconfig


def test_running_cluster_is_reused_from_a_fresh_kubeconfig_path(cluster, kit, timeouts, tmp_path):
    if cluster.provider != "kind":
        pytest.skip("reuse is a kind-provider behaviour; this session runs on an existing cluster")
    kubeconfig = tmp_path / "fresh-checkout" / "kubeconfig"
    said: list[str] = []
    provider = KindProvider(
        KindSettings(
            name=cluster.name,
            node_image=None,
            kind_bin=kit.kind_bin if kit else None,
            kubectl_bin=cluster.kubectl,
            kubeconfig=kubeconfig,
        ),
        timeouts,
        said.append,
    )

    reused = provider.up()

    assert not provider.created
    assert reused.git_version == cluster.git_version
    assert reused.node_ports == cluster.node_ports
    assert stat.S_IMODE(kubeconfig.stat().st_mode) == 0o600
    api = load_kubeconfig(kubeconfig).api_client()
    try:
        names = [node.metadata.name for node in client.CoreV1Api(api).list_node().items]
    finally:
        api.close()
    assert sorted(names) == list(cluster.nodes)

    provider.down()  # a cluster this provider did not create: kept, with one line saying how to remove it
    assert said == [
        f"rollproof: kept kind cluster {cluster.name!r} (it was running before this run, so this run "
        f"leaves it); remove it with `rollproof cluster delete {cluster.name}`"
    ]
    listed = subprocess.run([provider.kind_bin, "get", "clusters"], capture_output=True, text=True).stdout.split()
    assert cluster.name in listed
