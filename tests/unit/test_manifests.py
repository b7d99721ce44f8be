"""The fixtures' builders: what the pods they make declare."""

from __future__ import annotations

import pytest

from harness.manifests import (
    daemonset,
    deployment,
    first_container,
    keepalive_lifetime,
    replication_controller,
    small_rc,
    statefulset,
)


def test_the_hardened_pods_declare_their_keep_alive_lifetime_and_naive_ones_none() -> None:
    hardened = first_container(deployment("d", "img"))
    naive = first_container(deployment("d", "img", hardened=False))
    assert keepalive_lifetime(hardened.get("command")) == 1.0
    assert keepalive_lifetime(naive.get("command")) is None
    assert keepalive_lifetime(["nginx", "-g", "keepalive_time 500ms; daemon off;"]) == 0.5
    assert keepalive_lifetime(["sh", "-c", "echo 'keepalive_time 2m;'"]) == 120.0


@pytest.mark.parametrize("hardened", [True, False])
def test_no_demo_pod_mounts_a_service_account_token(hardened: bool) -> None:
    """README finding 40: the token's volume cost each pod a kubelet volume poll before its sandbox."""
    workloads = [
        deployment("d", "img", hardened=hardened),
        replication_controller("rc", "v1", "img", hardened=hardened),
        statefulset("s", "img", hardened=hardened),
        daemonset("ds", "img", hardened=hardened),
    ]
    if hardened:
        workloads.append(small_rc("small", {"app": "small", "ver": "v1"}, "img"))
    for obj in workloads:
        pod = obj["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False, obj["kind"]
        assert "volumes" not in pod, obj["kind"]
