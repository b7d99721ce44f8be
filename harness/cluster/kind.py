"""A kind cluster through pytest-kind's KindCluster, with the binaries and images we give it."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from kubernetes import client, config as kube_config
from pytest_kind import KindCluster

from ..errors import ConfigError, ProviderError
from ..timeouts import Timeouts
from .kindconfig import KindConfig
from .model import Cluster, NodePortMap
from .ready import wait_cluster_ready

__all__ = ["KindSettings", "KindProvider"]


@dataclass(frozen=True)
class KindSettings:
    name: str = "rollproof"
    workers: int = 0
    node_image: str | None = None
    kind_bin: str | None = None
    kubectl_bin: str | None = None
    kubeconfig: Path | None = None
    keep: bool = False
    load_images: tuple[str, ...] = field(default=())


def _docker_answers() -> None:
    if shutil.which("docker") is None:
        raise ProviderError("no docker CLI: install Docker, or run `rollproof kit build` as root")
    proc = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip().splitlines()
        if any("permission denied" in line.lower() for line in err):
            raise ProviderError("no permission on the Docker socket: run as root or join the docker group")
        raise ProviderError("the Docker engine does not answer: start it, or run `rollproof kit build` as root "
                            "to install and start one")


def _mapped_ports(container: str) -> NodePortMap:
    proc = subprocess.run(["docker", "inspect", "--format", "{{json .HostConfig.PortBindings}}", container],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if proc.returncode != 0:
        return NodePortMap()
    bindings = json.loads(proc.stdout or b"{}") or {}
    pairs = []
    for spec, hosts in bindings.items():
        port, _, proto = spec.partition("/")
        for host in hosts or []:
            if proto == "tcp" and host.get("HostIp") == "127.0.0.1" and int(port) >= 30000:
                pairs.append((int(port), int(host["HostPort"])))
    return NodePortMap(tuple(sorted(pairs)))


def _inspect(*args: str) -> str | None:
    proc = subprocess.run(["docker", *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return (proc.stdout.strip() or None) if proc.returncode == 0 else None


def _stale_node_image(container: str, wanted: str) -> str | None:
    """Why the node `container` does not run image `wanted` as it is now, or None when it does."""
    running = _inspect("inspect", "--format", "{{.Config.Image}} {{.Image}}", container)
    wanted_id = _inspect("image", "inspect", "--format", "{{.Id}}", wanted)
    if running is None or wanted_id is None:
        return None
    name, _, image_id = running.partition(" ")
    if name != wanted:
        return f"runs {name}, this run asks for {wanted}"
    if image_id != wanted_id:
        return f"runs an earlier build of {wanted} (the kit rebuilt it since)"
    return None


class KindProvider:
    """Creates (or reuses) a kind cluster and deletes it afterwards unless kept."""

    def __init__(self, settings: KindSettings, timeouts: Timeouts) -> None:
        self.settings = settings
        self.timeouts = timeouts
        for label, path in (("--kind-bin", settings.kind_bin), ("--kind-kubectl-bin", settings.kubectl_bin)):
            if path and not Path(path).is_file():
                raise ConfigError(f"{label} {path}: no such file; run `rollproof kit build` or give a kind/kubectl path")
        self.kind = KindCluster(
            settings.name,
            kubeconfig=settings.kubeconfig,
            image=settings.node_image,
            kind_path=Path(settings.kind_bin) if settings.kind_bin else None,
            kubectl_path=Path(settings.kubectl_bin) if settings.kubectl_bin else None,
        )
        self.created = False
        self.create_seconds = 0.0

    def _exists(self) -> bool:
        out = subprocess.run([str(self.kind.kind_path), "get", "clusters"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True).stdout
        return self.settings.name in out.split()

    def _running(self) -> bool:
        return _inspect("inspect", "--format", "{{.State.Running}}", f"{self.settings.name}-control-plane") == "true"

    def _nodes(self) -> tuple[str, ...]:
        out = subprocess.run([str(self.kind.kind_path), "get", "nodes", "--name", self.settings.name],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
        return tuple(sorted(out.split()))

    def _export_kubeconfig(self) -> None:
        """Write the running cluster's kubeconfig where pytest-kind reads it.

        pytest-kind writes a kubeconfig only when it creates the cluster; a cluster
        created from another checkout (or by a killed run) has none here.
        """
        proc = subprocess.run([str(self.kind.kind_path), "get", "kubeconfig", "--name", self.settings.name],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if proc.returncode != 0 or not proc.stdout.strip():
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise ProviderError(f"kind cluster {self.settings.name!r} exists but `kind get kubeconfig` failed "
                                f"({last}): delete it (`kind delete cluster --name {self.settings.name}`)")
        path = Path(self.kind.kubeconfig_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(0o600, exist_ok=True)
        path.chmod(0o600)
        path.write_text(proc.stdout)

    def up(self) -> Cluster:
        _docker_answers()
        if self.settings.node_image:
            present = subprocess.run(["docker", "image", "inspect", self.settings.node_image],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
            if not present and "/" in self.settings.node_image and self.settings.node_image.startswith("rollproof/"):
                raise ConfigError(f"node image {self.settings.node_image} is not built: run `rollproof kit build`")
        if self._exists() and not self._running():
            # Containers of a cluster whose engine was restarted stay stopped: nothing to reuse.
            print(f"rollproof: kind cluster {self.settings.name!r} is stopped (engine restarted?); recreating it")
            self.kind.delete()
        if self._exists():
            stale = self.settings.node_image and _stale_node_image(f"{self.settings.name}-control-plane",
                                                                   self.settings.node_image)
            if stale:
                raise ProviderError(f"kind cluster {self.settings.name!r} {stale}: delete it (`rollproof cluster "
                                    f"delete {self.settings.name}`) or pass --rollproof-cluster-name with another name")
            ports = _mapped_ports(f"{self.settings.name}-control-plane")
            if not ports.ports:
                raise ProviderError(f"kind cluster {self.settings.name!r} exists but maps no NodePort to 127.0.0.1: "
                                    f"delete it (`kind delete cluster --name {self.settings.name}`) or pass "
                                    "--rollproof-cluster-name with another name")
            self._export_kubeconfig()
            self.kind.create()  # reuse: pytest-kind reads the kubeconfig written above
        else:
            config = KindConfig.with_free_ports(self.settings.workers)
            config_file = self.kind.path / "kind-config.yaml"
            config_file.write_text(config.render())
            started = time.monotonic()
            try:
                self.kind.create(config_file=config_file)
            except subprocess.CalledProcessError as exc:
                raise ProviderError(f"`kind create cluster --name {self.settings.name}` failed (exit {exc.returncode});"
                                    " its output is above. A port already taken or a stale cluster of that name "
                                    "shows there; kind removed the partial cluster") from exc
            self.created = True
            self.create_seconds = time.monotonic() - started
            ports = _mapped_ports(f"{self.settings.name}-control-plane")
        api = kube_config.new_client_from_config(config_file=str(self.kind.kubeconfig_path))
        try:
            wait_cluster_ready(api, self.timeouts.cluster_ready, self.timeouts.poll_interval)
            for image in self.settings.load_images:
                self.load_image(image)
            version = client.VersionApi(api).get_code()
        except BaseException:
            # A cluster this run created and could not make ready is not left behind (unless kept).
            if self.created and not self.settings.keep:
                self.kind.delete()
            raise
        finally:
            api.close()
        return Cluster(
            name=self.settings.name,
            provider="kind",
            kubeconfig=Path(self.kind.kubeconfig_path).resolve(),
            context=f"kind-{self.settings.name}",
            git_version=version.git_version,
            major=int(version.major),
            minor=int("".join(ch for ch in version.minor if ch.isdigit())),
            node_ports=ports,
            nodes=self._nodes(),
            kubectl=str(self.kind.kubectl_path),
        )

    def load_image(self, image: str) -> None:
        try:
            self.kind.load_docker_image(image)
        except subprocess.CalledProcessError as exc:
            raise ProviderError(f"could not load image {image} into kind cluster {self.settings.name!r}: "
                                "build it (`rollproof kit build`) or pull it first") from exc

    def down(self) -> None:
        self.kind.delete()
