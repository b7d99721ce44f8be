"""Building Go programs from the Go module proxy, with caches outside the repo.

Every program is built from a small wrapper module (written under the cache
root) that requires the upstream module at a pinned version. That is how a
module whose go.mod has `replace` directives (Kubernetes, etcd) still builds:
the wrapper requires each staging module at the matching version instead.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from .paths import cache_root, kit_file
from .steps import Stamp, input_hash, run, say, stage
from .versions import KitVersions

__all__ = ["GoProgram", "go_env", "build_programs", "kit_programs", "containerd_program", "containerd_module", "BUILD_DATE"]

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

    def key(self) -> str:
        return input_hash(self.requires, self.packages, self.binary, self.replaces, self.ldflags, self.tags,
                          *self.extra_files)

    def out_dir(self) -> Path:
        return cache_root() / "bin" / self.name

    def path(self, binary: str) -> Path:
        return self.out_dir() / binary


def _go_mod(program: GoProgram) -> str:
    lines = [f"module rollproof.local/{program.name}", "", "go 1.24.0", ""]
    lines += ["require ("] + [f"\t{m} {v}" for m, v in program.requires] + [")", ""]
    if program.replaces:
        lines += ["replace ("] + [f"\t{m} => {m} {v}" for m, v in program.replaces] + [")", ""]
    return "\n".join(lines)


def _tools_go(program: GoProgram) -> str:
    imports = "\n".join(f'\t_ "{p}"' for p in program.packages if not p.startswith("./"))
    return f"//go:build tools\n\npackage tools\n\nimport (\n{imports}\n)\n"


def build_program(program: GoProgram) -> Path:
    """Build `program` unless a complete build with the same inputs exists."""
    out = program.out_dir()
    stamp = Stamp(out / ".complete", program.key())
    if stamp.done():
        say(f"go build {program.name}: cached")
        return out
    with stage(f"go build {program.name}"):
        src = cache_root() / "src" / program.name
        if src.exists():
            shutil.rmtree(src)
        src.mkdir(parents=True)
        (src / "go.mod").write_text(_go_mod(program))
        if any(not p.startswith("./") for p in program.packages):
            (src / "tools.go").write_text(_tools_go(program))
        for extra in program.extra_files:
            shutil.copy(extra, src / extra.name)
        env = go_env()
        run(["go", "mod", "tidy", "-e"], what=f"go mod tidy for {program.name}", env=env, cwd=src,
            fix="check that the Go module proxy is reachable")
        stamp.clear()
        tmp = out.with_name(out.name + ".partial")
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        pkgs = list(program.packages)
        if len(pkgs) == 1:
            target = str(tmp / (program.binary or pkgs[0].rstrip("/").rsplit("/", 1)[-1]))
        else:
            target = str(tmp) + os.sep
        tags = ["-tags", ",".join(program.tags)] if program.tags else []
        run(["go", "build", "-trimpath", "-ldflags", program.ldflags, *tags, "-o", target, *pkgs],
            what=f"go build {program.name}", env=env, cwd=src,
            fix="see the compiler output above; a disk too full for the build shows as 'no space left'")
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
        stamp.mark()
    return out


def _staging_modules(versions: KitVersions) -> list[str]:
    """The k8s.io/* staging modules that k8s.io/kubernetes replaces with local paths."""
    env = go_env()
    run(["go", "mod", "download", f"k8s.io/kubernetes@{versions.kubernetes}"],
        what="download k8s.io/kubernetes", env=env, cwd=cache_root(),
        fix="check that the Go module proxy is reachable")
    gomod = Path(env["GOMODCACHE"]) / "k8s.io" / f"kubernetes@{versions.kubernetes}" / "go.mod"
    staged = re.findall(r"^\s*(k8s\.io/[\w.-]+)\s*=>\s*\./staging/", gomod.read_text(), re.M)
    # sample-* modules are examples that are not published for every release.
    return [m for m in staged if not m.startswith("k8s.io/sample-")]


def kubernetes_program(versions: KitVersions) -> GoProgram:
    pkg = "k8s.io/component-base/version"
    major, minor = versions.kubernetes.lstrip("v").split(".")[:2]
    stamp = {
        "gitVersion": versions.kubernetes, "gitMajor": major, "gitMinor": minor,
        "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
        "buildDate": BUILD_DATE,
    }
    ldflags = "-s -w " + " ".join(f"-X {pkg}.{k}={v}" for k, v in stamp.items())
    staging = _staging_modules(versions)
    return GoProgram(
        name=f"kubernetes-{versions.kubernetes}",
        requires=(("k8s.io/kubernetes", versions.kubernetes),) + tuple((m, versions.staging) for m in staging),
        replaces=tuple((m, versions.staging) for m in staging),
        packages=tuple(f"k8s.io/kubernetes/cmd/{c}" for c in (
            "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy",
            "kubelet", "kubeadm", "kubectl")),
        ldflags=ldflags,
    )


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


def kit_programs(versions: KitVersions) -> dict[str, GoProgram]:
    """Everything the kit compiles, by role."""
    return {
        "kind": GoProgram(name=f"kind-{versions.kind}", requires=(("sigs.k8s.io/kind", versions.kind),),
                          packages=("sigs.k8s.io/kind",)),
        "crictl": GoProgram(name=f"crictl-{versions.crictl}",
                            requires=(("sigs.k8s.io/cri-tools", versions.crictl),),
                            packages=("sigs.k8s.io/cri-tools/cmd/crictl",)),
        "etcd": GoProgram(
            name=f"etcd-{versions.etcd}",
            requires=tuple((f"go.etcd.io/etcd/{m}", versions.etcd)
                           for m in ("server/v3", "api/v3", "client/pkg/v3", "client/v3", "pkg/v3")),
            packages=("go.etcd.io/etcd/server/v3",),
            binary="etcd",
        ),
        "coredns": GoProgram(
            name=f"coredns-{versions.coredns}",
            requires=(("github.com/coredns/coredns", versions.coredns),),
            packages=("./",),
            binary="coredns",
            extra_files=(kit_file("coredns", "main.go"),),
        ),
        "containerd": containerd_program(versions),
        "kubernetes": kubernetes_program(versions),
    }


def build_programs(programs: dict[str, GoProgram]) -> dict[str, Path]:
    """Build each program (cached); returns role -> output directory."""
    return {role: build_program(program) for role, program in programs.items()}
