"""`rollproof kit build`: everything a kind cluster needs, from package registries alone."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import ProviderError
from .appimages import AppImage, build_app_images, build_prober_image
from .engine import ensure_engine, ensure_tools, raise_inotify_limits
from .gobuild import build_programs, kit_programs
from .nodeimage import build_node_image
from .paths import cache_root
from .referee import build_referee
from .stages import say, stage
from .versions import DEFAULT_KIT_VERSION, kit_versions

__all__ = ["KitManifest", "build_kit", "load_manifest", "manifest_path", "MIN_FREE_GB"]

MIN_FREE_GB = 12.0


@dataclass(frozen=True)
class KitManifest:
    """What a finished kit build produced; the harness's kind path reads it."""

    kubernetes: str
    kind_version: str
    kind_bin: str
    kubectl_bin: str
    node_image: str
    app_images: tuple[AppImage, ...]
    prober_image: str
    built_at: float
    containerd_version: str = ""  # the node's containerd (absent from manifests written before it was recorded)
    etcd_image_tag: str | None = None  # named in kubeadm's config where kubeadm would ask for another etcd

    def image(self, role: str) -> AppImage:
        return next(i for i in self.app_images if i.role == role)


def manifest_path(minor: int | None = None) -> Path:
    name = "manifest.json" if minor is None else f"manifest-1.{minor}.json"
    return cache_root() / "kit" / name


def load_manifest(path: Path | None = None) -> KitManifest | None:
    """The last finished kit build (or the one at `path`), or None."""
    path = path or manifest_path()
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    data["app_images"] = tuple(AppImage(**i) for i in data["app_images"])
    return KitManifest(**data)


def _check_disk() -> None:
    for path in (cache_root(), Path("/var/lib/docker")):
        probe = path if path.exists() else path.parent
        free = shutil.disk_usage(probe).free / 1e9
        if free < MIN_FREE_GB:
            raise ProviderError(
                f"only {free:.1f} GB free under {probe}; the kit needs about {MIN_FREE_GB:.0f} GB: "
                "free some space (e.g. `docker system prune`) or set ROLLPROOF_CACHE elsewhere"
            )


def _prune_superseded() -> None:
    """Remove the kit's own images that a rebuild left untagged (never anything else)."""
    import subprocess

    from .docker import KIT_LABEL

    subprocess.run(
        ["docker", "image", "prune", "--force", "--filter", f"label={KIT_LABEL}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def build_kit(kit_version: str = DEFAULT_KIT_VERSION, where: str = "kit version") -> KitManifest:
    """Build (or reuse) engine, binaries and images for `kit_version`; write and return the manifest.

    `where` names where the version came from, for the error when the kit cannot build it."""
    versions = kit_versions(kit_version, where)
    started = time.monotonic()
    cache_root().mkdir(parents=True, exist_ok=True)
    with open(cache_root() / "kit.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say("another kit build is running; waiting for it")
            fcntl.flock(lock, fcntl.LOCK_EX)
        _check_disk()
        with stage("docker engine"):
            engine = ensure_engine()
            say(f"docker engine {engine.version}, default runtime {engine.default_runtime}")
        with stage("build tools"):
            ensure_tools()
        if os.geteuid() == 0:
            raise_inotify_limits()
        programs = kit_programs(versions)
        build_programs(programs)
        apps = build_app_images()
        with stage("image rollproof/prober (in-cluster prober)"):
            prober = build_prober_image()
        node = build_node_image(versions, programs)
        # kubectl 1.17 for the RC referee suite: built here, not in the suite's first test (a cold
        # cache spent 80 s of `pytest suites/` building it, run A1)
        build_referee()
        manifest = KitManifest(
            kubernetes=versions.kubernetes,
            kind_version=versions.kind,
            kind_bin=str(programs["kind"].path("kind")),
            kubectl_bin=str(programs["kubernetes"].path("kubectl")),
            node_image=node.tag,
            app_images=tuple(apps),
            prober_image=prober,
            built_at=time.time(),
            containerd_version=versions.containerd,
            etcd_image_tag=versions.etcd_override,
        )
        _prune_superseded()
        text = json.dumps(asdict(manifest), indent=2) + "\n"
        for path in (manifest_path(versions.minor), manifest_path()):
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(text)
            os.replace(tmp, path)
    say(
        f"kit ready in {time.monotonic() - started:.1f}s: node image {node.tag} (kind {versions.kind}, "
        f"containerd {versions.containerd}), "
        f"apps {', '.join(a.tag for a in apps)}; manifest {manifest_path()}"
    )
    return manifest
