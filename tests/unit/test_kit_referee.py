"""The kubectl 1.17 referee's wrapper module (pure: no build is run here)."""

from __future__ import annotations

from harness.kit.referee import OVERRIDES, REFEREE_KUBERNETES, TOOLCHAIN, referee_go_mod, referee_ldflags

UPSTREAM = """// generated
module k8s.io/kubernetes

go 1.12

require (
\tgithub.com/modern-go/reflect2 v1.0.1
\tk8s.io/api v0.0.0
\tk8s.io/kubectl v0.0.0
\tk8s.io/utils v0.0.0-20191114184206-e782cd3c129f
)

replace (
\tgithub.com/modern-go/reflect2 => github.com/modern-go/reflect2 v1.0.1
\tgolang.org/x/sys => golang.org/x/sys v0.0.0-20190813064441-fde4db37ae7a // pinned to release-branch.go1.13
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/kubectl => ./staging/src/k8s.io/kubectl
\tk8s.io/node-api => ./staging/src/k8s.io/node-api
\tvbom.ml/util => vbom.ml/util v0.0.0-20160121211510-db5cfe13f5cc
)
"""


def test_wrapper_requires_kubernetes_and_the_staging_modules_it_requires() -> None:
    mod = referee_go_mod(UPSTREAM, "v1.17.17")
    assert mod.startswith("module rollproof.local/kubectl-referee\n\ngo 1.21\n")
    require = mod.split("require (")[1].split(")")[0].split()
    assert require == ["k8s.io/kubernetes", "v1.17.17", "k8s.io/api", "v0.17.17", "k8s.io/kubectl", "v0.17.17"]


def test_wrapper_repeats_the_pins_and_applies_the_overrides() -> None:
    block = referee_go_mod(UPSTREAM, "v1.17.17").split("replace (")[1].split(")")[0]
    lines = [line.strip() for line in block.strip().splitlines()]
    assert lines == [
        "github.com/modern-go/reflect2 => github.com/modern-go/reflect2 v1.0.2",
        "golang.org/x/sys => golang.org/x/sys v0.0.0-20190813064441-fde4db37ae7a",
        "k8s.io/api => k8s.io/api v0.17.17",
        "k8s.io/kubectl => k8s.io/kubectl v0.17.17",
        "vbom.ml/util => github.com/fvbommel/util v0.0.0-20160121211510-db5cfe13f5cc",
    ], block
    # a staging module Kubernetes does not require (node-api) is not pinned: it is not published at v0.17.17


def test_every_override_says_why() -> None:
    assert {o.module for o in OVERRIDES} == {"github.com/modern-go/reflect2", "vbom.ml/util"}
    assert all(len(o.reason) > 40 for o in OVERRIDES)


def test_version_stamps_and_toolchain() -> None:
    flags = referee_ldflags()
    assert f"-X k8s.io/component-base/version.gitVersion={REFEREE_KUBERNETES}" in flags
    assert f"-X k8s.io/client-go/pkg/version.gitVersion={REFEREE_KUBERNETES}" in flags
    assert "-X k8s.io/component-base/version.gitMinor=17" in flags
    assert TOOLCHAIN.startswith("go1.")
