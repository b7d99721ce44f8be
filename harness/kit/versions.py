"""Pinned versions of everything the kit builds, in one place."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError

__all__ = ["KitVersions", "kit_versions", "SUPPORTED_MINORS"]

KIND_VERSION = "v0.30.0"
CRICTL_VERSION = "v1.34.0"
# The node's container runtime, from its module (Debian bookworm's 1.6.20 is below the
# containerd floor of current Kubernetes releases).
CONTAINERD_VERSION = "v2.2.9"

# Latest patch of each Kubernetes minor the kit knows how to build, and the
# etcd / CoreDNS / pause versions kubeadm of that minor asks for
# (cmd/kubeadm/app/constants/constants.go of that release).
_BY_MINOR: dict[int, dict[str, str]] = {
    34: {"kubernetes": "v1.34.4", "etcd": "v3.6.5", "etcd_tag": "3.6.5-0",
         "coredns": "v1.12.1", "pause": "3.10.1"},
    35: {"kubernetes": "v1.35.4", "etcd": "v3.6.6", "etcd_tag": "3.6.6-0",
         "coredns": "v1.13.1", "pause": "3.10.1"},
    36: {"kubernetes": "v1.36.3", "etcd": "v3.6.8", "etcd_tag": "3.6.8-0",
         "coredns": "v1.14.2", "pause": "3.10.2"},
}
# 1.37 drops kubeadm's v1beta3 config API, the one kind v0.30 writes: it needs a newer kind.
SUPPORTED_MINORS = tuple(sorted(_BY_MINOR))


@dataclass(frozen=True)
class KitVersions:
    """Every version the kit pins for one Kubernetes release."""

    kubernetes: str
    etcd: str
    etcd_tag: str
    coredns: str
    pause: str
    kind: str = KIND_VERSION
    crictl: str = CRICTL_VERSION
    containerd: str = CONTAINERD_VERSION

    @property
    def minor(self) -> int:
        return int(self.kubernetes.split(".")[1])

    @property
    def staging(self) -> str:
        """Version of the k8s.io/* staging modules matching `kubernetes`."""
        return "v0." + self.kubernetes.split(".", 1)[1]


def kit_versions(k8s_version: str) -> KitVersions:
    """Resolve "1.34", "v1.34" or "1.34.4" to the pinned versions, or say what is supported."""
    text = k8s_version.lstrip("v")
    parts = text.split(".")
    try:
        minor = int(parts[1]) if len(parts) >= 2 and parts[0] == "1" else -1
    except ValueError:
        minor = -1
    pins = _BY_MINOR.get(minor)
    if pins is None:
        known = ", ".join(f"1.{m}" for m in SUPPORTED_MINORS)
        raise ConfigError(f"--k8s-version {k8s_version!r}: the kit builds {known}; pass one of those")
    if len(parts) == 3 and "v" + text != pins["kubernetes"]:
        return KitVersions(**{**pins, "kubernetes": "v" + text})
    return KitVersions(**pins)
