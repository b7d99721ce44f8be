"""Pinned versions of everything the kit builds, in one place, per Kubernetes minor.

For each minor:
- Kubernetes: the latest patch in the Go module proxy.
- etcd, CoreDNS, pause: what that release's kubeadm asks for
  (`cmd/kubeadm/app/constants/constants.go`: DefaultEtcdVersion, CoreDNSVersion, PauseVersion).
- kind: the release whose default node image is that minor. kind supports a node image
  only with the release that made it, and each release writes the kubeadm config API
  its minors expect (v0.30 writes v1beta3; v0.32 writes v1beta4 from 1.36 on, which
  1.37's kubeadm requires).
- containerd: a line containerd's RELEASES.md recommends for that minor ("Kubernetes
  Support" table, read in v2.2.9 and v2.4.2): 2.0 (LTS) for 1.31-1.33, 2.2 for 1.35 and
  1.36, 2.3 (LTS) for 1.37. 1.34 keeps 2.2.9, the runtime its CI was proven with (the
  table lists 2.1.3+ and 2.0.6+ for 1.34; 2.2 is newer than both lines).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError

__all__ = ["KitVersions", "kit_versions", "SUPPORTED_MINORS", "CRICTL_VERSION"]

CRICTL_VERSION = "v1.34.0"

_BY_MINOR: dict[int, dict[str, str]] = {
    31: {"kubernetes": "v1.31.14", "etcd": "v3.5.24", "etcd_tag": "3.5.24-0",
         "coredns": "v1.11.3", "pause": "3.10", "kind": "v0.24.0", "containerd": "v2.0.14"},
    32: {"kubernetes": "v1.32.13", "etcd": "v3.5.24", "etcd_tag": "3.5.24-0",
         "coredns": "v1.11.3", "pause": "3.10", "kind": "v0.26.0", "containerd": "v2.0.14"},
    33: {"kubernetes": "v1.33.13", "etcd": "v3.5.24", "etcd_tag": "3.5.24-0",
         "coredns": "v1.12.0", "pause": "3.10", "kind": "v0.29.0", "containerd": "v2.0.14"},
    34: {"kubernetes": "v1.34.4", "etcd": "v3.6.5", "etcd_tag": "3.6.5-0",
         "coredns": "v1.12.1", "pause": "3.10.1", "kind": "v0.30.0", "containerd": "v2.2.9"},
    35: {"kubernetes": "v1.35.4", "etcd": "v3.6.6", "etcd_tag": "3.6.6-0",
         "coredns": "v1.13.1", "pause": "3.10.1", "kind": "v0.31.0", "containerd": "v2.2.9"},
    36: {"kubernetes": "v1.36.3", "etcd": "v3.6.8", "etcd_tag": "3.6.8-0",
         "coredns": "v1.14.2", "pause": "3.10.2", "kind": "v0.32.0", "containerd": "v2.2.9"},
    37: {"kubernetes": "v1.37.2", "etcd": "v3.7.0", "etcd_tag": "3.7.0-0",
         "coredns": "v1.14.6", "pause": "3.10.2", "kind": "v0.33.0", "containerd": "v2.3.7"},
}
SUPPORTED_MINORS = tuple(sorted(_BY_MINOR))


@dataclass(frozen=True)
class KitVersions:
    """Every version the kit pins for one Kubernetes release."""

    kubernetes: str
    etcd: str
    etcd_tag: str
    coredns: str
    pause: str
    kind: str
    containerd: str
    crictl: str = CRICTL_VERSION

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
