"""Where the kit keeps its heavy outputs: outside the repository, reused across runs."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_root", "kit_file"]


def cache_root() -> Path:
    """`$ROLLPROOF_CACHE`, default /var/cache/rollproof (Go caches, binaries, stamps)."""
    return Path(os.environ.get("ROLLPROOF_CACHE", "/var/cache/rollproof"))


def kit_file(*parts: str) -> Path:
    """A file shipped with the kit (node files, image recipes)."""
    return Path(__file__).parent.joinpath("files", *parts)
