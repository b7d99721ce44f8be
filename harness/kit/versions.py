"""Pinned versions of everything the kit builds, in one place, per Kubernetes minor.

For each minor:
- Kubernetes: the latest patch whose module and every staging module (k8s.io/kube-proxy,
  k8s.io/endpointslice, ...) the Go module proxy serves, zip and checksum-database entry
  both: 1.31.14's k8s.io/kube-proxy, endpointslice, kube-scheduler and kube-controller-manager
  v0.31.14 and 1.32.13's k8s.io/endpointslice v0.32.13 are refused ("This module version is
  not available"), 1.31.13's kube-proxy has no checksum entry (404), and every 1.31 patch from
  .5 to .12 lacks one module or another; so 1.31 is 1.31.4 and 1.32 is 1.32.9.
- etcd, CoreDNS, pause: what that release's kubeadm asks for
  (`cmd/kubeadm/app/constants/constants.go`: DefaultEtcdVersion, CoreDNSVersion, PauseVersion),
  except where the proxy does not serve that etcd whole: 1.31.4 asks for 3.5.15-0 and 1.32.9
  for 3.5.16-0, whose go.etcd.io/etcd/client/v2 is refused, so both run etcd 3.5.24 (what
  1.31.14 asks for), named to kubeadm through its config (`kubeadm_etcd_tag` records what
  kubeadm would have asked for; the kind config then sets etcd.local.imageTag).
- kind: the release whose default node image is that minor. kind supports a node image
  only with the release that made it, and each release writes the kubeadm config API
  its minors expect (v0.30 writes v1beta3; v0.32 writes v1beta4 from 1.36 on, which
  1.37's kubeadm requires).
- containerd: a line containerd's RELEASES.md recommends for that minor ("Kubernetes
  Support" table, read in v2.2.9 and v2.4.2): 2.0 (LTS) for 1.31-1.33, 2.2 for 1.35 and
  1.36, 2.3 (LTS) for 1.37. 1.34 keeps 2.2.9, the runtime its CI was proven with (the
  table lists 2.1.3+ and 2.0.6+ for 1.34; 2.2 is newer than both lines).

1.15, the walkthrough's era (the last minor serving extensions/v1beta1 Deployments and
their rollback subresource), is built from the same registries with three differences:
- containerd 1.7, the newest line that still serves CRI v1alpha2, the only CRI a 1.15
  kubelet speaks (containerd 2.0 removed it);
- kind v0.30.0, not a release that made 1.15 images (v0.4-v0.12): those start nodes in
  the host's cgroup namespace on cgroup v1 hosts with Docker 20.10 (`--cgroupns=private`
  arrived in kind v0.20), which the kit's node does not support; v0.30 still writes the
  kubeadm v1beta2 config for releases before 1.23 and the cgroupfs driver before 1.24;
- code written for Go 1.12 is built with an older Go (`OldGo`) and the dependency
  versions that release pinned in its own go.mod, with a few pins replaced (`OldGo.replaces`).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError
from ..kubeversion import KubeVersion, parse_version

__all__ = [
    "KitVersions",
    "OldGo",
    "kit_versions",
    "staging_version",
    "SUPPORTED_MINORS",
    "DEFAULT_KIT_VERSION",
    "CRICTL_VERSION",
]

DEFAULT_KIT_VERSION = "1.34"
"""The minor `rollproof kit build` builds when neither --kit-version nor ROLLPROOF_KIT_VERSION names one."""

CRICTL_VERSION = "v1.34.0"

_BY_MINOR: dict[int, dict[str, str]] = {
    15: {
        "kubernetes": "v1.15.12",
        "etcd": "v3.3.10",
        "etcd_tag": "3.3.10",
        "coredns": "v1.3.1",
        "pause": "3.1",
        "kind": "v0.30.0",
        "containerd": "v1.7.35",
    },
    31: {
        "kubernetes": "v1.31.4",
        "etcd": "v3.5.24",
        "etcd_tag": "3.5.24-0",
        "kubeadm_etcd_tag": "3.5.15-0",
        "coredns": "v1.11.3",
        "pause": "3.10",
        "kind": "v0.24.0",
        "containerd": "v2.0.14",
    },
    32: {
        "kubernetes": "v1.32.9",
        "etcd": "v3.5.24",
        "etcd_tag": "3.5.24-0",
        "kubeadm_etcd_tag": "3.5.16-0",
        "coredns": "v1.11.3",
        "pause": "3.10",
        "kind": "v0.26.0",
        "containerd": "v2.0.14",
    },
    33: {
        "kubernetes": "v1.33.13",
        "etcd": "v3.5.24",
        "etcd_tag": "3.5.24-0",
        "coredns": "v1.12.0",
        "pause": "3.10",
        "kind": "v0.29.0",
        "containerd": "v2.0.14",
    },
    34: {
        "kubernetes": "v1.34.4",
        "etcd": "v3.6.5",
        "etcd_tag": "3.6.5-0",
        "coredns": "v1.12.1",
        "pause": "3.10.1",
        "kind": "v0.30.0",
        "containerd": "v2.2.9",
    },
    35: {
        "kubernetes": "v1.35.4",
        "etcd": "v3.6.6",
        "etcd_tag": "3.6.6-0",
        "coredns": "v1.13.1",
        "pause": "3.10.1",
        "kind": "v0.31.0",
        "containerd": "v2.2.9",
    },
    36: {
        "kubernetes": "v1.36.3",
        "etcd": "v3.6.8",
        "etcd_tag": "3.6.8-0",
        "coredns": "v1.14.2",
        "pause": "3.10.2",
        "kind": "v0.32.0",
        "containerd": "v2.2.9",
    },
    37: {
        "kubernetes": "v1.37.2",
        "etcd": "v3.7.0",
        "etcd_tag": "3.7.0-0",
        "coredns": "v1.14.6",
        "pause": "3.10.2",
        "kind": "v0.33.0",
        "containerd": "v2.3.7",
    },
}
SUPPORTED_MINORS = tuple(sorted(_BY_MINOR))


@dataclass(frozen=True)
class OldGo:
    """How code written for an older Go is built.

    `toolchain` is what GOTOOLCHAIN names (the Go module proxy serves it as the
    module golang.org/toolchain). Each wrapper module replaces every dependency
    with the version k8s.io/kubernetes of that release pinned in its go.mod, then
    applies the `replaces` for its program ("*" for all): (program, module,
    "module version"), where the module may be another one serving the same code.
    """

    toolchain: str
    go_directive: str
    replaces: tuple[tuple[str, str, str], ...] = ()
    requires: tuple[tuple[str, str, str], ...] = ()  # (program, module, version) a program needs beyond its module
    nosumdb: tuple[str, ...] = ()  # modules whose version the checksum database never recorded
    # The release's module lacks pkg/generated/openapi/zz_generated.openapi.go (its Makefile generated it):
    # generate it with the openapi-gen the release pins, from the packages its Makefile would give it.
    generate_openapi: bool = False

    def replaces_for(self, program: str) -> tuple[tuple[str, str], ...]:
        return tuple((module, target) for role, module, target in self.replaces if role in ("*", program))

    def requires_for(self, program: str) -> tuple[tuple[str, str], ...]:
        return tuple((module, version) for role, module, version in self.requires if role in ("*", program))


# Replaced pins, and why (each found building 1.15.12 with go1.21.13):
_OLD_GO_1_15 = OldGo(
    toolchain="go1.21.13",
    go_directive="1.21",
    replaces=(
        # reflect2 1.0.1 reads the runtime's map internals that Go 1.18 changed (json-iterator then
        # corrupts memory or panics); 1.0.2 is the release made for that.
        ("*", "github.com/modern-go/reflect2", "github.com/modern-go/reflect2 v1.0.2"),
        # vbom.ml no longer serves its import path (the proxy refuses vbom.ml/util); the commit 1.15 pins
        # (kubectl's `get --sort-by` uses its sortorder package) is served as github.com/fvbommel/util.
        ("kubernetes", "vbom.ml/util", "github.com/fvbommel/util v0.0.0-20160121211510-db5cfe13f5cc"),
        # CoreDNS 1.3.1 was built against caddy v0.11.1 and miekg/dns v1.1.3 (its Makefile);
        # Kubernetes 1.15 pins older ones for kubeadm's Corefile migration.
        ("coredns", "github.com/mholt/caddy", "github.com/mholt/caddy v0.11.1"),
        ("coredns", "github.com/miekg/dns", "github.com/miekg/dns v1.1.3"),
        ("coredns", "k8s.io/client-go", "k8s.io/client-go v10.0.0+incompatible"),
        ("coredns", "k8s.io/api", "k8s.io/api v0.0.0-20181204000039-89a74a8d264d"),
        ("coredns", "k8s.io/apimachinery", "k8s.io/apimachinery v0.0.0-20181127025237-2b1284ed4c93"),
    ),
    requires=(
        # etcd 3.3's generated codecs refuse any codec but codecgen version 8 (ugorji/go v1.1.1, whose
        # module still held the codec package); Kubernetes 1.15 does not use ugorji, so its go.mod pins none.
        ("etcd", "github.com/ugorji/go", "v1.1.1"),
        # etcdctl's own dependencies (Kubernetes pins none of them) at the versions etcd 3.4's go.mod pins, the
        # same commits 3.3.10's glide.lock names for go-humanize and tablewriter (the proxy serves no commit
        # hashes); their newest releases differ in API (tablewriter v1) or need a newer Go (fatih/color, which
        # pb.v1's tests import, wants go 1.25).
        ("etcd", "github.com/bgentry/speakeasy", "v0.1.0"),
        ("etcd", "github.com/dustin/go-humanize", "v0.0.0-20171111073723-bb3d318650d4"),
        ("etcd", "github.com/mattn/go-runewidth", "v0.0.2"),
        ("etcd", "github.com/olekukonko/tablewriter", "v0.0.0-20170122224234-a0225b3f23b5"),
        ("etcd", "github.com/urfave/cli", "v1.20.0"),
        ("etcd", "gopkg.in/cheggaaa/pb.v1", "v1.0.25"),
        ("etcd", "github.com/fatih/color", "v1.7.0"),
        ("etcd", "github.com/mattn/go-colorable", "v0.0.9"),
        ("etcd", "github.com/mattn/go-isatty", "v0.0.4"),
        # CoreDNS 1.3.1's kubernetes plugin implements apimachinery's meta.Object of Kubernetes 1.13
        # (no GetManagedFields, added in 1.14): the client-go and the api/apimachinery revisions its
        # Gopkg.lock pinned.
        ("coredns", "k8s.io/client-go", "v10.0.0+incompatible"),
        ("coredns", "k8s.io/api", "v0.0.0-20181204000039-89a74a8d264d"),
        ("coredns", "k8s.io/apimachinery", "v0.0.0-20181127025237-2b1284ed4c93"),
        # What else CoreDNS 1.3.1's Gopkg.lock pinned (go-shlex: caddy 0.11.1's vendor manifest) and Kubernetes
        # does not, so that no dependency is taken at its newest version.
        ("coredns", "github.com/dnstap/golang-dnstap", "v0.0.0-20170829151710-2cf77a2b5e11"),
        ("coredns", "github.com/farsightsec/golang-framestream", "v0.0.0-20180124174429-c06a5734334d"),
        ("coredns", "github.com/flynn/go-shlex", "v0.0.0-20150515145356-3f9db97f8568"),
        ("coredns", "github.com/grpc-ecosystem/grpc-opentracing", "v0.0.0-20180507213350-8e809c8a8645"),
        ("coredns", "github.com/opentracing/opentracing-go", "v1.0.2"),
    ),
    # The checksum database has no record of github.com/coredns/coredns v1.3.1 (404); the proxy
    # serves it, and its hash is recorded in the wrapper's go.sum on first download.
    nosumdb=("github.com/coredns/coredns",),
    generate_openapi=True,
)
_OLD_GO: dict[int, OldGo] = {15: _OLD_GO_1_15}


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
    old_go: OldGo | None = None
    kubeadm_etcd_tag: str | None = None  # what kubeadm asks for, where the kit runs another etcd

    @property
    def etcd_override(self) -> str | None:
        """The etcd image tag to name in kubeadm's config, where kubeadm would ask for another one."""
        return self.etcd_tag if self.kubeadm_etcd_tag and self.kubeadm_etcd_tag != self.etcd_tag else None

    @property
    def etcd_exec_probe(self) -> bool:
        """kubeadm before 1.16 checks etcd by running `/bin/sh -ec "ETCDCTL_API=3 etcdctl ... get foo"`
        in its container (an HTTP probe from 1.16, kubernetes#81385): the image needs a shell and etcdctl."""
        return self.minor < 16

    @property
    def minor(self) -> int:
        return parse_version(self.kubernetes).minor

    @property
    def staging(self) -> str:
        """Version of the k8s.io/* staging modules matching `kubernetes`."""
        return staging_version(self.kubernetes)


def staging_version(kubernetes: str) -> str:
    """The k8s.io/* staging modules' version of a Kubernetes release: v1.34.4 -> v0.34.4."""
    version = parse_version(kubernetes)
    return f"v0.{version.minor}.{version.patch or 0}{version.suffix}"


def kit_versions(kit_version: str, where: str = "kit version") -> KitVersions:
    """Resolve "1.34", "v1.34" or "1.34.4" to the pinned versions, or say what is supported."""
    known = ", ".join(f"1.{m}" for m in SUPPORTED_MINORS)
    try:
        version: KubeVersion | None = parse_version(kit_version)
    except ConfigError:
        version = None
    pins = _BY_MINOR.get(version.minor) if version is not None and version.major == 1 else None
    if version is None or pins is None:
        raise ConfigError(f"{where} {kit_version!r}: the kit builds {known}; pass one of those")
    old_go = _OLD_GO.get(version.minor)
    if version.patch is not None and version.tag != pins["kubernetes"]:
        return KitVersions(**{**pins, "kubernetes": version.tag}, old_go=old_go)
    return KitVersions(**pins, old_go=old_go)
