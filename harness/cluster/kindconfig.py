"""The kind cluster config: pure, so it is tested without a cluster."""

from __future__ import annotations

import socket
from dataclasses import dataclass

import yaml

__all__ = ["KindConfig", "free_loopback_ports", "NODE_PORT_BASE", "NODE_PORT_COUNT"]

NODE_PORT_BASE = 30080
NODE_PORT_COUNT = 4


def free_loopback_ports(count: int) -> list[int]:
    """Ports free on 127.0.0.1 right now (the OS picks them)."""
    sockets, ports = [], []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
            ports.append(sock.getsockname()[1])
    finally:
        for sock in sockets:
            sock.close()
    return ports


@dataclass(frozen=True)
class KindConfig:
    """One control plane and `workers` workers; NodePorts mapped to 127.0.0.1 only."""

    workers: int = 0
    port_map: tuple[tuple[int, int], ...] = ()  # (node port, host port)
    api_server_port: int = 0  # 0: kind picks a free one
    etcd_image_tag: str | None = None  # the etcd image kubeadm is told to run, when not its own default

    def render(self) -> str:
        control_plane: dict = {"role": "control-plane"}
        if self.port_map:
            control_plane["extraPortMappings"] = [
                {"containerPort": node, "hostPort": host, "listenAddress": "127.0.0.1", "protocol": "TCP"}
                for node, host in self.port_map
            ]
        config = {
            "kind": "Cluster",
            "apiVersion": "kind.x-k8s.io/v1alpha4",
            "networking": {"apiServerAddress": "127.0.0.1", "apiServerPort": self.api_server_port},
            "nodes": [control_plane] + [{"role": "worker"} for _ in range(self.workers)],
        }
        if self.etcd_image_tag:
            patch = {"kind": "ClusterConfiguration", "etcd": {"local": {"imageTag": self.etcd_image_tag}}}
            config["kubeadmConfigPatches"] = [yaml.safe_dump(patch, sort_keys=False)]
        return yaml.safe_dump(config, sort_keys=False)

    @classmethod
    def with_free_ports(
        cls, workers: int, count: int = NODE_PORT_COUNT, etcd_image_tag: str | None = None
    ) -> "KindConfig":
        hosts = free_loopback_ports(count)
        ports = tuple(zip(range(NODE_PORT_BASE, NODE_PORT_BASE + count), hosts))
        return cls(workers=workers, port_map=ports, etcd_image_tag=etcd_image_tag)
