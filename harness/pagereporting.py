"""Free page reporting to the host, paused while a run measures (README finding 25).

A guest kernel that reports its free memory to the host (virtio-balloon free page reporting)
has the host take that memory back; on this kind of machine that stopped both CPUs at once,
without any steal counted, for 9-81 ms while memory was churned: `benchmarks/cpu_holds.py` for
60 s beside three 8 GB touches saw 6-9 late wake-ups a run (three runs), with reporting off none
over 8 ms (two runs). A rollout churns memory (pods start and stop), so a run refused on such a
hold said nothing about the rollout. The reporting is a module parameter: an order above the
largest page order the kernel has reports nothing, and the previous order turns it back on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["PARAM", "Paused", "pause"]

PARAM = Path("/sys/module/page_reporting/parameters/page_reporting_order")
BUDDYINFO = Path("/proc/buddyinfo")


@dataclass(frozen=True)
class Paused:
    """Reporting this run turned off, and the order that turns it back on."""

    param: Path
    was: int
    off: int

    def restore(self) -> None:
        """Report again as before (unless someone changed the order since)."""
        try:
            if int(self.param.read_text()) == self.off:
                self.param.write_text(str(self.was))
        except (OSError, ValueError):
            pass

    def describe(self) -> str:
        return (
            f"free page reporting to the host paused for this run (order {self.was} -> {self.off}; it stalls the "
            "whole virtual machine, README finding 25); --page-reporting keep leaves it on"
        )


def pause(param: Path = PARAM, buddyinfo: Path = BUDDYINFO) -> Paused | None:
    """Turn reporting off: its order set one above the largest page order (the columns of
    /proc/buddyinfo). None when this kernel reports nothing, it is off already (another run
    paused it: that run turns it back on) or this process may not change it."""
    try:
        was = int(param.read_text())
        orders = len(buddyinfo.read_text().splitlines()[0].split()) - 4  # "Node 0, zone DMA" then one per order
    except (OSError, ValueError, IndexError):
        return None
    if orders <= 0 or was >= orders:
        return None
    try:
        param.write_text(str(orders))
    except OSError:
        return None
    return Paused(param, was, orders)
