"""The kind node image: systemd, containerd, kubelet and every image kubeadm asks for.

Layout of the work:
  node base    debootstrap bookworm + systemd, runc, CNI plugins, iptables
  containerd   built from its module (the kit's Go programs), with our unit and config
  components   images kubeadm asks for (`kubeadm config images list`), made from the
               binaries built here: static ones for the control plane, etcd, CoreDNS
               and pause (etcd with etcdctl and Debian's static busybox as /bin/sh where
               kubeadm probes etcd by a shell command); the node base + kube-proxy +
               kubectl for kube-proxy and netd
  preload      those images imported into a containerd content store (no unpack),
               by a private instance of that same containerd on the host
  node image   `docker build` FROM the node base: binaries, node files, the store
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import ProviderError, WaitTimeout
from ..poll import poll
from .docker import build_image, image_key
from .static import static_image
from .gobuild import GoProgram
from .paths import cache_root, kit_file
from .rootfs import DebianImage, build_debian_image, debian_file
from .stages import input_hash, run, say, stage
from .versions import KitVersions

__all__ = ["NODE_BASE", "NodeImage", "build_node_image", "etcd_image_files", "kubeadm_images", "node_overlays"]

NODE_PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "iptables",
    "nftables",
    "iproute2",
    "conntrack",
    "kmod",
    "runc",
    "containernetworking-plugins",
    "ca-certificates",
    "procps",
    "util-linux",
    "mount",
    "ethtool",
    "socat",
)

# Units that make no sense in a node container.
_MASKED_UNITS = (
    "getty.target",
    "console-getty.service",
    "systemd-binfmt.service",
    "systemd-modules-load.service",
    "systemd-udevd.service",
    "systemd-udev-trigger.service",
    "systemd-timesyncd.service",
    "proc-sys-fs-binfmt_misc.automount",
    "sys-kernel-debug.mount",
    "sys-kernel-tracing.mount",
)


def _customize_base(root: Path) -> None:
    system = root / "etc/systemd/system"
    for unit in _MASKED_UNITS:
        link = system / unit
        link.unlink(missing_ok=True)
        link.symlink_to("/dev/null")
    (root / "etc/machine-id").write_text("")
    journald = root / "etc/systemd/journald.conf"
    journald.write_text(journald.read_text() + "\nReadKMsg=no\n")
    (root / "opt/cni").mkdir(parents=True, exist_ok=True)
    (root / "opt/cni/bin").symlink_to("/usr/lib/cni")
    for path in ("etc/kubernetes/manifests", "etc/cni/net.d", "kind"):
        (root / path).mkdir(parents=True, exist_ok=True)


NODE_BASE = DebianImage(
    tag="rollproof/node-base:bookworm",
    suite="bookworm",
    packages=NODE_PACKAGES,
    customize=_customize_base,
    customize_inputs=("node-base/2", _MASKED_UNITS),
)


# A shell for images that have none (Debian's busybox-static: one static binary, /bin/busybox).
BUSYBOX_STATIC = DebianImage(tag="rollproof/busybox-static:bookworm", suite="bookworm", packages=("busybox-static",))


def etcd_image_files(versions: KitVersions, etcd_bin: Path, shell: Path | None) -> dict[str, Path]:
    """The etcd image's files: etcd; where kubeadm probes etcd by `/bin/sh -ec "... etcdctl ..."`,
    also etcdctl (on the image's PATH) and a static shell as /bin/sh (busybox runs as the `sh` applet)."""
    files = {"/usr/local/bin/etcd": etcd_bin / "etcd"}
    if versions.etcd_exec_probe:
        if shell is None:
            raise ProviderError(f"kubeadm {versions.kubernetes} probes etcd with /bin/sh: give the etcd image a shell")
        files.update({"/usr/local/bin/etcdctl": etcd_bin / "etcdctl", "/bin/sh": shell})
    return files


def _etcd_shell(versions: KitVersions) -> Path | None:
    if not versions.etcd_exec_probe:
        return None
    return debian_file(BUSYBOX_STATIC, "/bin/busybox", cache_root() / "bin" / "busybox-static" / "busybox")


def node_overlays(versions: KitVersions) -> tuple[str, ...]:
    """Directories of `files/node-overlays` copied over the node files for this release.

    The node files are written for the newest releases; an overlay replaces the few
    files an older containerd or kubelet reads differently.
    """
    overlays = []
    if versions.containerd.startswith("v2.0."):
        overlays.append("containerd-2.0")  # one CNI `bin_dir`
    if versions.containerd.startswith("v1."):
        if versions.minor >= 24:  # kind gives those the systemd cgroup driver; the 1.x overlay says cgroupfs
            raise ProviderError(
                f"containerd {versions.containerd} is configured for kubelets before 1.24, "
                f"not {versions.kubernetes}: pin a containerd 2.x for it in harness/kit/versions.py"
            )
        overlays.append("containerd-1.7")  # config version 2, CRI v1alpha2, cgroupfs
    if versions.minor < 31:
        overlays.append("kubelet-before-1.31")  # no --fail-cgroupv1 flag
    return tuple(overlays)


@dataclass(frozen=True)
class NodeImage:
    tag: str
    kubernetes: str
    images: tuple[str, ...]  # what the node's containerd holds


def kubeadm_images(kubeadm: Path, versions: KitVersions) -> list[str]:
    """The image names kubeadm of this release asks for."""
    out = run(
        [str(kubeadm), "config", "images", "list", "--kubernetes-version", versions.kubernetes],
        what="kubeadm config images list",
    )
    return [line.strip() for line in out.splitlines() if line.strip().count("/") >= 1 and ":" in line]


def _with_etcd_override(image: str, versions: KitVersions) -> str:
    """kubeadm's etcd image under the tag the kit's etcd really has, where kubeadm is told to run
    another etcd than its own default (`KitVersions.etcd_override`); every other image as asked."""
    repository, _, _ = image.rpartition(":")
    if versions.etcd_override and repository.rsplit("/", 1)[-1] == "etcd":
        return f"{repository}:{versions.etcd_override}"
    return image


def _build_pause(out_dir: Path) -> Path:
    source = kit_file("pause", "pause.c")
    binary = out_dir / "pause"
    stamp = out_dir / ".pause.key"
    key = input_hash(source)
    if binary.exists() and stamp.exists() and stamp.read_text() == key:
        return binary
    out_dir.mkdir(parents=True, exist_ok=True)
    run(
        ["gcc", "-static", "-Os", "-o", str(binary) + ".tmp", str(source)],
        what="compile pause",
        fix="install gcc and libc6-dev",
    )
    os.replace(str(binary) + ".tmp", binary)
    stamp.write_text(key)
    return binary


def _component_images(
    versions: KitVersions, k8s_bin: Path, etcd_bin: Path, coredns_bin: Path, keys: dict[str, str]
) -> list[str]:
    wanted = [_with_etcd_override(name, versions) for name in kubeadm_images(k8s_bin / "kubeadm", versions)]
    by_name = {name.rsplit("/", 1)[-1].split(":")[0]: name for name in wanted}
    pause = _build_pause(cache_root() / "bin" / "pause")
    static = {
        "kube-apiserver": ({"/usr/local/bin/kube-apiserver": k8s_bin / "kube-apiserver"}, ()),
        "kube-controller-manager": (
            {"/usr/local/bin/kube-controller-manager": k8s_bin / "kube-controller-manager"},
            (),
        ),
        "kube-scheduler": ({"/usr/local/bin/kube-scheduler": k8s_bin / "kube-scheduler"}, ()),
        "etcd": (etcd_image_files(versions, etcd_bin, _etcd_shell(versions)), ()),
        "coredns": ({"/coredns": coredns_bin / "coredns"}, ('ENTRYPOINT ["/coredns"]', "EXPOSE 53 53/udp")),
        "pause": ({"/pause": pause}, ('ENTRYPOINT ["/pause"]',)),
    }
    missing = set(by_name) - set(static) - {"kube-proxy"}
    if missing:
        raise ProviderError(f"kubeadm {versions.kubernetes} asks for images the kit cannot make: {sorted(missing)}")
    for name, (files, changes) in static.items():
        key = input_hash("static/1", keys.get(name, ""), changes, *files.values())
        static_image(by_name[name], files, changes, key)
    tools = _tools_image(versions, k8s_bin, keys)
    subprocess.run(["docker", "tag", tools, by_name["kube-proxy"]], check=True)
    return wanted + [tools]


def netd_image(versions: KitVersions) -> str:
    return f"rollproof/netd:{versions.kubernetes}"


def _tools_image(versions: KitVersions, k8s_bin: Path, keys: dict[str, str]) -> str:
    """The node base plus kube-proxy, kubectl and rollproof-netd (iptables, ip, conntrack inside)."""
    tag = netd_image(versions)
    netd = kit_file("node", "usr/local/bin/rollproof-netd")
    key = input_hash("tools/1", NODE_BASE.key(), keys["kubernetes"], netd)
    if image_key(tag) == key:
        say(f"image {tag}: cached")
        return tag
    with stage(f"image {tag} (kube-proxy, kubectl, netd)"), tempfile.TemporaryDirectory(dir=cache_root()) as ctx:
        context = Path(ctx)
        for name in ("kube-proxy", "kubectl"):
            shutil.copy(k8s_bin / name, context / name)
        shutil.copy(netd, context / "rollproof-netd")
        (context / "Dockerfile").write_text(
            f"FROM {NODE_BASE.tag}\nCOPY kube-proxy kubectl rollproof-netd /usr/local/bin/\n"
        )
        build_image(context, tag, key)
    return tag


_CONTAINERD_START_TIMEOUT = 30.0
"""Seconds a private containerd may take to open its socket."""


class _PrivateContainerd:
    """A containerd on the host whose only job is to fill a content store for the node image."""

    def __init__(self, bin_dir: Path, root: Path, state: Path, config_version: int = 3) -> None:
        self.bin_dir, self.root, self.state = bin_dir, root, state
        self.config_version = config_version  # 2 for containerd 1.x
        self.socket = state / "containerd.sock"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> "_PrivateContainerd":
        self.state.mkdir(parents=True, exist_ok=True)
        config = self.state / "config.toml"
        disabled = (
            '"io.containerd.grpc.v1.cri"'
            if self.config_version == 2
            else '"io.containerd.grpc.v1.cri", "io.containerd.cri.v1.runtime"'
        )
        config.write_text(
            f"version = {self.config_version}\n"
            f"disabled_plugins = [{disabled}]\n"
            f'root = "{self.root}"\nstate = "{self.state / "run"}"\n'
            f'[grpc]\n  address = "{self.socket}"\n'
        )
        log = open(self.state / "containerd.log", "wb")
        self.proc = subprocess.Popen(
            [str(self.bin_dir / "containerd"), "--config", str(config)], stdout=log, stderr=log
        )
        failed = ProviderError(f"private containerd did not start; see {self.state / 'containerd.log'}")

        def listening() -> tuple[bool, str]:
            if self.socket.exists():
                return True, "socket present"
            if self.proc is not None and self.proc.poll() is not None:
                raise failed
            return False, f"no socket at {self.socket}"

        try:
            poll(listening, waited_for="private containerd to listen", timeout=_CONTAINERD_START_TIMEOUT, interval=0.2)
        except WaitTimeout as exc:
            raise failed from exc
        return self

    def ctr(self, *args: str, stdin: bytes | None = None) -> str:
        return run(
            [str(self.bin_dir / "ctr"), "--address", str(self.socket), "--namespace", "k8s.io", *args],
            what=f"ctr {' '.join(args[:2])}",
            stdin=stdin,
        )

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def _preload(images: list[str], containerd_bin: Path, store: Path, work: Path, config_version: int = 3) -> None:
    work.mkdir(parents=True, exist_ok=True)
    archive = work / "images.tar"
    run(["docker", "save", "-o", str(archive), *images], what="docker save node images")
    with _PrivateContainerd(containerd_bin, store, work / "containerd-state", config_version) as containerd:
        containerd.ctr("images", "import", "--no-unpack", "--all-platforms", "--digests", str(archive))
        listed = set(containerd.ctr("images", "list", "-q").split())
    archive.unlink()
    absent = [i for i in images if i not in listed and f"docker.io/{i}" not in listed]
    if absent:
        raise ProviderError(f"node image preload is missing {absent}; the store holds {sorted(listed)}")


def build_node_image(versions: KitVersions, programs: dict[str, GoProgram]) -> NodeImage:
    """Build (or reuse) the node image for `versions`; returns its tag and contents."""
    build_debian_image(NODE_BASE)
    keys = {role: program.key() for role, program in programs.items()}
    k8s_bin = programs["kubernetes"].out_dir()
    images = _component_images(versions, k8s_bin, programs["etcd"].out_dir(), programs["coredns"].out_dir(), keys)
    files = kit_file("node")
    overlays = [kit_file("node-overlays", name) for name in node_overlays(versions)]
    kubelet = programs.get("kubelet", programs["kubernetes"])  # built apart for releases whose kubelet used cgo
    tag = f"rollproof/node:{versions.kubernetes}"
    component_keys = [image_key(i) for i in images]
    extra = [keys["kubelet"]] if "kubelet" in keys else []
    key = input_hash(
        "node/2",
        NODE_BASE.key(),
        keys["kubernetes"],
        keys["crictl"],
        keys["containerd"],
        files,
        component_keys,
        images,  # the names too: one image under another tag is another node image
        *overlays,
        *extra,
    )
    if image_key(tag) == key:
        say(f"image {tag}: cached")
        return NodeImage(tag, versions.kubernetes, tuple(images))
    with stage(f"image {tag}"), tempfile.TemporaryDirectory(dir=cache_root()) as ctx:
        context = Path(ctx)
        rootfs = context / "rootfs"
        shutil.copytree(files, rootfs, symlinks=True)
        for overlay in overlays:
            say(f"node files: overlay {overlay.name}")
            shutil.copytree(overlay, rootfs, symlinks=True, dirs_exist_ok=True)
        _render(rootfs, versions, images)
        (rootfs / "usr/bin").mkdir(parents=True, exist_ok=True)
        shutil.copy(kubelet.path("kubelet"), rootfs / "usr/bin" / "kubelet")
        for name in ("kubeadm", "kubectl"):
            shutil.copy(k8s_bin / name, rootfs / "usr/bin" / name)
        shutil.copy(programs["crictl"].out_dir() / "crictl", rootfs / "usr/local/bin/crictl")
        containerd_bin = programs["containerd"].out_dir()
        for package in programs["containerd"].packages:  # containerd, its runc shim, ctr
            name = package.rsplit("/", 1)[-1]
            shutil.copy(containerd_bin / name, rootfs / "usr/local/bin" / name)
        (rootfs / "kind/version").write_text(versions.kubernetes)
        wants = rootfs / "etc/systemd/system/multi-user.target.wants"
        wants.mkdir(parents=True, exist_ok=True)
        (wants / "kubelet.service").symlink_to("/etc/systemd/system/kubelet.service")
        (wants / "containerd.service").symlink_to("/etc/systemd/system/containerd.service")
        with stage("preload images into the node's containerd"):
            _preload(
                images,
                containerd_bin,
                rootfs / "var/lib/containerd",
                context / "work",
                config_version=2 if versions.containerd.startswith("v1.") else 3,
            )
        shutil.rmtree(context / "work", ignore_errors=True)
        (context / "Dockerfile").write_text(
            f"FROM {NODE_BASE.tag}\n"
            "COPY rootfs/ /\n"
            "ENV container=docker\n"
            "STOPSIGNAL SIGRTMIN+3\n"
            'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]\n'
        )
        build_image(context, tag, key)
    return NodeImage(tag, versions.kubernetes, tuple(images))


def _render(rootfs: Path, versions: KitVersions, images: list[str]) -> None:
    """Fill the @...@ placeholders of the node files and drop the `.in` suffix."""
    pause = next(i for i in images if "/pause:" in i)
    values = {"@PAUSE_IMAGE@": pause, "@NETD_IMAGE@": netd_image(versions)}
    for template in rootfs.rglob("*.in"):
        text = template.read_text()
        for marker, value in values.items():
            text = text.replace(marker, value)
        template.with_suffix("").write_text(text)
        template.unlink()
