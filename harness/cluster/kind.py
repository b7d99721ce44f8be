"""A kind cluster: created (and then deleted) by this run, or reused (and then kept).

The kind binary is driven directly (pytest-kind's `KindCluster` would leave the
client key in the temp directory through pykube). The cluster's kubeconfig lives
in the process's private `run_dir()` unless a path is given, so no credential
outlives the run on disk; `kind get kubeconfig --name NAME` gives it again.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor
import time
from dataclasses import dataclass, field
from pathlib import Path

from typing import Callable

from kubernetes import client

from ..errors import ConfigError, ProviderError
from ..kube.config import kube_errors, load_kubeconfig, parse_server_version
from ..rundir import run_dir
from ..timeouts import Timeouts
from .kindconfig import KindConfig
from .model import Cluster, ClusterBringUp, NodePortMap
from .ready import wait_cluster_ready

__all__ = ["KindSettings", "KindProvider", "check_cluster_name", "check_binary"]


@dataclass(frozen=True)
class KindSettings:
    name: str = "rollproof"
    workers: int = 0
    node_image: str | None = None
    kind_bin: str | None = None
    kubectl_bin: str | None = None
    kubeconfig: Path | None = None  # default: in the process's private run directory
    keep: bool = False
    load_images: tuple[str, ...] = field(default=())
    etcd_image_tag: str | None = None  # see KindConfig


_SNAPSHOTTER_UNKNOWN = "failed to detect containerd snapshotter"
"""What `kind load` of kind v0.24 and v0.26 says on a node running containerd 2 (the kit's
runtime for 1.31 and 1.32): it reads the snapshotter from the version 2 config layout only."""


def _import_image(image: str, node: str) -> None:
    """Import `image` from Docker into `node`'s containerd (k8s.io namespace), as `kind load` does."""
    save = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE)
    imported = subprocess.run(
        [
            "docker",
            "exec",
            "-i",
            node,
            "ctr",
            "--namespace=k8s.io",
            "images",
            "import",
            "--all-platforms",
            "--digests",
            "-",
        ],
        stdin=save.stdout,
        capture_output=True,
        text=True,
    )
    if save.stdout is not None:
        save.stdout.close()
    saved = save.wait()
    if saved != 0 or imported.returncode != 0:
        reason = (imported.stderr.strip().splitlines() or [f"docker save exited {saved}"])[-1]
        raise ProviderError(f"could not import image {image} into node {node} ({reason}): is it built?")


_NAME = re.compile(r"^[a-z0-9][-a-z0-9.]*$")  # kind's own rule is ^[a-z0-9.-]+$; Docker wants a leading alnum
_NAME_MAX = 50  # kind warns above this ("probably too long"): its node names append -control-plane


def check_cluster_name(name: str, where: str = "--rollproof-cluster-name") -> None:
    """A name kind accepts and that makes valid node names; ConfigError saying what to change otherwise."""
    if not name or len(name) > _NAME_MAX or not _NAME.match(name):
        raise ConfigError(
            f"{where} {name!r}: a kind cluster name is lower-case letters, digits, '-' and '.', "
            f"starting with a letter or digit, at most {_NAME_MAX} characters"
        )


def check_binary(path: str | None, label: str, program: str) -> str:
    """An executable `program`: the path given, else the one on PATH; ConfigError saying what to do otherwise."""
    if path:
        p = Path(path).expanduser()
        if p.is_dir() or not p.exists():
            raise ConfigError(f"{label} {path}: no such file; run `rollproof kit build` or give a {program} path")
        if not os.access(p, os.X_OK):
            raise ConfigError(
                f"{label} {path}: not executable; give a {program} binary "
                "(`rollproof kit build` puts one in $ROLLPROOF_CACHE/bin)"
            )
        return str(p)
    found = shutil.which(program)
    if found is None:
        raise ConfigError(f"no {program} binary: run `rollproof kit build`, or pass {label} PATH")
    return found


def _docker_answers() -> None:
    if shutil.which("docker") is None:
        raise ProviderError("no docker CLI: install Docker, or run `rollproof kit build` as root")
    proc = subprocess.run(
        ["docker", "info", "--format", "{{.ServerVersion}}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip().splitlines()
        if any("permission denied" in line.lower() for line in err):
            raise ProviderError("no permission on the Docker socket: run as root or join the docker group")
        raise ProviderError(
            "the Docker engine does not answer: start it, or run `rollproof kit build` as root to install and start one"
        )


def _mapped_ports(container: str) -> NodePortMap:
    proc = subprocess.run(
        ["docker", "inspect", "--format", "{{json .HostConfig.PortBindings}}", container],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
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


HALF_MADE_REMOVAL = 120.0
"""Seconds an interrupted creation's node containers get to be removed (the engine may start one first)."""


def _run_group(cmd: list[str]) -> int:
    """Run `cmd` in a process group of its own and return its exit status; if this process is
    interrupted meanwhile, kill the whole group (the command and every command it started, so
    none asks the engine for more) before the interrupt goes on."""
    proc = subprocess.Popen(cmd, start_new_session=True)
    try:
        return proc.wait()
    except BaseException:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        raise


def _node_containers(cluster: str) -> list[str]:
    """Every container (running or not) labelled as a node of kind cluster `cluster`."""
    found = _inspect("ps", "-aq", "--filter", f"label=io.x-k8s.kind.cluster={cluster}")
    return found.split() if found else []


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
    """Creates (or reuses) a kind cluster; deletes only a cluster this run created, unless kept."""

    def __init__(self, settings: KindSettings, timeouts: Timeouts, announce: Callable[[str], None] = print) -> None:
        check_cluster_name(settings.name)
        self.settings = settings
        self.timeouts = timeouts
        self.announce = announce
        self.kind_bin = check_binary(settings.kind_bin, "--kind-bin", "kind")
        self.kubectl_bin = (
            check_binary(settings.kubectl_bin, "--kind-kubectl-bin", "kubectl")
            if settings.kubectl_bin
            else shutil.which("kubectl")
        )
        self._kubeconfig = settings.kubeconfig
        self.created = False
        self.create_seconds = 0.0

    @property
    def kubeconfig(self) -> Path:
        if self._kubeconfig is None:
            self._kubeconfig = run_dir() / f"kind-{self.settings.name}.kubeconfig"
        return self._kubeconfig

    def _kind(self, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.kind_bin, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=check
        )

    def _exists(self) -> bool:
        return self.settings.name in self._kind("get", "clusters").stdout.split()

    def _running(self) -> bool:
        return _inspect("inspect", "--format", "{{.State.Running}}", f"{self.settings.name}-control-plane") == "true"

    def _nodes(self) -> tuple[str, ...]:
        return tuple(sorted(self._kind("get", "nodes", "--name", self.settings.name).stdout.split()))

    def _write_kubeconfig(self, text: str) -> None:
        path = self.kubeconfig
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, text.encode())
        finally:
            os.close(fd)

    def _export_kubeconfig(self) -> None:
        """Write the running cluster's kubeconfig (`kind get kubeconfig`) where this run reads it."""
        proc = self._kind("get", "kubeconfig", "--name", self.settings.name)
        if proc.returncode != 0 or not proc.stdout.strip():
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise ProviderError(
                f"kind cluster {self.settings.name!r} exists but `kind get kubeconfig` failed "
                f"({last}): delete it (`rollproof cluster delete {self.settings.name}`)"
            )
        self._write_kubeconfig(proc.stdout)

    def _delete(self) -> None:
        proc = self._kind("delete", "cluster", "--name", self.settings.name, "--kubeconfig", str(self.kubeconfig))
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise ProviderError(
                f"`kind delete cluster --name {self.settings.name}` failed ({last}); "
                f"run `rollproof cluster delete {self.settings.name}`"
            )

    def _remove_half_made(self) -> None:
        """Delete what an interrupted `kind create` left until no node container of the cluster is
        there: the engine may still be starting a node the stopped kind asked for (seen: a node
        started 8.8 s after it was created, once this run had exited; README finding 26)."""
        name = self.settings.name
        deadline = time.monotonic() + HALF_MADE_REMOVAL
        failed = ""
        while left := _node_containers(name):
            if time.monotonic() > deadline:
                raise ProviderError(
                    f"node container(s) {' '.join(left)} of the interrupted kind cluster {name!r} are still there "
                    f"after {HALF_MADE_REMOVAL:.0f} s{failed}: remove them with `rollproof cluster delete {name}`"
                )
            try:
                self._delete()
            except ProviderError as e:
                failed = f" (last: {e})"
            time.sleep(0.5)

    def _create(self) -> NodePortMap:
        config = KindConfig.with_free_ports(self.settings.workers, etcd_image_tag=self.settings.etcd_image_tag)
        config_file = run_dir() / f"kind-{self.settings.name}-config.yaml"
        config_file.write_text(config.render())
        cmd = [
            "create",
            "cluster",
            "--name",
            self.settings.name,
            "--kubeconfig",
            str(self.kubeconfig),
            "--config",
            str(config_file),
        ]
        if self.settings.node_image:
            cmd += ["--image", self.settings.node_image]
        started = time.monotonic()
        try:
            # kind's progress goes to the terminal; a failure's reason is in its output. kind and
            # the engine commands it runs are a process group of their own, stopped as one
            returncode = _run_group([self.kind_bin, *cmd])
            self.created = True  # from here on whatever exists of it is this run's to remove
            if returncode != 0:
                raise ProviderError(
                    f"`kind create cluster --name {self.settings.name}` failed (exit "
                    f"{returncode}); its output is above. A port already taken or a stale "
                    "cluster of that name shows there; kind removed the partial cluster"
                )
        except BaseException:
            self.created = True  # interrupted half way: this run made it, this run removes it
            self._remove_half_made()
            self.created = False
            raise
        finally:
            config_file.unlink(missing_ok=True)
        self.create_seconds = time.monotonic() - started
        return _mapped_ports(f"{self.settings.name}-control-plane")

    def _reuse(self) -> NodePortMap:
        name = self.settings.name
        if not self._running():
            raise ProviderError(
                f"kind cluster {name!r} exists but is stopped (the engine restarted?): delete it "
                f"(`rollproof cluster delete {name}`) or pass --rollproof-cluster-name with another name"
            )
        stale = self.settings.node_image and _stale_node_image(f"{name}-control-plane", self.settings.node_image)
        if stale:
            raise ProviderError(
                f"kind cluster {name!r} {stale}: delete it (`rollproof cluster "
                f"delete {name}`) or pass --rollproof-cluster-name with another name"
            )
        ports = _mapped_ports(f"{name}-control-plane")
        if not ports.ports:
            raise ProviderError(
                f"kind cluster {name!r} exists but maps no NodePort to 127.0.0.1: "
                f"delete it (`rollproof cluster delete {name}`) or pass "
                "--rollproof-cluster-name with another name"
            )
        self._export_kubeconfig()
        return ports

    def up(self) -> Cluster:
        _docker_answers()
        if self.settings.node_image:
            present = (
                subprocess.run(
                    ["docker", "image", "inspect", self.settings.node_image],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                ).returncode
                == 0
            )
            if not present and "/" in self.settings.node_image and self.settings.node_image.startswith("rollproof/"):
                raise ConfigError(f"node image {self.settings.node_image} is not built: run `rollproof kit build`")
        ports = self._reuse() if self._exists() else self._create()
        try:
            api = load_kubeconfig(self.kubeconfig).api_client()
            try:
                # the images go into the node's containerd while its control plane comes up (a load
                # needs only the node container): 7.7 s of loads after a 15.9 s wait were serial
                waiting = time.monotonic()
                with ThreadPoolExecutor(max_workers=1, thread_name_prefix="kind-load") as pool:
                    loaded = pool.submit(self._load_images)
                    wait_cluster_ready(api, self.timeouts.cluster_ready, self.timeouts.poll_interval)
                    ready = time.monotonic() - waiting
                    loads = loaded.result()
                with kube_errors("GET", "/version", self.timeouts.api_request):
                    info = client.VersionApi(api).get_code()
                version = parse_server_version(
                    {"major": info.major, "minor": info.minor, "gitVersion": info.git_version}
                )
            finally:
                api.close()
        except BaseException:
            # A cluster this run created and could not make ready is not left behind (unless kept).
            if self.removed_at_end:
                self._delete()
            raise
        return Cluster(
            name=self.settings.name,
            provider="kind",
            kubeconfig=self.kubeconfig.resolve(),
            context=f"kind-{self.settings.name}",
            git_version=version.git_version,
            major=version.major,
            minor=version.minor,
            node_ports=ports,
            nodes=self._nodes(),
            kubectl=self.kubectl_bin,
            created=self.created,
            removed_at_end=self.removed_at_end,
            bring_up=ClusterBringUp(self.create_seconds, ready, loads) if self.created else None,
        )

    def _load_images(self) -> float:
        """Load the settings' images into the nodes; returns the seconds it took."""
        started = time.monotonic()
        for image in self.settings.load_images:
            self.load_image(image)
        return time.monotonic() - started

    @property
    def removed_at_end(self) -> bool:
        """Whether this run deletes the cluster when it ends: it created it, and it is not kept."""
        return self.created and not self.settings.keep

    def load_image(self, image: str) -> None:
        proc = self._kind("load", "docker-image", "--name", self.settings.name, image)
        if proc.returncode == 0:
            return
        if _SNAPSHOTTER_UNKNOWN in proc.stderr:
            for node in self._nodes():
                _import_image(image, node)
            return
        reason = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise ProviderError(
            f"could not load image {image} into kind cluster {self.settings.name!r} ({reason}): "
            "build it (`rollproof kit build`) or pull it first"
        )

    def down(self) -> None:
        """Delete the cluster if this run created it and it is not kept; else say it is kept and how to remove it."""
        name = self.settings.name
        if self.removed_at_end:
            self._delete()
            self.created = False
            return
        why = "--keep-cluster" if self.created else "it was running before this run, so this run leaves it"
        self.announce(
            f"rollproof: kept kind cluster {name!r} ({why}); remove it with `rollproof cluster delete {name}`"
        )
