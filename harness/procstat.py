"""Per-CPU counters read from /proc, cheap enough for a sampler's loop (no other import)."""

from __future__ import annotations

import os

__all__ = ["cpu_steal", "local_timer_interrupts"]

_TICK = 1.0 / os.sysconf("SC_CLK_TCK")


def local_timer_interrupts(fd: int) -> list[int]:
    """Per-CPU local timer interrupts (the LOC row of /proc/interrupts), or [] if there is none."""
    try:
        text = os.pread(fd, 1 << 16, 0)
    except OSError:
        return []
    for line in text.split(b"\n"):
        if line.lstrip().startswith(b"LOC:"):
            return [int(x) for x in line.split()[1:] if x.isdigit()]
    return []


def cpu_steal(fd: int) -> list[float]:
    """Per-CPU stolen time in seconds (the 8th value of each cpuN row of /proc/stat), or [] if none."""
    try:
        text = os.pread(fd, 1 << 16, 0)
    except OSError:
        return []
    out = []
    for line in text.split(b"\n"):
        fields = line.split()
        if fields and fields[0].startswith(b"cpu") and fields[0] != b"cpu" and len(fields) > 8:
            out.append(int(fields[8]) * _TICK)
    return out
