"""The in-cluster prober's Go build: a static binary from the repository's own module.

The Go program (fixtures/images/prober) has no dependencies, so it builds
offline (`GOPROXY=off`). The prober image holds it at `PROBER_PATH`, which
`harness.podprober` runs as the pod's command.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from ..errors import ConfigError, ProviderError
from .paths import cache_root as default_cache_root

__all__ = ["PROBER_PATH", "PROBER_SOURCE", "build_prober_binary"]

PROBER_PATH = "/prober"
"""Where the prober image holds the binary."""

PROBER_SOURCE = Path(__file__).resolve().parents[2] / "fixtures" / "images" / "prober"
"""The Go module of the prober (in a source checkout)."""


def build_prober_binary(
    out_dir: str | os.PathLike[str],
    *,
    goarch: str | None = None,
    go: str | None = None,
    source_dir: str | os.PathLike[str] = PROBER_SOURCE,
    cache_root: str | os.PathLike[str] | None = None,
    timeout: float = 600.0,
) -> Path:
    """Build the static prober binary into `out_dir`/prober and return its path.

    Go caches live under `cache_root` (default `$ROLLPROOF_CACHE` or
    /var/cache/rollproof); the module has no dependencies, so no network is used.
    """
    source = Path(source_dir)
    if not (source / "go.mod").is_file():
        raise ConfigError(f"no prober Go module at {source}; pass source_dir= a checkout's fixtures/images/prober")
    go_bin = go or shutil.which("go") or "/usr/local/go/bin/go"
    if not Path(go_bin).is_file():
        raise ConfigError(f"no Go toolchain at {go_bin}; install Go or pass go= its path")
    cache = Path(cache_root) if cache_root else default_cache_root()
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "GOCACHE": str(cache / "gobuild"),
        "GOMODCACHE": str(cache / "gomod"),
        "CGO_ENABLED": "0",
        "GOOS": "linux",
        "GOTOOLCHAIN": "local",
        "GOFLAGS": "-mod=mod -buildvcs=false",
        "GOPROXY": "off",
    }
    if goarch:
        env["GOARCH"] = goarch
    binary = out / "prober"
    command = [go_bin, "build", "-trimpath", "-ldflags=-s -w", "-o", str(binary), "."]
    try:
        result = subprocess.run(command, cwd=source, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise ProviderError(f"go build of the prober took over {timeout:.0f}s") from exc
    if result.returncode != 0:
        raise ProviderError(f"go build of the prober failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    return binary
