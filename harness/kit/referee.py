"""kubectl v1.17, the last release with `rolling-update`, built from its module: harness.rollout.rcupdate's referee.

The build is a wrapper module (under `$ROLLPROOF_CACHE/src/kubectl-referee-*`) that
requires `k8s.io/kubernetes` at `REFEREE_KUBERNETES` and its staging modules at the
matching `v0.17.x`, and repeats every third-party pin of Kubernetes' own go.mod as a
`replace` (replaces in a dependency's go.mod are ignored, so without them the
module graph would pick other versions than kubectl 1.17 was released with).
Where such a pin no longer works with a current Go, `OVERRIDES` replaces it and
says why; `TOOLCHAIN` is the Go release used (fetched through the module proxy
as `golang.org/toolchain`). The binary is stamped with its version like the
kit's Kubernetes builds and cached under `$ROLLPROOF_CACHE/bin/`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .gobuild import go_build, go_env, go_mod_tidy, kubernetes_stamp, wrapper_dir
from .paths import cache_root
from .stages import Stamp, input_hash, run, say, stage
from .versions import staging_version

__all__ = [
    "REFEREE_KUBERNETES",
    "TOOLCHAIN",
    "OVERRIDES",
    "Override",
    "referee_go_mod",
    "referee_ldflags",
    "referee_path",
    "build_referee",
]

REFEREE_KUBERNETES = "v1.17.17"
"""Last patch of 1.17; kubectl's `rolling-update` was removed in 1.18."""

TOOLCHAIN = "go1.21.13"
"""Go release for the build (kubectl 1.17 was released with Go 1.13; the proxy serves toolchains from 1.21.0)."""

_GO_DIRECTIVE = re.sub(r"^go(\d+\.\d+).*", r"\1", TOOLCHAIN)


@dataclass(frozen=True)
class Override:
    """A replace that differs from Kubernetes' own pin, and why."""

    module: str
    version: str
    reason: str
    target: str = ""  # the module that stands in for `module` (default: `module` itself)

    @property
    def replacement(self) -> str:
        return f"{self.target or self.module} {self.version}"


OVERRIDES: tuple[Override, ...] = (
    Override(
        "github.com/modern-go/reflect2",
        "v1.0.2",
        "Kubernetes 1.17 pins v1.0.1, whose unsafe map iteration crashes at run time with Go 1.18+ "
        "(json-iterator, i.e. every JSON decode in kubectl, goes through it); v1.0.2 is the fix",
    ),
    Override(
        "vbom.ml/util",
        "v0.0.0-20160121211510-db5cfe13f5cc",
        "the vanity host vbom.ml is gone and the module proxy answers 403 for it; the same commit is "
        "served as github.com/fvbommel/util (kubectl imports its sortorder package)",
        target="github.com/fvbommel/util",
    ),
)


def _block(text: str, name: str) -> list[list[str]]:
    """The entries of go.mod's `name (...)` blocks (and one-line `name x y` directives), as word lists."""
    entries: list[list[str]] = []
    for body in re.findall(rf"^{name} \((.*?)^\)", text, re.S | re.M):
        for line in body.splitlines():
            words = line.split("//", 1)[0].split()
            if words:
                entries.append(words)
    for line in re.findall(rf"^{name} ([^(\n].*)$", text, re.M):
        entries.append(line.split("//", 1)[0].split())
    return entries


def referee_go_mod(
    kubernetes_go_mod: str, kubernetes: str = REFEREE_KUBERNETES, overrides: tuple[Override, ...] = OVERRIDES
) -> str:
    """The wrapper's go.mod, from the text of `k8s.io/kubernetes@<kubernetes>`'s go.mod (pure).

    Requires kubernetes and every staging module it requires (as `v0.0.0`) at
    the matching `v0.X.Y`; replaces each such staging module likewise, repeats
    Kubernetes' third-party pins, then applies `overrides`.
    """
    staging_at = staging_version(kubernetes)
    staging = sorted(w[0] for w in _block(kubernetes_go_mod, "require") if len(w) >= 2 and w[1] == "v0.0.0")
    pins: dict[str, str] = {}  # module -> "replacement version"
    for words in _block(kubernetes_go_mod, "replace"):
        # `X => X version` pins; `X => ./staging/...` are the staging modules handled above.
        if len(words) == 4 and words[1] == "=>" and words[0] == words[2]:
            pins[words[0]] = f"{words[2]} {words[3]}"
    for module in staging:
        pins[module] = f"{module} {staging_at}"
    for override in overrides:
        pins[override.module] = override.replacement
    lines = ["module rollproof.local/kubectl-referee", "", f"go {_GO_DIRECTIVE}", "", "require ("]
    lines += [f"\tk8s.io/kubernetes {kubernetes}"] + [f"\t{m} {staging_at}" for m in staging]
    lines += [")", "", "replace ("] + [f"\t{m} => {r}" for m, r in sorted(pins.items())] + [")", ""]
    return "\n".join(lines)


def referee_ldflags(kubernetes: str = REFEREE_KUBERNETES) -> str:
    """Version stamps for `kubectl version` (component-base) and the User-Agent (client-go)."""
    flags = [
        f"-X {pkg}.{k}={v}"
        for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
        for k, v in kubernetes_stamp(kubernetes).items()
    ]
    return "-s -w " + " ".join(flags)


def referee_path(kubernetes: str = REFEREE_KUBERNETES) -> Path:
    """Where the referee kubectl is (or will be) cached."""
    return cache_root() / "bin" / f"kubectl-referee-{kubernetes}" / "kubectl"


def _env() -> dict[str, str]:
    return {**go_env(), "GOTOOLCHAIN": TOOLCHAIN}


def build_referee(kubernetes: str = REFEREE_KUBERNETES) -> Path:
    """Build kubectl `kubernetes` (cached by its inputs); returns the binary's path."""
    binary = referee_path(kubernetes)
    out = binary.parent
    env = _env()
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    run(
        ["go", "mod", "download", f"k8s.io/kubernetes@{kubernetes}"],
        what=f"download k8s.io/kubernetes@{kubernetes}",
        env=env,
        cwd=root,
        fix="check that the Go module proxy is reachable",
    )
    upstream = Path(env["GOMODCACHE"]) / "k8s.io" / f"kubernetes@{kubernetes}" / "go.mod"
    go_mod = referee_go_mod(upstream.read_text(), kubernetes)
    ldflags = referee_ldflags(kubernetes)
    stamp = Stamp(out / ".complete", input_hash(go_mod, ldflags, TOOLCHAIN))
    if stamp.done() and binary.exists():
        say(f"kubectl referee {kubernetes}: cached")
        return binary
    with stage(f"go build kubectl {kubernetes} (referee, {TOOLCHAIN})"):
        tools_go = '//go:build tools\n\npackage tools\n\nimport _ "k8s.io/kubernetes/cmd/kubectl"\n'
        src = wrapper_dir(f"kubectl-referee-{kubernetes}", go_mod, tools_go)
        go_mod_tidy(src, env, f"kubectl {kubernetes}")
        go_build(
            src,
            out,
            stamp,
            lambda tmp: ["-ldflags", ldflags, "-o", str(tmp / "kubectl"), "k8s.io/kubernetes/cmd/kubectl"],
            env=env,
            what=f"kubectl {kubernetes}",
            fix="see the compiler output above; OVERRIDES in harness/kit/referee.py pins what old code needs",
        )
    return binary
