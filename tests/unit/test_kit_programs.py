"""What the kit compiles for a Kubernetes release (no build is run here)."""

import pytest

from harness.kit.gobuild import GoProgram, _go_mod, containerd_module, containerd_program
from harness.kit.nodeimage import node_overlays
from harness.kit.paths import kit_file
from harness.kit.versions import kit_versions


def test_containerd_is_built_from_its_module_and_version_stamped() -> None:
    program = containerd_program(kit_versions("1.34"))
    assert ("github.com/containerd/containerd/v2", "v2.2.9") in program.requires
    assert [p.rsplit("/", 1)[-1] for p in program.packages] == ["containerd", "containerd-shim-runc-v2", "ctr"]
    assert "-X github.com/containerd/containerd/v2/version.Version=v2.2.9" in program.ldflags


def test_build_tags_are_part_of_the_cache_key() -> None:
    plain = GoProgram(name="x", requires=(("example.com/x", "v1.0.0"),), packages=("example.com/x",))
    tagged = GoProgram(name="x", requires=plain.requires, packages=plain.packages, tags=("no_btrfs",))
    assert plain.key() != tagged.key()


@pytest.mark.parametrize("minor", ["1.34", "1.35"])
def test_every_minor_gets_the_same_runtime_but_its_own_control_plane(minor) -> None:
    v = kit_versions(minor)
    assert v.containerd == "v2.2.9"
    assert v.kubernetes.startswith(f"v{minor}.")


def test_containerd_1_x_is_the_module_without_v2() -> None:
    assert containerd_module("v1.7.35") == "github.com/containerd/containerd"
    assert containerd_module("v2.0.14") == "github.com/containerd/containerd/v2"


# kind release whose default node image is each minor (pkg/apis/config/defaults/image.go of that release).
KIND_DEFAULTS = {
    "v0.24.0": "1.31",
    "v0.26.0": "1.32",
    "v0.29.0": "1.33",
    "v0.30.0": "1.34",
    "v0.31.0": "1.35",
    "v0.32.0": "1.36",
    "v0.33.0": "1.37",
}


@pytest.mark.parametrize("kind,minor", sorted(KIND_DEFAULTS.items()))
def test_each_minor_runs_the_kind_release_made_for_it(kind, minor, programs) -> None:
    v = kit_versions(minor)
    assert v.kind == kind
    program = programs(v)["kind"]
    assert program.name == f"kind-{kind}" and program.requires == (("sigs.k8s.io/kind", kind),)


def test_kind_builds_are_cached_apart_per_release(programs) -> None:
    keys = {programs(kit_versions(m))["kind"].out_dir() for m in KIND_DEFAULTS.values()}
    assert len(keys) == len(KIND_DEFAULTS)


def test_1_37_gets_a_kind_that_writes_kubeadm_v1beta4() -> None:
    # kind writes v1beta4 from v0.32 on (for 1.36+); 1.37's kubeadm no longer reads v1beta3.
    major, minor, _ = (int(x) for x in kit_versions("1.37").kind.lstrip("v").split("."))
    assert (major, minor) >= (0, 32)


@pytest.mark.parametrize(
    "minor,containerd,overlays",
    [
        ("1.15", "v1.7.35", ("containerd-1.7", "kubelet-before-1.31")),
        ("1.31", "v2.0.14", ("containerd-2.0",)),
        ("1.33", "v2.0.14", ("containerd-2.0",)),
        ("1.34", "v2.2.9", ()),
        ("1.36", "v2.2.9", ()),
        ("1.37", "v2.3.7", ()),
    ],
)
def test_containerd_per_minor_and_the_node_files_it_reads(minor, containerd, overlays) -> None:
    v = kit_versions(minor)
    assert v.containerd == containerd
    assert node_overlays(v) == overlays
    for name in overlays:
        assert kit_file("node-overlays", name).is_dir()


def test_1_34_node_files_are_not_overlaid() -> None:
    # The 1.34 node image must stay byte-for-byte what the lead's CI builds.
    assert node_overlays(kit_versions("1.34")) == ()


# The shape of k8s.io/kubernetes's go.mod in 1.15 (an excerpt): staging modules required at v0.0.0
# and replaced by local paths, one staging module never published (kubectl), third-party pins.
FAKE_GOMOD = """module k8s.io/kubernetes

require (
	github.com/coreos/etcd v3.3.13+incompatible
	github.com/modern-go/reflect2 v1.0.1
	k8s.io/api v0.0.0
	k8s.io/sample-apiserver v0.0.0
	vbom.ml/util v0.0.0-20160121211510-db5cfe13f5cc
)

replace (
	github.com/coreos/etcd => github.com/coreos/etcd v3.3.13+incompatible
	github.com/modern-go/reflect2 => github.com/modern-go/reflect2 v1.0.1
	google.golang.org/grpc => google.golang.org/grpc v1.13.0 // pinned
	k8s.io/api => ./staging/src/k8s.io/api
	k8s.io/kubectl => ./staging/src/k8s.io/kubectl
	k8s.io/sample-apiserver => ./staging/src/k8s.io/sample-apiserver
	vbom.ml/util => vbom.ml/util v0.0.0-20160121211510-db5cfe13f5cc
)
"""


@pytest.fixture
def programs(monkeypatch):
    """kit_programs with a go.mod of k8s.io/kubernetes given here instead of downloaded."""
    import harness.kit.gobuild as gobuild

    monkeypatch.setattr(gobuild, "_kubernetes_go_mod", lambda versions: FAKE_GOMOD)
    return gobuild.kit_programs


def test_the_walkthrough_era_builds_with_an_older_go_and_its_own_pins(programs) -> None:
    built = programs(kit_versions("1.15"))
    k8s, kubelet = built["kubernetes"], built["kubelet"]
    assert k8s.toolchain == kubelet.toolchain == "go1.21.13" and k8s.go_directive == "1.21"
    replaces = dict(k8s.replaces)
    assert replaces["google.golang.org/grpc"] == "google.golang.org/grpc v1.13.0"  # the release's own pin
    assert replaces["github.com/modern-go/reflect2"] == "github.com/modern-go/reflect2 v1.0.2"  # ours wins
    assert replaces["vbom.ml/util"] == "github.com/fvbommel/util v0.0.0-20160121211510-db5cfe13f5cc"  # same commit
    # only the staging modules the release requires (kubectl was never published as v0.15.x)
    assert replaces["k8s.io/api"] == "v0.15.12" and replaces["k8s.io/sample-apiserver"] == "v0.15.12"
    assert "k8s.io/kubectl" not in replaces
    # the kubelet was a cgo binary in 1.15 (cadvisor's NVIDIA probe); the rest static
    assert kubelet.packages == ("k8s.io/kubernetes/cmd/kubelet",) and kubelet.cgo and not k8s.cgo
    assert "k8s.io/kubernetes/cmd/kubelet" not in k8s.packages
    assert "-X k8s.io/kubernetes/pkg/version.gitVersion=v1.15.12" in k8s.ldflags
    assert kubelet.env()["CGO_ENABLED"] == "1" and k8s.env()["GOTOOLCHAIN"] == "go1.21.13"


def test_the_walkthrough_era_etcd_and_coredns(programs) -> None:
    built = programs(kit_versions("1.15"))
    etcd, coredns = built["etcd"], built["coredns"]
    assert ("github.com/coreos/etcd", "v3.3.10+incompatible") in etcd.requires
    assert ("github.com/ugorji/go", "v1.1.1") in etcd.requires
    # etcdctl 3.3 calls tablewriter's pre-v1 API; the commit etcd's glide.lock names
    assert ("github.com/olekukonko/tablewriter", "v0.0.0-20170122224234-a0225b3f23b5") in etcd.requires
    assert ("github.com/dnstap/golang-dnstap", "v0.0.0-20170829151710-2cf77a2b5e11") in coredns.requires
    assert dict(coredns.replaces)["github.com/miekg/dns"] == "github.com/miekg/dns v1.1.3"
    assert "github.com/miekg/dns" not in dict(built["kubernetes"].replaces)
    assert coredns.extra_files == (kit_file("coredns", "main.go"),)  # no ready.go: CoreDNS 1.3 has no `ready`
    assert "coredns/plugin/ready" not in coredns.extra_files[0].read_text()
    assert coredns.env()["GONOSUMDB"] == "github.com/coredns/coredns"


def test_the_etcd_server_is_the_version_kubeadm_asks_for_not_the_releases_client_pin(programs) -> None:
    # 1.15 pins github.com/coreos/etcd v3.3.13 (its client); kubeadm runs etcd 3.3.10.
    built = programs(kit_versions("1.15"))
    assert dict(built["etcd"].replaces)["github.com/coreos/etcd"] == "github.com/coreos/etcd v3.3.10+incompatible"
    assert "github.com/coreos/etcd v3.3.10+incompatible" in _go_mod(built["etcd"])
    # Kubernetes itself keeps the release's pin.
    assert dict(built["kubernetes"].replaces)["github.com/coreos/etcd"] == "github.com/coreos/etcd v3.3.13+incompatible"


def test_the_same_holds_for_a_release_pinning_a_newer_etcd_than_kubeadm_runs(programs) -> None:
    # 1.16.15 pins v3.3.17 and kubeadm asks for 3.3.15.
    import dataclasses

    v = dataclasses.replace(kit_versions("1.15"), kubernetes="v1.16.15", etcd="v3.3.15", etcd_tag="3.3.15-0")
    etcd = programs(v)["etcd"]
    assert dict(etcd.replaces)["github.com/coreos/etcd"] == "github.com/coreos/etcd v3.3.15+incompatible"


def test_current_releases_build_with_the_go_on_path(programs) -> None:
    for program in programs(kit_versions("1.37")).values():
        assert program.toolchain == "" and not program.cgo and program.env()["GOTOOLCHAIN"] == "local"


def test_coredns_from_1_5_on_builds_the_ready_plugin_in(programs) -> None:
    coredns = programs(kit_versions("1.34"))["coredns"]
    assert coredns.extra_files == (kit_file("coredns", "main.go"), kit_file("coredns", "ready.go"))
    assert "coredns/plugin/ready" in coredns.extra_files[1].read_text()


def test_the_containerd_1_7_overlay_is_for_kubelets_kind_gives_cgroupfs() -> None:
    import dataclasses

    from harness.errors import ProviderError

    text = kit_file("node-overlays", "containerd-1.7", "etc/containerd/config.toml.in").read_text()
    assert "version = 2" in text and "SystemdCgroup = false" in text
    late = dataclasses.replace(kit_versions("1.34"), containerd="v1.7.35")
    with pytest.raises(ProviderError, match="pin a containerd 2.x"):
        node_overlays(late)


def test_kubelets_before_1_31_are_not_given_the_fail_cgroupv1_flag() -> None:
    # the entrypoint adds --fail-cgroupv1=false unless /etc/default/kubelet names it
    entrypoint = kit_file("node", "usr/local/bin/entrypoint").read_text()
    assert "grep -q -- '--fail-cgroupv1=false' /etc/default/kubelet" in entrypoint
    overlay = kit_file("node-overlays", "kubelet-before-1.31", "etc/default/kubelet").read_text()
    assert "--fail-cgroupv1=false" in overlay
    args = next(line for line in overlay.splitlines() if line.startswith("KUBELET_EXTRA_ARGS="))
    assert "fail-cgroupv1" not in args
    assert args == next(
        line
        for line in kit_file("node", "etc/default/kubelet").read_text().splitlines()
        if line.startswith("KUBELET_EXTRA_ARGS=")
    )


def test_openapi_inputs_are_the_packages_carrying_the_tag(tmp_path) -> None:
    from harness.kit.gobuild import openapi_input_packages

    def write(root, rel, text):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    k8s, api = tmp_path / "kubernetes", tmp_path / "api"
    write(k8s, "pkg/apis/apps/doc.go", "// +k8s:openapi-gen=false\npackage apps\n")
    write(k8s, "pkg/controller/x.go", "package controller\n")
    write(k8s, "vendor/k8s.io/api/apps/v1/doc.go", "// +k8s:openapi-gen=true\n")  # vendored copies do not count
    write(api, "apps/v1/doc.go", "// +k8s:openapi-gen=true\npackage v1\n")
    write(api, "doc.go", "// +k8s:openapi-gen=true\npackage api\n")
    assert openapi_input_packages({"k8s.io/kubernetes": k8s, "k8s.io/api": api}) == [
        "k8s.io/api",
        "k8s.io/api/apps/v1",
        "k8s.io/kubernetes/pkg/apis/apps",
    ]


def test_1_15_generates_its_openapi_for_the_apiserver_only(programs) -> None:
    built = programs(kit_versions("1.15"))
    assert built["kubernetes"].generate_openapi and not built["kubelet"].generate_openapi
    assert not programs(kit_versions("1.34"))["kubernetes"].generate_openapi
    assert dict(built["coredns"].replaces)["k8s.io/client-go"] == "k8s.io/client-go v10.0.0+incompatible"


def test_kubeadm_1_15_probes_etcd_with_a_shell_so_its_image_gets_etcdctl_and_sh(programs, tmp_path) -> None:
    from pathlib import Path

    from harness.kit.nodeimage import etcd_image_files

    # kubeadm 1.15 (cmd/kubeadm/app/util/staticpod/utils.go, EtcdProbe):
    #   /bin/sh -ec "ETCDCTL_API=3 etcdctl --endpoints=https://[127.0.0.1]:2379 --cacert=... get foo"
    v = kit_versions("1.15")
    assert v.etcd_exec_probe
    etcd = programs(v)["etcd"]
    assert etcd.packages == ("github.com/coreos/etcd", "github.com/coreos/etcd/etcdctl")
    shell = Path("/cache/bin/busybox-static/busybox")
    files = etcd_image_files(v, tmp_path, shell)
    assert files == {
        "/usr/local/bin/etcd": tmp_path / "etcd",
        "/usr/local/bin/etcdctl": tmp_path / "etcdctl",  # on the image's PATH (/usr/local/bin:/usr/bin:/bin)
        "/bin/sh": shell,  # busybox named sh runs its sh applet
    }


@pytest.mark.parametrize("minor", ["1.31", "1.34", "1.37"])
def test_later_kubeadms_probe_etcd_over_http_and_its_image_stays_etcd_alone(minor, programs, tmp_path) -> None:
    from harness.kit.nodeimage import etcd_image_files

    v = kit_versions(minor)
    assert not v.etcd_exec_probe
    assert programs(v)["etcd"].packages == ("go.etcd.io/etcd/server/v3",)
    assert etcd_image_files(v, tmp_path, None) == {"/usr/local/bin/etcd": tmp_path / "etcd"}


def test_an_etcd_image_probed_by_a_shell_command_without_a_shell_is_refused(tmp_path) -> None:
    from harness.errors import ProviderError
    from harness.kit.nodeimage import etcd_image_files

    with pytest.raises(ProviderError, match="probes etcd with /bin/sh"):
        etcd_image_files(kit_versions("1.15"), tmp_path, None)


def test_the_shell_is_debians_static_busybox() -> None:
    from harness.kit.nodeimage import BUSYBOX_STATIC

    assert BUSYBOX_STATIC.suite == "bookworm" and BUSYBOX_STATIC.packages == ("busybox-static",)


def test_a_file_is_copied_out_of_a_debian_image_once_per_image_key(monkeypatch, tmp_path) -> None:
    import harness.kit.rootfs as rootfs
    from harness.kit.rootfs import DebianImage, debian_file

    calls = []

    def fake_run(argv, **kwargs):
        calls.append(argv[:2])
        if argv[1] == "cp":
            open(argv[-1], "w").write("busybox")
        return "abc123\n"

    monkeypatch.setattr(rootfs, "build_debian_image", lambda image: image.tag)
    monkeypatch.setattr(rootfs, "run", fake_run)
    monkeypatch.setattr(rootfs.subprocess, "run", lambda argv, **kwargs: calls.append(argv[:2]))
    image = DebianImage(tag="t:1", suite="bookworm", packages=("busybox-static",))
    dest = tmp_path / "bin" / "busybox"
    assert debian_file(image, "/bin/busybox", dest) == dest and dest.read_text() == "busybox"
    assert calls == [["docker", "create"], ["docker", "cp"], ["docker", "rm"]]
    debian_file(image, "/bin/busybox", dest)
    assert len(calls) == 3  # cached
    debian_file(DebianImage(tag="t:1", suite="trixie", packages=("busybox-static",)), "/bin/busybox", dest)
    assert len(calls) == 6  # another image: copied again
