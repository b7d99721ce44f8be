"""Reusing a running kind cluster from a checkout that has no kubeconfig for it.

CI clones the repository afresh; a cluster of the same name left running by an
earlier run must be reused, not fail because pytest-kind never wrote its
kubeconfig in this checkout.
"""

from __future__ import annotations

import stat

import pytest
from kubernetes import client, config as kube_config

from harness.cluster.kind import KindProvider, KindSettings
from harness.session import kit_manifest


def test_running_cluster_is_reused_from_a_fresh_kubeconfig_path(cluster, rp_settings, timeouts, tmp_path):
    if cluster.provider != "kind":
        pytest.skip("reuse is a kind-provider behaviour; this session runs on an existing cluster")
    manifest = kit_manifest(rp_settings)
    kubeconfig = tmp_path / "fresh-checkout" / "kubeconfig"
    provider = KindProvider(KindSettings(
        name=cluster.name,
        node_image=None,
        kind_bin=manifest.kind_bin if manifest else None,
        kubectl_bin=cluster.kubectl,
        kubeconfig=kubeconfig,
    ), timeouts)

    reused = provider.up()

    assert not provider.created
    assert reused.git_version == cluster.git_version
    assert reused.node_ports == cluster.node_ports
    assert stat.S_IMODE(kubeconfig.stat().st_mode) == 0o600
    api = kube_config.new_client_from_config(config_file=str(kubeconfig))
    try:
        names = [node.metadata.name for node in client.CoreV1Api(api).list_node().items]
    finally:
        api.close()
    assert sorted(names) == list(cluster.nodes)
