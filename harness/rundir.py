"""One private directory per process for the files that hold credentials.

`run_dir()` is `$TMPDIR/rollproof-<uid>/<pid>-<start ticks>/`, mode 0700, made
on first use and removed when the process exits (atexit; SIGTERM and SIGHUP
reach atexit through `harness.interrupts`). Kubeconfigs of kind clusters and
TLS files that cannot stay in memory live there and nowhere else. A process
killed with SIGKILL cannot remove it: `sweep_run_dirs()`, called by every
session and command, removes the directories of processes that are gone.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
from pathlib import Path

from .owner import current_owner, process_start

__all__ = ["run_dir", "runs_root", "sweep_run_dirs", "remove_run_dir"]

_lock = threading.Lock()
_made: dict[int, Path] = {}  # pid -> its directory (a forked child makes its own)


def runs_root() -> Path:
    """`$TMPDIR/rollproof-<uid>`: holds one directory per running process."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"rollproof-{uid}"


def _private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, exist_ok=True)
    st = path.lstat()
    if not path.is_dir() or path.is_symlink() or (hasattr(os, "getuid") and st.st_uid != os.getuid()):
        raise PermissionError(f"{path} is not a private directory of this user")
    os.chmod(path, 0o700)


def run_dir() -> Path:
    """This process's private directory (0700), removed at exit."""
    pid = os.getpid()
    with _lock:
        made = _made.get(pid)
        if made is not None and made.is_dir():
            return made
        root = runs_root()
        _private_dir(root)
        owner = current_owner()
        path = root / f"{pid}-{owner.start.replace(':', '-') or 'x'}"
        _private_dir(path)
        if pid not in _made:
            atexit.register(remove_run_dir, pid)
        _made[pid] = path
        return path


def remove_run_dir(pid: int | None = None) -> None:
    """Remove this process's directory (idempotent; a forked child leaves its parent's alone)."""
    pid = os.getpid() if pid is None else pid
    if pid != os.getpid():
        return
    with _lock:
        path = _made.pop(pid, None)
    if path is not None:
        shutil.rmtree(path, ignore_errors=True)


def sweep_run_dirs() -> list[Path]:
    """Remove the directories of processes that are gone (SIGKILLed runs); returns what it removed."""
    root = runs_root()
    removed: list[Path] = []
    try:
        entries = list(root.iterdir())
    except OSError:
        return removed
    for entry in entries:
        pid_text, _, start = entry.name.partition("-")
        if not pid_text.isdigit():
            continue
        now = process_start(int(pid_text))
        gone = now is None or (start not in ("", "x") and now and now.replace(":", "-") != start)
        if gone:
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed
