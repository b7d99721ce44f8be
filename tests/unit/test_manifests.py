"""The fixtures' builders: what the pods they make declare."""

from __future__ import annotations

from harness.manifests import deployment, first_container, keepalive_lifetime


def test_the_hardened_pods_declare_their_keep_alive_lifetime_and_naive_ones_none() -> None:
    hardened = first_container(deployment("d", "img"))
    naive = first_container(deployment("d", "img", hardened=False))
    assert keepalive_lifetime(hardened.get("command")) == 1.0
    assert keepalive_lifetime(naive.get("command")) is None
    assert keepalive_lifetime(["nginx", "-g", "keepalive_time 500ms; daemon off;"]) == 0.5
    assert keepalive_lifetime(["sh", "-c", "echo 'keepalive_time 2m;'"]) == 120.0
