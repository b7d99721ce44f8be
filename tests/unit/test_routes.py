"""Which route the samplers take when none is given (harness.session.default_routes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import session
from harness.cluster.model import Cluster, NodePortMap


def cluster(provider: str, ports: tuple[tuple[int, int], ...]) -> Cluster:
    return Cluster("c", provider, Path("/k"), None, "v1.34.4", 1, 34, NodePortMap(ports), ("c-control-plane",))


def test_a_kind_node_on_linux_is_probed_at_its_address_not_through_dockers_proxy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(session.sys, "platform", "linux")
    monkeypatch.setattr(session, "kind_node_address", lambda c: "172.18.0.2")
    assert session.default_routes(cluster("kind", ((30080, 40000),))) == ("node",)
    monkeypatch.setattr(session, "kind_node_address", lambda c: None)  # the node's address cannot be had
    assert session.default_routes(cluster("kind", ((30080, 40000),))) == ("mapped",)
    monkeypatch.setattr(session, "kind_node_address", lambda c: "172.18.0.2")
    monkeypatch.setattr(session.sys, "platform", "darwin")  # node addresses are not reachable from the host
    assert session.default_routes(cluster("kind", ((30080, 40000),))) == ("mapped",)


def test_without_a_mapped_nodeport_a_sampler_pod_probes() -> None:
    assert session.default_routes(cluster("existing", ())) == ("pod",)
