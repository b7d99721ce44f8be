"""What a test knows about the cluster it runs on."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError
from ..kubeversion import KubeVersion, parse_version

__all__ = ["Cluster", "ClusterBringUp", "NodePortMap", "AppImageRef"]


@dataclass(frozen=True)
class NodePortMap:
    """NodePorts that the kind config maps to ports on 127.0.0.1: node port -> host port."""

    ports: tuple[tuple[int, int], ...] = ()
    host: str = "127.0.0.1"

    def host_port(self, node_port: int) -> int | None:
        return dict(self.ports).get(node_port)

    @property
    def node_ports(self) -> tuple[int, ...]:
        return tuple(p for p, _ in self.ports)


@dataclass(frozen=True)
class AppImageRef:
    """An application image the suites roll to, and the `Server` header it answers with."""

    image: str
    server: str


@dataclass(frozen=True)
class ClusterBringUp:
    """Where a created cluster's making went: `kind create cluster`, then the wait from its return
    until every node and kube-system pod was ready, with the app images' loads running alongside
    (the making ends when both have)."""

    kind_create_s: float
    ready_s: float
    image_loads_s: float

    @property
    def total_s(self) -> float:
        return self.kind_create_s + max(self.ready_s, self.image_loads_s)

    def describe(self) -> str:
        return (
            f"made in {self.total_s:.1f} s: kind create {self.kind_create_s:.1f} s, then every node and "
            f"kube-system pod ready {self.ready_s:.1f} s later (image loads {self.image_loads_s:.1f} s alongside)"
        )

    def as_dict(self) -> dict[str, float]:
        return {
            "kind_create_s": round(self.kind_create_s, 3),
            "ready_s": round(self.ready_s, 3),
            "image_loads_s": round(self.image_loads_s, 3),
        }


@dataclass(frozen=True)
class Cluster:
    """A reachable cluster: how to talk to it and what it offers the suites."""

    name: str
    provider: str  # "kind" or "existing"
    kubeconfig: Path
    context: str | None
    git_version: str
    major: int
    minor: int
    node_ports: NodePortMap = field(default_factory=NodePortMap)
    nodes: tuple[str, ...] = ()
    kubectl: str | None = None
    created: bool = False  # this run created it
    removed_at_end: bool = False  # this run deletes it when it ends (created, not kept)
    namespace: str | None = None  # every test runs in this namespace (none is created); None: one per test
    bring_up: ClusterBringUp | None = None  # a cluster this run created: where its making went

    @property
    def server_version(self) -> KubeVersion:
        """What the API server answered: its major.minor, with the patch its gitVersion names."""
        try:
            version = parse_version(self.git_version)
        except ConfigError:
            return KubeVersion(self.major, self.minor)
        return version if version.release == (self.major, self.minor) else KubeVersion(self.major, self.minor)

    def describe(self) -> str:
        ports = ", ".join(f"{n}->127.0.0.1:{h}" for n, h in self.node_ports.ports) or "none (in-cluster prober)"
        where = f"; every test in namespace {self.namespace}" if self.namespace else ""
        return (
            f"{self.provider} cluster {self.name!r} Kubernetes {self.git_version}, "
            f"{len(self.nodes)} node(s), NodePorts {ports}{where}"
            + (f"; {self.bring_up.describe()}" if self.bring_up is not None else "")
        )
