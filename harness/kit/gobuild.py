"""Building Go programs from the Go module proxy, with caches outside the repo.

Every program is built from a small wrapper module (written under the cache
root) that requires the upstream module at a pinned version. That is how a
module whose go.mod has `replace` directives (Kubernetes, etcd) still builds:
the wrapper requires each staging module at the matching version instead.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
from dataclasses import dataclass, field
from collections.abc import Callable
from pathlib import Path

from ..errors import ProviderError
from ..kubeversion import parse_version
from .gostrict import LOAD_ERRORS_FORMAT, check_build_packages, check_tidy
from .paths import cache_root, kit_file
from .stages import Stamp, input_hash, run, say, stage
from .versions import KitVersions

__all__ = [
    "GoProgram",
    "go_env",
    "wrapper_dir",
    "go_mod_tidy",
    "go_build",
    "kubernetes_stamp",
    "build_programs",
    "kit_programs",
    "containerd_program",
    "containerd_module",
    "openapi_input_packages",
    "BUILD_DATE",
]

BUILD_DATE = "2026-01-01T00:00:00Z"  # fixed so rebuilds are reproducible


def go_env() -> dict[str, str]:
    root = cache_root()
    return {
        "GOCACHE": str(root / "gobuild"),
        "GOMODCACHE": str(root / "gomod"),
        "GOFLAGS": "-mod=mod -buildvcs=false",
        "CGO_ENABLED": "0",
        "GOTOOLCHAIN": "local",
    }


@dataclass(frozen=True)
class GoProgram:
    """One or more main packages built from a wrapper module."""

    name: str
    requires: tuple[tuple[str, str], ...]
    packages: tuple[str, ...]  # import paths, or "./" for the wrapper module's own main
    binary: str = ""  # output name when one package is built (default: last path element)
    replaces: tuple[tuple[str, str], ...] = ()
    ldflags: str = "-s -w"
    tags: tuple[str, ...] = ()
    extra_files: tuple[Path, ...] = field(default=())  # copied into the wrapper module
    # For code written for an older Go (all empty for current releases):
    toolchain: str = ""  # GOTOOLCHAIN (default: the Go on PATH)
    go_directive: str = ""  # the wrapper's go line (default 1.24.0)
    cgo: bool = False  # as Kubernetes' own build of that release did (the kubelet used cgo until 1.2x)
    nosumdb: tuple[str, ...] = ()  # GONOSUMDB: modules the checksum database never recorded
    generate_openapi: bool = False  # k8s.io/kubernetes built from a copy with its generated OpenAPI added
    # Fail (naming the module) when go would take any dependency at its newest version or cannot load a package
    # of the build, instead of `go mod tidy -e` carrying on (harness/kit/gostrict.py); not part of the key.
    pinned_only: bool = False

    def key(self) -> str:
        old_go = (self.toolchain, self.go_directive, self.cgo, self.nosumdb)
        if self.generate_openapi:
            old_go += ("openapi/1",)
        extra = (
            (old_go,) if any((self.toolchain, self.go_directive, self.cgo, self.nosumdb, self.generate_openapi)) else ()
        )
        return input_hash(
            self.requires, self.packages, self.binary, self.replaces, self.ldflags, self.tags, *self.extra_files, *extra
        )

    def env(self) -> dict[str, str]:
        env = go_env()
        if self.toolchain:
            env["GOTOOLCHAIN"] = self.toolchain
        if self.cgo:
            env["CGO_ENABLED"] = "1"
        if self.nosumdb:
            env["GONOSUMDB"] = ",".join(self.nosumdb)
        return env

    def out_dir(self) -> Path:
        return cache_root() / "bin" / self.name

    def path(self, binary: str) -> Path:
        return self.out_dir() / binary


def _replace_target(module: str, target: str) -> str:
    """A replace's right side: a version of the same module, or "other/module version"."""
    return target if " " in target else f"{module} {target}"


def _go_mod(program: GoProgram) -> str:
    lines = [f"module rollproof.local/{program.name}", "", f"go {program.go_directive or '1.24.0'}", ""]
    lines += ["require ("] + [f"\t{m} {v}" for m, v in program.requires] + [")", ""]
    if program.replaces:
        lines += ["replace ("] + [f"\t{m} => {_replace_target(m, v)}" for m, v in program.replaces] + [")", ""]
    return "\n".join(lines)


def _tools_go(program: GoProgram) -> str:
    imports = "\n".join(f'\t_ "{p}"' for p in program.packages if not p.startswith("./"))
    return f"//go:build tools\n\npackage tools\n\nimport (\n{imports}\n)\n"


def wrapper_dir(name: str, go_mod: str, tools_go: str | None) -> Path:
    """A fresh `$ROLLPROOF_CACHE/src/NAME` holding a wrapper module's go.mod (and tools.go, which
    imports the packages to build so that `go mod tidy` keeps what they need)."""
    src = cache_root() / "src" / name
    if src.exists():
        shutil.rmtree(src)
    src.mkdir(parents=True)
    (src / "go.mod").write_text(go_mod)
    if tools_go is not None:
        (src / "tools.go").write_text(tools_go)
    return src


def go_mod_tidy(src: Path, env: dict[str, str], what: str) -> str:
    """`go mod tidy -e` in `src`; its output (for the pinned-only check of old releases)."""
    return run(
        ["go", "mod", "tidy", "-e"],
        what=f"go mod tidy for {what}",
        env=env,
        cwd=src,
        fix="check that the Go module proxy is reachable",
    )


def go_build(
    src: Path,
    out: Path,
    stamp: Stamp,
    build_args: Callable[[Path], list[str]],
    env: dict[str, str],
    what: str,
    fix: str,
) -> None:
    """`go build -trimpath ARGS` in `src`, ARGS = `build_args(dir)` writing into a fresh `out`.partial that then
    replaces `out`; `stamp` is cleared first and marked last, so a broken build never counts as done."""
    stamp.clear()
    tmp = out.with_name(out.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    run(["go", "build", "-trimpath", *build_args(tmp)], what=f"go build {what}", env=env, cwd=src, fix=fix)
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    stamp.mark()


def build_program(program: GoProgram) -> Path:
    """Build `program` unless a complete build with the same inputs exists."""
    out = program.out_dir()
    stamp = Stamp(out / ".complete", program.key())
    if stamp.done():
        say(f"go build {program.name}: cached")
        return out
    with stage(f"go build {program.name}"):
        needs_tools = any(not p.startswith("./") for p in program.packages)
        src = wrapper_dir(program.name, _go_mod(program), _tools_go(program) if needs_tools else None)
        for extra in program.extra_files:
            shutil.copy(extra, src / extra.name)
        env = program.env()
        tidy = go_mod_tidy(src, env, program.name)
        if program.pinned_only:
            failed = check_tidy(f"go mod tidy for {program.name}", tidy)
            if failed:
                say(f"go mod tidy for {program.name}: {len(failed)} imports found in no module, e.g. {failed[0]}")
        if program.generate_openapi:
            _kubernetes_with_openapi(src, env)
        pkgs = list(program.packages)
        tags = ["-tags", ",".join(program.tags)] if program.tags else []
        if program.pinned_only:
            _check_packages(program, tags, env, src)

        def build_args(tmp: Path) -> list[str]:
            if len(pkgs) == 1:
                target = str(tmp / (program.binary or pkgs[0].rstrip("/").rsplit("/", 1)[-1]))
            else:
                target = str(tmp) + os.sep
            return ["-ldflags", program.ldflags, *tags, "-o", target, *pkgs]

        fix = "see the compiler output above; a disk too full for the build shows as 'no space left'"
        go_build(src, out, stamp, build_args, env=env, what=program.name, fix=fix)
    return out


def _check_packages(program: GoProgram, tags: list[str], env: dict[str, str], src: Path) -> None:
    """Every package the build needs loads, from pinned modules only (harness/kit/gostrict.py)."""
    what = f"go list -deps for {program.name}"
    listed = run(
        ["go", "list", "-deps", "-e", *tags, "-f", LOAD_ERRORS_FORMAT, *program.packages], what=what, env=env, cwd=src
    )
    check_build_packages(what, listed)


OPENAPI_TAG = "+k8s:openapi-gen="
OPENAPI_PACKAGE = "k8s.io/kubernetes/pkg/generated/openapi"


def _module_dir(src: Path, env: dict[str, str], module: str) -> Path:
    out = run(["go", "list", "-m", "-f", "{{.Dir}}", module], what=f"locate {module}", env=env, cwd=src)
    return Path(out.strip().splitlines()[-1])


def openapi_input_packages(modules: dict[str, Path]) -> list[str]:
    """Packages with a `+k8s:openapi-gen=` tag in any Go file: what the release's Makefile gave openapi-gen."""
    found = set()
    for module, root in modules.items():
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d not in ("vendor", "testdata", "staging", "_output", "third_party")]
            for name in filenames:
                if name.endswith(".go") and OPENAPI_TAG in (Path(dirpath) / name).read_text(errors="replace"):
                    rel = Path(dirpath).relative_to(root).as_posix()
                    found.add(module if rel == "." else f"{module}/{rel}")
                    break
    return sorted(found)


def _kubernetes_with_openapi(src: Path, env: dict[str, str]) -> None:
    """Put k8s.io/kubernetes in the wrapper as ./kubernetes, with the OpenAPI definitions its build generated.

    Releases whose module lacks pkg/generated/openapi/zz_generated.openapi.go had `make`
    generate it: the same openapi-gen (the kube-openapi the release pins), over the packages
    carrying the tag in the release and its staging modules. Its API rule report must equal
    the release's api/api-rules/violation_exceptions.list, as the Makefile required.
    """
    with stage("generate the OpenAPI definitions k8s.io/kubernetes leaves to its Makefile"):
        kubernetes = _module_dir(src, env, "k8s.io/kubernetes")
        staging = re.findall(
            r"^\s*(k8s\.io/[\w.-]+) => k8s\.io/[\w.-]+ (v0\.\d+\.\d+)\s*$", (src / "go.mod").read_text(), re.M
        )
        modules = {"k8s.io/kubernetes": kubernetes}
        modules.update({m: _module_dir(src, env, m) for m, _ in staging})
        packages = openapi_input_packages(modules)
        out = src / "openapi-out"
        report = out / "violations.report"
        out.mkdir()
        run(
            [
                "go",
                "run",
                "k8s.io/kube-openapi/cmd/openapi-gen",
                "-i",
                ",".join(packages),
                "-p",
                OPENAPI_PACKAGE,
                "-O",
                "zz_generated.openapi",
                "-h",
                str(kubernetes / "hack/boilerplate/boilerplate.generatego.txt"),
                "-o",
                str(out),
                "-r",
                str(report),
            ],
            what="openapi-gen",
            env=env,
            cwd=src,
        )
        known = (kubernetes / "api/api-rules/violation_exceptions.list").read_text()
        if sorted(report.read_text().splitlines()) != sorted(known.splitlines()):
            raise ProviderError(
                f"openapi-gen's API rule report {report} differs from the release's "
                "api/api-rules/violation_exceptions.list: the generated definitions are not the release's"
            )
        copy = src / "kubernetes"
        shutil.copytree(kubernetes, copy)
        for path in [copy, *copy.rglob("*")]:
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | 0o200)  # the module cache is read-only
        generated = out / OPENAPI_PACKAGE / "zz_generated.openapi.go"
        shutil.copy(generated, copy / "pkg/generated/openapi" / generated.name)
        say(
            f"{len(packages)} packages -> {generated.name} ({len(generated.read_text().splitlines())} lines); "
            "API rule report matches the release's"
        )
        with open(src / "go.mod", "a") as gomod:
            gomod.write("\nreplace k8s.io/kubernetes => ./kubernetes\n")


def _kubernetes_go_mod(versions: KitVersions) -> str:
    """k8s.io/kubernetes's own go.mod at `versions.kubernetes` (downloaded to the module cache)."""
    env = go_env()
    run(
        ["go", "mod", "download", f"k8s.io/kubernetes@{versions.kubernetes}"],
        what="download k8s.io/kubernetes",
        env=env,
        cwd=cache_root(),
        fix="check that the Go module proxy is reachable",
    )
    gomod = Path(env["GOMODCACHE"]) / "k8s.io" / f"kubernetes@{versions.kubernetes}" / "go.mod"
    return gomod.read_text()


def _replace_lines(gomod: str) -> list[tuple[str, str]]:
    """(module, right side) of every replace directive in a go.mod, in order."""
    lines: list[str] = []
    for block in re.findall(r"^replace\s*\((.*?)^\)", gomod, re.M | re.S):
        lines += block.splitlines()
    lines += re.findall(r"^replace\s+([^(\s].*)$", gomod, re.M)
    out = []
    for line in lines:
        line = line.split("//", 1)[0].strip()
        if "=>" in line:
            left, right = (part.strip() for part in line.split("=>", 1))
            out.append((left.split()[0], right))
    return out


def _staging_modules(versions: KitVersions, gomod: str | None = None) -> list[str]:
    """The k8s.io/* staging modules that k8s.io/kubernetes replaces with local paths."""
    gomod = gomod if gomod is not None else _kubernetes_go_mod(versions)
    staged = [m for m, right in _replace_lines(gomod) if right.startswith("./staging/")]
    if versions.old_go is not None:
        # Older releases list staging modules they never published (k8s.io/kubectl before 1.16) and
        # require one example (k8s.io/sample-apiserver): take exactly those the release requires.
        required = set(re.findall(r"^\s*(k8s\.io/[\w.-]+)\s+v0\.0\.0\s*$", gomod, re.M))
        return [m for m in staged if m in required]
    # sample-* modules are examples that are not published for every release.
    return [m for m in staged if not m.startswith("k8s.io/sample-")]


def _release_pins(gomod: str) -> tuple[tuple[str, str], ...]:
    """Every third-party replace of a release's go.mod: the dependency versions it was built with."""
    return tuple((m, right) for m, right in _replace_lines(gomod) if not right.startswith("./"))


def _merged(*groups: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """Replaces by module, a later group overriding an earlier one."""
    out: dict[str, str] = {}
    for group in groups:
        out.update(group)
    return tuple(out.items())


def _own_modules(program: GoProgram, pins: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """Replaces that keep each module `program` requires at its own version where the release pins another.

    1.15 pins github.com/coreos/etcd v3.3.13 for its client; the etcd server kubeadm runs is 3.3.10."""
    pinned = dict(pins)
    return tuple((m, f"{m} {v}") for m, v in program.requires if m in pinned and pinned[m] != f"{m} {v}")


def _old_go(program: GoProgram, versions: KitVersions, role: str, pins: tuple[tuple[str, str], ...]) -> GoProgram:
    """`program` built as code written for an older Go: that release's pins, toolchain and stand-ins."""
    old = versions.old_go
    if old is None:
        return program
    replaces = _merged(pins, _own_modules(program, pins), program.replaces, old.replaces_for(role))
    return dataclasses.replace(
        program,
        requires=program.requires + old.requires_for(role),
        replaces=replaces,
        toolchain=old.toolchain,
        go_directive=old.go_directive,
        pinned_only=True,
        nosumdb=old.nosumdb,
    )


def _with_openapi(program: GoProgram, versions: KitVersions) -> GoProgram:
    """The static commands include kube-apiserver, which needs the generated OpenAPI definitions."""
    wanted = versions.old_go is not None and versions.old_go.generate_openapi
    return dataclasses.replace(program, generate_openapi=True) if wanted else program


def kubernetes_stamp(kubernetes: str) -> dict[str, str]:
    """The version variables Kubernetes' build sets with -X (hack/lib/version.sh), for release `kubernetes`."""
    version = parse_version(kubernetes)
    return {
        "gitVersion": kubernetes,
        "gitMajor": str(version.major),
        "gitMinor": str(version.minor),
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": BUILD_DATE,
    }


def kubernetes_programs(versions: KitVersions) -> dict[str, GoProgram]:
    """Kubernetes' commands; for older releases the kubelet apart, built with cgo as that release did."""
    version = parse_version(versions.kubernetes)
    stamp = kubernetes_stamp(versions.kubernetes)
    # The packages hack/lib/version.sh of that release stamps: component-base's from 1.16 on.
    packages = (
        ("k8s.io/component-base/version",)
        if version.minor >= 16
        else ("k8s.io/kubernetes/pkg/version", "k8s.io/client-go/pkg/version", "k8s.io/kubernetes/pkg/kubectl/version")
    )
    ldflags = "-s -w " + " ".join(f"-X {pkg}.{k}={v}" for pkg in packages for k, v in stamp.items())
    gomod = _kubernetes_go_mod(versions)
    staging = _staging_modules(versions, gomod)
    commands = [
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kube-proxy",
        "kubelet",
        "kubeadm",
        "kubectl",
    ]
    base = GoProgram(
        name=f"kubernetes-{versions.kubernetes}",
        requires=(("k8s.io/kubernetes", versions.kubernetes),) + tuple((m, versions.staging) for m in staging),
        replaces=tuple((m, versions.staging) for m in staging),
        packages=tuple(f"k8s.io/kubernetes/cmd/{c}" for c in commands),
        ldflags=ldflags,
    )
    if versions.old_go is None:
        return {"kubernetes": base}
    pins = _release_pins(gomod)
    static = dataclasses.replace(base, packages=tuple(p for p in base.packages if not p.endswith("/kubelet")))
    kubelet = dataclasses.replace(
        base, name=f"kubelet-{versions.kubernetes}", packages=("k8s.io/kubernetes/cmd/kubelet",), cgo=True
    )
    return {
        "kubernetes": _with_openapi(_old_go(static, versions, "kubernetes", pins), versions),
        "kubelet": _old_go(kubelet, versions, "kubernetes", pins),
    }


def kubernetes_program(versions: KitVersions) -> GoProgram:
    return kubernetes_programs(versions)["kubernetes"]


def containerd_module(version: str) -> str:
    """containerd's module path: `/v2` from 2.0 on."""
    return "github.com/containerd/containerd" + ("" if version.startswith("v1.") else "/v2")


def containerd_program(versions: KitVersions) -> GoProgram:
    """containerd, its runc shim and ctr, version-stamped as containerd's Makefile does."""
    module = containerd_module(versions.containerd)
    stamp = {"Version": versions.containerd, "Revision": "rollproof-kit", "Package": module}
    return GoProgram(
        name=f"containerd-{versions.containerd}",
        requires=((module, versions.containerd),),
        packages=tuple(f"{module}/cmd/{c}" for c in ("containerd", "containerd-shim-runc-v2", "ctr")),
        ldflags="-s -w " + " ".join(f"-X {module}/version.{k}={v}" for k, v in stamp.items()),
        tags=("urfave_cli_no_docs",),  # as upstream; without cgo the btrfs snapshotter is left out
    )


def _etcd_program(versions: KitVersions) -> GoProgram:
    if versions.etcd.startswith("v3.3."):  # before go.etcd.io: one module without a go.mod
        etcdctl = ("github.com/coreos/etcd/etcdctl",) if versions.etcd_exec_probe else ()
        return GoProgram(
            name=f"etcd-{versions.etcd}",
            requires=(("github.com/coreos/etcd", versions.etcd + "+incompatible"),),
            packages=("github.com/coreos/etcd", *etcdctl),
            binary="etcd",
        )
    return GoProgram(
        name=f"etcd-{versions.etcd}",
        requires=tuple(
            (f"go.etcd.io/etcd/{m}", versions.etcd)
            for m in ("server/v3", "api/v3", "client/pkg/v3", "client/v3", "pkg/v3")
        ),
        packages=("go.etcd.io/etcd/server/v3",),
        binary="etcd",
    )


def _coredns_sources(versions: KitVersions) -> tuple[Path, ...]:
    """CoreDNS with kubeadm's plugins: main.go, and ready.go (the `ready` plugin) from CoreDNS 1.5 on."""
    main = kit_file("coredns", "main.go")
    if parse_version(versions.coredns, "CoreDNS version").release < (1, 5):
        return (main,)
    return (main, kit_file("coredns", "ready.go"))


def kit_programs(versions: KitVersions) -> dict[str, GoProgram]:
    """Everything the kit compiles, by role."""
    programs = _kit_programs(versions)
    if versions.old_go is not None:
        gomod = _kubernetes_go_mod(versions)
        staging = tuple((m, versions.staging) for m in _staging_modules(versions, gomod))
        pins = _merged(_release_pins(gomod), staging)
        for role in ("etcd", "coredns"):
            programs[role] = _old_go(programs[role], versions, role, pins)
    programs.update(kubernetes_programs(versions))
    return programs


def _kit_programs(versions: KitVersions) -> dict[str, GoProgram]:
    return {
        "kind": GoProgram(
            name=f"kind-{versions.kind}",
            requires=(("sigs.k8s.io/kind", versions.kind),),
            packages=("sigs.k8s.io/kind",),
        ),
        "crictl": GoProgram(
            name=f"crictl-{versions.crictl}",
            requires=(("sigs.k8s.io/cri-tools", versions.crictl),),
            packages=("sigs.k8s.io/cri-tools/cmd/crictl",),
        ),
        "etcd": _etcd_program(versions),
        "coredns": GoProgram(
            name=f"coredns-{versions.coredns}",
            requires=(("github.com/coredns/coredns", versions.coredns),),
            packages=("./",),
            binary="coredns",
            extra_files=_coredns_sources(versions),
        ),
        "containerd": containerd_program(versions),
    }


def build_programs(programs: dict[str, GoProgram]) -> dict[str, Path]:
    """Build each program (cached); returns role -> output directory."""
    return {role: build_program(program) for role, program in programs.items()}
