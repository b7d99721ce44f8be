"""Session wiring the plugin delegates to: which provider, which images, which prober."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

from .cluster.existing import ExistingProvider
from .cluster.kind import KindProvider, KindSettings, check_binary, check_cluster_name
from .cluster.model import AppImageRef, Cluster
from .errors import ConfigError, ProviderError
from .kit.appimages import PROBER_IMAGE
from .kit.build import KitManifest, load_manifest, manifest_path
from .kit.versions import kit_versions
from .kube.config import kube_errors
from .prober import HostProber, ProbeTarget
from .sampler import ProbeOptions, Prober
from .settings import RunSettings
from .timeouts import DEFAULT_TIMEOUTS, Timeouts

__all__ = [
    "SessionKit",
    "kit_manifest",
    "open_provider",
    "resolve_app_images",
    "sampler_factory",
    "default_routes",
    "kind_node_address",
    "kind_node_pids",
    "check_settings",
    "check_report_dir",
    "read_manifest",
    "PROBER_IMAGE",
]


def kit_manifest(settings: RunSettings) -> KitManifest | None:
    """The kit build these settings name: --kit-manifest, else --kit-version's, else the last one."""
    if settings.kit_manifest:
        manifest = read_manifest(settings.kit_manifest)
        if manifest is None:
            raise ConfigError(
                f"--kit-manifest {settings.kit_manifest}: not a kit manifest; run `rollproof kit build` or fix the path"
            )
        return manifest
    if settings.kit_version:
        minor = kit_versions(settings.kit_version, settings.source("kit_version")).minor
        manifest = read_manifest(manifest_path(minor))
        if manifest is None:
            raise ConfigError(f"no kit for Kubernetes 1.{minor}: run `rollproof kit build --kit-version 1.{minor}`")
        return manifest
    return read_manifest()


class SessionKit:
    """The kit build a session uses: its manifest read once, when first asked for."""

    def __init__(self, settings: RunSettings) -> None:
        self.settings = settings
        self._manifest: KitManifest | None = None
        self._read = False

    def manifest(self) -> KitManifest | None:
        """The manifest (None: no kit build); a one-line ConfigError when the build named cannot be read."""
        if not self._read:
            self._manifest = kit_manifest(self.settings)
            self._read = True
        return self._manifest

    def used_version(self) -> str | None:
        """The Kubernetes of the kit build read so far ("v1.35.4"); None when the session read none."""
        return self._manifest.kubernetes if self._manifest is not None else None

    def describe(self) -> str:
        """E.g. "kit_version v1.35.4 (option --kit-version)", for the report header; never raises."""
        s = self.settings
        if s.provider == "existing" and s.old_image and s.new_image and not (s.kit_manifest or s.kit_version):
            return "kit_version none (an existing cluster, both images given)"
        chosen = (
            f"--kit-manifest {s.kit_manifest}"
            if s.kit_manifest
            else s.source("kit_version")
            if s.kit_version
            else "the last kit build"
        )
        try:
            manifest = self.manifest()
        except ConfigError as exc:
            return f"kit_version unknown: {exc}"
        if manifest is None:
            return "kit_version none (no kit built: `rollproof kit build`)"
        return f"kit_version {manifest.kubernetes} ({chosen})"


def read_manifest(path: Path | None = None) -> KitManifest | None:
    """`load_manifest`, with a manifest this rollproof cannot read (another version wrote it) as one line."""
    try:
        return load_manifest(path)
    except (TypeError, KeyError, ValueError):
        raise ConfigError(
            f"kit manifest {path or manifest_path()} was written by another rollproof version: "
            "rebuild it (`rollproof kit build`), or pick a build with --kit-version or "
            "--kit-manifest"
        ) from None


def _parse_image(text: str, where: str) -> AppImageRef:
    image, sep, server = text.partition("=")
    if not sep or not image or not server:
        raise ConfigError(f"{where} {text!r}: give IMAGE=SERVER, e.g. nginx:1.22.1=nginx/1.22.1")
    return AppImageRef(image=image, server=server)


def resolve_app_images(settings: RunSettings, manifest: KitManifest | None) -> dict[str, AppImageRef]:
    """The old and new images: from --old-image/--new-image, else from the kit's manifest."""
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
    present = (
        subprocess.run(
            ["docker", "image", "inspect", image], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        ).returncode
        == 0
    )
    if present:
        return
    pulled = subprocess.run(["docker", "pull", image], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if pulled.returncode != 0:
        raise ProviderError(
            f"image {image} is neither local nor pullable: build it (`rollproof kit build`) "
            "or pass images your machine can pull"
        )


def check_report_dir(path: Path, where: str = "--report-dir") -> None:
    """ConfigError unless reports can be written under `path`; creates nothing and leaves nothing."""
    probe = Path(os.path.abspath(path))
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        what = "is a file" if probe == Path(os.path.abspath(path)) else f"is under {probe}, which is a file"
        raise ConfigError(f"{where} {path} {what}: pick a directory path")
    try:
        fd, name = tempfile.mkstemp(prefix=".rollproof-write-check-", dir=probe)
    except OSError as exc:
        raise ConfigError(
            f"{where} {path} is not writable ({exc.strerror} in {probe}): pick a directory you can write to"
        ) from None
    os.close(fd)
    os.unlink(name)


def check_settings(settings: RunSettings, getoption: Callable[..., Any], kit: SessionKit | None = None) -> None:
    """Everything about the options that can be known before a test runs; a one-line ConfigError otherwise.

    Reads files (the kubeconfig, the kit manifest) and checks binaries; never
    talks to a cluster or Docker, never writes.
    """
    kit = kit or SessionKit(settings)
    check_report_dir(settings.report_dir, f"report directory ({settings.source('report_dir')})")
    given = {role: image for role, image in (("old", settings.old_image), ("new", settings.new_image)) if image}
    parsed = {role: _parse_image(text, f"--{role}-image") for role, text in given.items()}
    if len(parsed) == 2 and parsed["old"].server == parsed["new"].server:
        raise ConfigError("old and new images answer with the same Server header; pick two versions")
    if settings.provider == "existing":
        provider = ExistingProvider(
            getoption("kubeconfig", default=None), settings.context, DEFAULT_TIMEOUTS, settings.namespace
        )
        provider.access()
        if len(parsed) < 2 and kit.manifest() is None:
            missing = " and ".join(f"--{r}-image" for r in ("old", "new") if r not in parsed)
            raise ConfigError(
                f"--cluster-provider existing needs {missing} IMAGE=SERVER (images the cluster "
                "can pull), or a kit build to take them from"
            )
        return
    if settings.context:
        raise ConfigError("--context is for --cluster-provider existing; a kind cluster's context is its own")
    check_cluster_name(settings.cluster_name, settings.source("cluster_name"))
    for option, label, program in (
        ("kind_bin", "--kind-bin", "kind"),
        ("kind_kubectl_bin", "--kind-kubectl-bin", "kubectl"),
    ):
        if getoption(option, default=None):
            check_binary(getoption(option), label, program)
    if settings.kit_manifest or settings.kit_version:
        kit.manifest()


def open_provider(
    settings: RunSettings,
    timeouts: Timeouts,
    getoption: Callable[..., Any],
    announce: Callable[[str], None] = print,
    kit: SessionKit | None = None,
) -> Any:
    """The provider the settings ask for, not yet started (`up()` / `down()`).

    pytest-kind's own options (`--kind-image`, `--kind-bin`, `--kind-kubectl-bin`,
    `--kubeconfig`) are honoured, its `--keep-cluster` and `--cluster-name` through
    the settings; the kit's manifest fills in what they leave out.
    """
    kubeconfig = getoption("kubeconfig", default=None)
    if settings.provider == "existing":
        return ExistingProvider(kubeconfig, settings.context, timeouts, settings.namespace)
    manifest = (kit or SessionKit(settings)).manifest()
    images = resolve_app_images(settings, manifest)
    load = [ref.image for ref in images.values()]
    if _has_image(PROBER_IMAGE):
        load.append(PROBER_IMAGE)
    for image in load:
        _ensure_local(image)
    node_image = getoption("kind_image", default=None) or (manifest.node_image if manifest else None)
    kind_bin = getoption("kind_bin", default=None) or (manifest.kind_bin if manifest else None)
    kubectl_bin = getoption("kind_kubectl_bin", default=None) or (manifest.kubectl_bin if manifest else None)
    provider = KindProvider(
        KindSettings(
            name=settings.cluster_name,
            workers=settings.nodes - 1,
            node_image=node_image,
            kind_bin=kind_bin,
            kubectl_bin=kubectl_bin,
            kubeconfig=None,
            keep=settings.keep_cluster,
            load_images=tuple(load),
            etcd_image_tag=manifest.etcd_image_tag if manifest and not getoption("kind_image", default=None) else None,
        ),
        timeouts,
        announce,
    )
    return provider


def _has_image(image: str) -> bool:
    return (
        subprocess.run(
            ["docker", "image", "inspect", image], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        ).returncode
        == 0
    )


def default_routes(cluster: Cluster) -> tuple[str, ...]:
    """The route the samplers take unless told otherwise: on Linux, a kind node's address and the
    NodePort (the kernel's path, no userland proxy); else the NodePort mapped to 127.0.0.1; else a pod.

    Not the mapped port by default: Docker's `docker-proxy` behind it used 0.32 core on average
    (0.46 at peaks) of this 2-core machine at the suites' probe rate, and the cluster's pods waited
    for a CPU 47.2 s in one RC rolling update against 25.9 s without it (README finding 18); it also
    stops for good on an accept error (moby/moby#6402)."""
    if not cluster.node_ports.ports:
        return ("pod",)
    if sys.platform.startswith("linux") and kind_node_address(cluster) is not None:
        return ("node",)
    return ("mapped",)


def kind_node_address(cluster: Cluster) -> str | None:
    """The address of the kind cluster's first node on Docker's network (a container this host started)."""
    if cluster.provider != "kind" or not cluster.nodes:
        return None
    found = subprocess.run(
        ["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", cluster.nodes[0]],
        capture_output=True,
        text=True,
    )
    addresses = found.stdout.split() if found.returncode == 0 else []
    return addresses[0] if addresses else None


def sampler_factory(
    cluster: Cluster, core: Any, namespace: str, service: str, timeouts: Timeouts
) -> Callable[[ProbeOptions], Prober]:
    """`make(options)` -> a not yet started sampler of `service` on `options.route`: "mapped"
    (this host, the NodePort mapped to 127.0.0.1), "node" (this host, a kind node's address and
    the NodePort) or "pod" (a sampler pod, the Service's ClusterIP)."""
    with kube_errors("GET", f"/api/v1/namespaces/{namespace}/services/{service}", timeouts.api_request):
        svc = core.read_namespaced_service(service, namespace)
    port = svc.spec.ports[0]
    host_port = cluster.node_ports.host_port(port.node_port) if port.node_port else None
    node_address = kind_node_address(cluster) if port.node_port else None

    def make(options: ProbeOptions) -> Prober:
        if options.route == "mapped":
            if host_port is None:
                raise ConfigError(
                    f"route 'mapped': Service {namespace}/{service} has no NodePort mapped to "
                    "127.0.0.1 on this cluster; use --probe-routes pod"
                )
            return HostProber(ProbeTarget(cluster.node_ports.host, host_port), options)
        if options.route == "node":
            if node_address is None:
                raise ConfigError(
                    "route 'node' needs a kind cluster this host started and a NodePort Service; "
                    "use --probe-routes mapped or pod"
                )
            return HostProber(
                ProbeTarget(node_address, port.node_port), options, allowed_networks=[f"{node_address}/32"]
            )
        from .podprober import PodProber

        return PodProber(
            core,
            namespace,
            PROBER_IMAGE,
            f"{svc.spec.cluster_ip}:{port.port}",
            options,
            same_clock=cluster.provider == "kind",
            timeouts=timeouts,
        )

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
