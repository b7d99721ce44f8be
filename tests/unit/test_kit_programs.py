"""What the kit compiles for a Kubernetes release (no build is run here)."""

import pytest

from harness.kit.gobuild import GoProgram, containerd_module, containerd_program
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
KIND_DEFAULTS = {"v0.24.0": "1.31", "v0.26.0": "1.32", "v0.29.0": "1.33", "v0.30.0": "1.34", "v0.31.0": "1.35",
                 "v0.32.0": "1.36", "v0.33.0": "1.37"}


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


@pytest.mark.parametrize("minor,containerd,overlays", [
    ("1.31", "v2.0.14", ("containerd-2.0",)), ("1.33", "v2.0.14", ("containerd-2.0",)),
    ("1.34", "v2.2.9", ()), ("1.36", "v2.2.9", ()), ("1.37", "v2.3.7", ()),
])
def test_containerd_per_minor_and_the_node_files_it_reads(minor, containerd, overlays) -> None:
    v = kit_versions(minor)
    assert v.containerd == containerd
    assert node_overlays(v) == overlays
    for name in overlays:
        assert kit_file("node-overlays", name).is_dir()


def test_1_34_node_files_are_not_overlaid() -> None:
    # The 1.34 node image must stay byte-for-byte what the lead's CI builds.
    assert node_overlays(kit_versions("1.34")) == ()


@pytest.fixture
def programs(monkeypatch):
    """kit_programs without the module download that lists Kubernetes' staging modules."""
    import harness.kit.gobuild as gobuild

    monkeypatch.setattr(gobuild, "_staging_modules", lambda versions: [])
    return gobuild.kit_programs
