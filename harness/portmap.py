"""The process behind a port that Docker maps to this host: `docker-proxy`, Docker's userland proxy.

A kind port mapping on 127.0.0.1 is served by one `docker-proxy` process per port, which stops
for good on an accept error (moby/moby#6402; README finding 18: under a starved node the one
behind the probed port exited and every later request was refused by this host, not by the
cluster). `mapping_process` finds it by its arguments; `gone` says whether it has exited.
"""

from __future__ import annotations

import os

__all__ = ["mapping_process", "gone"]


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def mapping_process(host: str, port: int, proc: str = "/proc") -> int | None:
    """The PID of the `docker-proxy` serving `host:port`, None when there is none (or it cannot be seen)."""
    try:
        entries = os.listdir(proc)
    except OSError:
        return None
    want = {"-host-ip": host, "-host-port": str(port)}
    for entry in entries:
        if not entry.isdigit():
            continue
        cmdline = _read(f"{proc}/{entry}/cmdline")
        if not cmdline:
            continue
        argv = cmdline.decode("utf-8", "replace").split("\0")
        if not argv[0].endswith("docker-proxy"):
            continue
        given = dict(zip(argv[1::2], argv[2::2]))
        if all(given.get(k) == v for k, v in want.items()):
            return int(entry)
    return None


def gone(pid: int, proc: str = "/proc") -> bool:
    """Whether process `pid` has exited (no longer listed, or a zombie its parent has not reaped)."""
    stat = _read(f"{proc}/{pid}/stat")
    if stat is None:
        return True
    state = stat.rsplit(b")", 1)[-1].split()[:1]
    return state in ([b"Z"], [b"X"])
