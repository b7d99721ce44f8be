"""What the kit compiles for a Kubernetes release (no build is run here)."""

import pytest

from harness.kit.gobuild import GoProgram, containerd_program
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
