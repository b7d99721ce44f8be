"""Session wiring the plugin delegates to: which provider, which images, which prober."""

from __future__ import annotations

import subprocess
import os
from typing import Any, Callable

from .cluster.existing import ExistingProvider
from .cluster.kind import KindProvider, KindSettings
from .cluster.model import AppImageRef, Cluster
from .errors import ConfigError, ProviderError
from .kit.appimages import PROBER_IMAGE
from .kit.build import KitManifest, load_manifest, manifest_path
from .kit.versions import kit_versions
from .prober import HostProber, ProbeOptions, Prober, ProbeTarget
from .settings import RunSettings
from .timeouts import Timeouts

__all__ = ["kit_manifest", "open_provider", "resolve_app_images", "sampler_factory", "kind_node_pids",
           "PROBER_IMAGE"]


def kit_manifest(settings: RunSettings) -> KitManifest | None:
    """The kit build these settings name: --kit-manifest, else --k8s-version's, else the last one."""
    if settings.kit_manifest:
        manifest = load_manifest(settings.kit_manifest)
        if manifest is None:
            raise ConfigError(f"--kit-manifest {settings.kit_manifest}: not a kit manifest; "
                              "run `rollproof kit build` or fix the path")
        return manifest
    if settings.k8s_version:
        minor = kit_versions(settings.k8s_version).minor
        manifest = load_manifest(manifest_path(minor))
        if manifest is None:
            raise ConfigError(f"no kit for Kubernetes 1.{minor}: run `rollproof kit build --k8s-version 1.{minor}`")
        return manifest
    return load_manifest()


def _parse_image(text: str, where: str) -> AppImageRef:
    image, sep, server = text.partition("=")
    if not sep or not image or not server:
        raise ConfigError(f"{where} {text!r}: give IMAGE=SERVER, e.g. nginx:1.22.1=nginx/1.22.1")
    return AppImageRef(image=image, server=server)


def resolve_app_images(settings: RunSettings, manifest: KitManifest | None = None) -> dict[str, AppImageRef]:
    """The old and new images: from --old-image/--new-image, else from the kit manifest (read if not given)."""
    manifest = manifest or kit_manifest(settings)
    images: dict[str, AppImageRef] = {}
    for role, given in (("old", settings.old_image), ("new", settings.new_image)):
        if given:
            images[role] = _parse_image(given, f"--{role}-image")
        elif manifest is not None:
            built = manifest.image(role)
            images[role] = AppImageRef(image=built.tag, server=built.server)
        else:
            raise ConfigError(f"no {role} image: run `rollproof kit build`, or pass --{role}-image IMAGE=SERVER")
    if images["old"].server == images["new"].server:
        raise ConfigError("old and new images answer with the same Server header; pick two versions")
    return images


def _ensure_local(image: str) -> None:
    present = subprocess.run(["docker", "image", "inspect", image], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL).returncode == 0
    if present:
        return
    pulled = subprocess.run(["docker", "pull", image], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if pulled.returncode != 0:
        raise ProviderError(f"image {image} is neither local nor pullable: build it (`rollproof kit build`) "
                            "or pass images your machine can pull")


def open_provider(settings: RunSettings, timeouts: Timeouts, getoption: Callable[..., Any]) -> Any:
    """The provider the settings ask for, not yet started (`up()` / `down()`).

    pytest-kind's own options (`--kind-image`, `--kind-bin`, `--kind-kubectl-bin`,
    `--kubeconfig`, `--keep-cluster`, `--cluster-name`) are honoured; the kit's
    manifest fills in what they leave out.
    """
    kubeconfig = getoption("kubeconfig", default=None)
    if settings.provider == "existing":
        return ExistingProvider(kubeconfig, settings.context, timeouts)
    manifest = kit_manifest(settings)
    images = resolve_app_images(settings, manifest)
    load = [ref.image for ref in images.values()]
    if _has_image(PROBER_IMAGE):
        load.append(PROBER_IMAGE)
    for image in load:
        _ensure_local(image)
    node_image = getoption("kind_image", default=None) or (manifest.node_image if manifest else None)
    kind_bin = getoption("kind_bin", default=None) or (manifest.kind_bin if manifest else None)
    kubectl_bin = getoption("kind_kubectl_bin", default=None) or (manifest.kubectl_bin if manifest else None)
    name = getoption("cluster_name", default=None)
    if name in (None, "pytest-kind"):  # pytest-kind's default: use ours
        name = settings.cluster_name
    provider = KindProvider(KindSettings(
        name=name,
        workers=settings.nodes - 1,
        node_image=node_image,
        kind_bin=kind_bin,
        kubectl_bin=kubectl_bin,
        kubeconfig=None,
        keep=bool(getoption("keep_cluster", default=False)),
        load_images=tuple(load),
    ), timeouts)
    return provider


def _has_image(image: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", image], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0


def sampler_factory(cluster: Cluster, core: Any, namespace: str, service: str,
                    timeouts: Timeouts) -> Callable[[ProbeOptions], Prober]:
    """`make(options)` -> a not yet started sampler of `service`: on this host through the
    NodePort mapped to 127.0.0.1 when there is one, else from a pod inside the cluster."""
    svc = core.read_namespaced_service(service, namespace)
    port = svc.spec.ports[0]
    host_port = cluster.node_ports.host_port(port.node_port) if port.node_port else None

    def make(options: ProbeOptions) -> Prober:
        if host_port is not None:
            return HostProber(ProbeTarget(cluster.node_ports.host, host_port), options)
        from .podprober import PodProber

        return PodProber(core, namespace, PROBER_IMAGE, f"{svc.spec.cluster_ip}:{port.port}", options,
                         same_clock=cluster.provider == "kind", timeouts=timeouts)

    return make


def kind_node_pids(cluster: Cluster) -> tuple[dict[str, int], str]:
    """Host PIDs of a kind cluster's node containers (to read kube-proxy from their network
    namespaces), and a note when they cannot be had."""
    if cluster.provider != "kind":
        return {}, "kube-proxy syncs not recorded: the cluster's nodes are not containers this host started"
    if os.geteuid() != 0:
        return {}, "kube-proxy syncs not recorded: joining a node's network namespace needs root"
    pids: dict[str, int] = {}
    for node in cluster.nodes:
        found = subprocess.run(["docker", "inspect", "-f", "{{.State.Pid}}", node], capture_output=True, text=True)
        if found.returncode == 0 and found.stdout.strip().isdigit() and int(found.stdout) > 0:
            pids[node] = int(found.stdout)
    if not pids:
        return {}, "kube-proxy syncs not recorded: no node container found"
    return pids, ""
