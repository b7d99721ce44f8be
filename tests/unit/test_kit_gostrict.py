"""Strict dependency checks for old releases' wrapper modules (outputs as go1.21.13 printed them)."""

import dataclasses

import pytest

from harness.errors import ProviderError
from harness.kit.gostrict import (
    LOAD_ERRORS_FORMAT,
    check_build_packages,
    check_tidy,
    failed_lookups,
    load_errors,
    newest_taken,
)

# `go mod tidy -e` for 1.15's etcd wrapper without the etcdctl pins (abridged): two packages nothing
# pins, one found at its newest version, one whose newest version needs a newer Go; then the cascade
# of that failed lookup, and a package found through a replace.
TIDY_UNPINNED = """go: downloading github.com/urfave/cli v1.20.0
go: found github.com/coreos/pkg/capnslog in github.com/coreos/pkg v0.0.0-00010101000000-000000000000
go: finding module for package github.com/olekukonko/tablewriter
go: finding module for package github.com/fatih/color
go: found github.com/olekukonko/tablewriter in github.com/olekukonko/tablewriter v1.1.5
go: toolchain upgrade needed to resolve github.com/fatih/color
go: github.com/fatih/color@v1.19.0 requires go >= 1.25.0 (running go 1.21.13; GOTOOLCHAIN=go1.21.13)
go: rollproof.local/etcd-v3.3.10 imports
\tgithub.com/coreos/etcd imports
\tgithub.com/coreos/etcd/etcdmain imports
\tgithub.com/spf13/cobra: cannot find module providing package github.com/spf13/cobra
"""

# `go mod tidy -e` for 1.15's Kubernetes wrapper: heketi's tests import packages Kubernetes removed.
TIDY_HEKETI = """go: finding module for package k8s.io/kubernetes/pkg/api
go: toolchain upgrade needed to resolve k8s.io/kubernetes/pkg/api
go: k8s.io/kubernetes@v1.37.2 requires go >= 1.26.0 (running go 1.21.13; GOTOOLCHAIN=go1.21.13)
go: rollproof.local/kubernetes-v1.15.12 imports
\tk8s.io/kubernetes/pkg/volume/glusterfs imports
\tgithub.com/heketi/heketi/client/api/go-client tested by
\tgithub.com/heketi/heketi/client/api/go-client.test imports
\tgithub.com/heketi/heketi/apps/glusterfs imports
\tgithub.com/heketi/heketi/executors/kubeexec imports
\tk8s.io/kubernetes/pkg/api: k8s.io/kubernetes@v1.37.2 requires go >= 1.26.0 (running go 1.21.13)
"""


def test_a_module_taken_at_its_newest_version_is_named_with_that_version() -> None:
    assert newest_taken(TIDY_UNPINNED) == ["github.com/olekukonko/tablewriter v1.1.5"]
    assert failed_lookups(TIDY_UNPINNED) == [
        "github.com/fatih/color (github.com/fatih/color@v1.19.0 needs go >= 1.25.0)"
    ]


def test_packages_found_through_a_replace_are_pinned() -> None:
    found = "go: found github.com/coreos/pkg/capnslog in github.com/coreos/pkg v0.0.0-00010101000000-000000000000\n"
    assert newest_taken(found) == [] and failed_lookups(found) == []


def test_tidy_fails_in_one_line_naming_what_it_took_at_the_newest_version() -> None:
    with pytest.raises(ProviderError) as caught:
        check_tidy("go mod tidy for etcd-v3.3.10", TIDY_UNPINNED)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(
        "go mod tidy for etcd-v3.3.10 found no pin for github.com/olekukonko/tablewriter v1.1.5 and took the newest: "
    )
    assert "harness/kit/versions.py" in message


def test_a_lookup_that_failed_is_left_to_go_list_over_the_packages_built() -> None:
    assert check_tidy("go mod tidy for kubernetes-v1.15.12", TIDY_HEKETI) == [
        "k8s.io/kubernetes/pkg/api (k8s.io/kubernetes@v1.37.2 needs go >= 1.26.0)"
    ]
    assert check_tidy("go mod tidy for etcd-v3.3.10", "go: downloading github.com/urfave/cli v1.20.0\n") == []


# `go list -deps -e -f LOAD_ERRORS_FORMAT` (go1.21.13): a line per package that cannot be loaded, blank otherwise.
LIST_ERRORS = """go: finding module for package example.invalid/nope

load-error example.invalid/nope "cannot find module providing package example.invalid/nope: lookup disabled"
load-error x/missing "package x/missing is not in std (/go/src/x/missing)\\nimported by x"

"""


def test_load_errors_are_read_one_per_package() -> None:
    assert 'printf "%q" .Error.Err' in LOAD_ERRORS_FORMAT
    assert load_errors(LIST_ERRORS) == [
        ("example.invalid/nope", "cannot find module providing package example.invalid/nope: lookup disabled"),
        ("x/missing", "package x/missing is not in std (/go/src/x/missing)"),
    ]


def test_a_package_the_build_cannot_load_fails_in_one_line_naming_it() -> None:
    with pytest.raises(ProviderError) as caught:
        check_build_packages("go list -deps for etcd-v3.3.10", LIST_ERRORS)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("go list -deps for etcd-v3.3.10 cannot load example.invalid/nope: cannot find module")
    assert "(and 1 more)" in message
    check_build_packages("go list -deps for etcd-v3.3.10", "\n\n")


def test_a_package_the_build_takes_at_the_newest_version_fails_too() -> None:
    with pytest.raises(ProviderError, match="found no pin for github.com/olekukonko/tablewriter v1.1.5"):
        check_build_packages("go list -deps for etcd-v3.3.10", TIDY_UNPINNED)


def test_only_old_releases_are_built_pinned_only(monkeypatch) -> None:
    import harness.kit.gobuild as gobuild
    from harness.kit.versions import kit_versions

    monkeypatch.setattr(gobuild, "_kubernetes_go_mod", lambda versions: "module k8s.io/kubernetes\n")
    old = gobuild.kit_programs(kit_versions("1.15"))
    for role in ("etcd", "coredns", "kubernetes", "kubelet"):
        assert old[role].pinned_only, role
    assert not old["kind"].pinned_only and not old["containerd"].pinned_only  # current code, current Go
    assert not any(p.pinned_only for p in gobuild.kit_programs(kit_versions("1.34")).values())
    # the switch changes no output, so no cache key
    assert dataclasses.replace(old["etcd"], pinned_only=False).key() == old["etcd"].key()


def test_a_pinned_only_build_stops_before_compiling_and_a_current_one_does_not(monkeypatch, tmp_path) -> None:
    import harness.kit.gobuild as gobuild

    monkeypatch.setenv("ROLLPROOF_CACHE", str(tmp_path))
    commands: list[str] = []
    tidy_output = [TIDY_UNPINNED]

    def fake_run(argv, **kwargs):
        commands.append(" ".join(argv[:3]))
        if argv[1] == "build":
            open(argv[argv.index("-o") + 1], "w").write("binary")
        return tidy_output[0] if argv[1:3] == ["mod", "tidy"] else ""

    monkeypatch.setattr(gobuild, "run", fake_run)
    program = gobuild.GoProgram(name="x", requires=(("example.com/x", "v1.0.0"),), packages=("example.com/x",))
    with pytest.raises(ProviderError, match="go mod tidy for x found no pin for github.com/olekukonko/tablewriter"):
        gobuild.build_program(dataclasses.replace(program, pinned_only=True))
    assert commands == ["go mod tidy"]
    commands.clear()
    gobuild.build_program(program)
    assert commands == ["go mod tidy", "go build -trimpath"]
    # pinned only, with nothing unpinned: the packages built are checked, then compiled
    tidy_output[0] = ""
    commands.clear()
    gobuild.build_program(dataclasses.replace(program, name="y", pinned_only=True))
    assert commands == ["go mod tidy", "go list -deps", "go build -trimpath"]
