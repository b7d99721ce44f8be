"""The kit's Go builds, with `go` replaced by a recorder: the commands, the wrapper module, the cache (no Go run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.kit import gobuild, referee
from harness.kit.gobuild import GoProgram, build_program
from harness.kit.referee import REFEREE_KUBERNETES, TOOLCHAIN, build_referee

UPSTREAM_GO_MOD = "module k8s.io/kubernetes\n\nrequire (\n\tk8s.io/api v0.0.0\n)\n"


class FakeGo:
    """Stands in for `stages.run`: logs (argv, what, cwd, fix); `go build -o X` writes X,
    `go mod download` Kubernetes' go.mod."""

    def __init__(self, cache: Path) -> None:
        self.cache = cache
        self.calls: list[tuple[list[str], str, str, str]] = []

    def __call__(self, argv: list[str], *, what: str, env: dict[str, str], cwd: Path, fix: str = "") -> str:
        self.calls.append((list(argv), what, str(cwd.relative_to(self.cache)), fix))
        if argv[:2] == ["go", "build"]:
            target = argv[argv.index("-o") + 1]
            out = Path(target, "binary") if target.endswith("/") else Path(target)  # a directory: one per package
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text("binary")
        if argv[:3] == ["go", "mod", "download"]:
            module = Path(env["GOMODCACHE"]) / "k8s.io" / f"kubernetes@{REFEREE_KUBERNETES}"
            module.mkdir(parents=True, exist_ok=True)
            (module / "go.mod").write_text(UPSTREAM_GO_MOD)
        return ""


@pytest.fixture
def go(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeGo:
    monkeypatch.setenv("ROLLPROOF_CACHE", str(tmp_path))
    fake = FakeGo(tmp_path)
    monkeypatch.setattr(gobuild, "run", fake)
    monkeypatch.setattr(referee, "run", fake, raising=False)
    return fake


def test_a_program_is_built_from_its_wrapper_into_its_cached_directory(go: FakeGo, tmp_path: Path) -> None:
    extra = tmp_path / "main.go"
    extra.write_text("package main\n")
    program = GoProgram(
        name="tool-v1",
        requires=(("example.com/tool", "v1.0.0"),),
        packages=("example.com/tool/cmd/tool",),
        tags=("a", "b"),
        extra_files=(extra,),
    )
    out = build_program(program)
    assert out == tmp_path / "bin" / "tool-v1" and (out / "tool").read_text() == "binary"
    src = tmp_path / "src" / "tool-v1"
    assert sorted(p.name for p in src.iterdir()) == ["go.mod", "main.go", "tools.go"]
    assert '_ "example.com/tool/cmd/tool"' in (src / "tools.go").read_text()
    partial = str(tmp_path / "bin" / "tool-v1.partial" / "tool")
    assert go.calls == [
        (
            ["go", "mod", "tidy", "-e"],
            "go mod tidy for tool-v1",
            "src/tool-v1",
            "check that the Go module proxy is reachable",
        ),
        (
            [
                "go",
                "build",
                "-trimpath",
                "-ldflags",
                "-s -w",
                "-tags",
                "a,b",
                "-o",
                partial,
                "example.com/tool/cmd/tool",
            ],
            "go build tool-v1",
            "src/tool-v1",
            "see the compiler output above; a disk too full for the build shows as 'no space left'",
        ),
    ]
    assert not Path(partial).parent.exists()
    go.calls.clear()
    assert build_program(program) == out and go.calls == []  # cached by its inputs


def test_several_packages_go_into_the_directory_and_the_wrapper_main_needs_no_tools_go(
    go: FakeGo, tmp_path: Path
) -> None:
    build_program(GoProgram(name="two", requires=(("example.com/x", "v1"),), packages=("./",), binary="x"))
    assert not (tmp_path / "src" / "two" / "tools.go").exists()
    assert go.calls[-1][0][-3:] == ["-o", str(tmp_path / "bin" / "two.partial" / "x"), "./"]
    build_program(
        GoProgram(name="many", requires=(("example.com/x", "v1"),), packages=("example.com/x/a", "example.com/x/b"))
    )
    assert go.calls[-1][0][-4:] == [
        "-o",
        str(tmp_path / "bin" / "many.partial") + "/",
        "example.com/x/a",
        "example.com/x/b",
    ]


def test_the_referee_is_built_with_its_toolchain_and_cached(go: FakeGo, tmp_path: Path) -> None:
    binary = build_referee()
    assert binary == tmp_path / "bin" / f"kubectl-referee-{REFEREE_KUBERNETES}" / "kubectl"
    assert binary.read_text() == "binary"
    src = f"src/kubectl-referee-{REFEREE_KUBERNETES}"
    assert (tmp_path / src / "go.mod").read_text().startswith("module rollproof.local/kubectl-referee\n")
    assert '_ "k8s.io/kubernetes/cmd/kubectl"' in (tmp_path / src / "tools.go").read_text()
    partial = str(tmp_path / "bin" / f"kubectl-referee-{REFEREE_KUBERNETES}.partial" / "kubectl")
    ldflags = referee.referee_ldflags()
    assert [c[0] for c in go.calls] == [
        ["go", "mod", "download", f"k8s.io/kubernetes@{REFEREE_KUBERNETES}"],
        ["go", "mod", "tidy", "-e"],
        ["go", "build", "-trimpath", "-ldflags", ldflags, "-o", partial, "k8s.io/kubernetes/cmd/kubectl"],
    ]
    assert [c[1:3] for c in go.calls] == [
        (f"download k8s.io/kubernetes@{REFEREE_KUBERNETES}", "."),
        (f"go mod tidy for kubectl {REFEREE_KUBERNETES}", src),
        (f"go build kubectl {REFEREE_KUBERNETES}", src),
    ]
    assert "OVERRIDES in harness/kit/referee.py" in go.calls[-1][3]
    go.calls.clear()
    assert build_referee() == binary and [c[0][:3] for c in go.calls] == [["go", "mod", "download"]]
    assert TOOLCHAIN.startswith("go1.")
