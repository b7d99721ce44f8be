"""Kit build stages: timed, logged, cached by a hash of their inputs."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

from ..errors import ProviderError

__all__ = ["say", "stage", "run", "input_hash", "Stamp"]

_TAIL_LINES = 25


def say(message: str) -> None:
    """One progress line on stderr."""
    print(f"[kit] {message}", file=sys.stderr, flush=True)


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Announce a stage, then report how long it took (or that it failed)."""
    say(f"{name} ...")
    started = time.monotonic()
    try:
        yield
    except BaseException:
        say(f"{name}: FAILED after {time.monotonic() - started:.1f}s")
        raise
    say(f"{name}: done in {time.monotonic() - started:.1f}s")


def run(
    argv: Sequence[str],
    *,
    what: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    stdin: bytes | None = None,
    fix: str = "",
    quiet: bool = True,
) -> str:
    """Run a command; on failure raise ProviderError with its last output lines.

    `what` names the step for the error; `fix` says what the user should do.
    """
    full_env = {**os.environ, **(env or {})}
    try:
        proc = subprocess.run(
            list(argv),
            cwd=cwd,
            env=full_env,
            input=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
    except FileNotFoundError as exc:
        raise ProviderError(f"{what}: {argv[0]} is not installed{'; ' + fix if fix else ''}") from exc
    out = proc.stdout.decode(errors="replace")
    if not quiet:
        sys.stderr.write(out)
    if proc.returncode != 0:
        tail = "\n".join(out.strip().splitlines()[-_TAIL_LINES:])
        hint = f" ({fix})" if fix else ""
        raise ProviderError(f"{what} failed with exit {proc.returncode}{hint}:\n{tail}")
    return out


def input_hash(*items: object) -> str:
    """A short stable hash of versions, strings and files' contents (files by Path)."""
    digest = hashlib.sha256()
    for item in items:
        if isinstance(item, Path):
            paths = sorted(p for p in item.rglob("*") if p.is_file()) if item.is_dir() else [item]
            for path in paths:
                digest.update(str(path.relative_to(item.parent)).encode())
                digest.update(path.read_bytes())
        else:
            digest.update(repr(item).encode())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


class Stamp:
    """A marker file that says an output with a given input hash is complete.

    Written last and atomically, so an interrupted build is never taken for finished.
    """

    def __init__(self, path: Path, key: str) -> None:
        self.path = path
        self.key = key

    def done(self) -> bool:
        try:
            return self.path.read_text().strip() == self.key
        except OSError:
            return False

    def mark(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(self.key + "\n")
        os.replace(tmp, self.path)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
