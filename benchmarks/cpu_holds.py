"""Which CPU was held, how long, and whether it kept running meanwhile (a script, not a test).

One sleeper per CPU, pinned to it at SCHED_FIFO 1 (below the samplers' 10), wakes every 2 ms.
Each wake-up later than `--min-ms` is printed with its CLOCK_MONOTONIC time (the samplers'
clock, so a sampler gap and `perf record -k mono` samples line up with it) and the local timer
interrupts every CPU took meanwhile (`/proc/interrupts` LOC, read every 4 ms): a CPU that kept
taking them was running, and was held by something ahead of the sleeper (a real-time process,
or kernel code that does not yield); a CPU that took none was not run at all. Figures are
printed, not asserted. Run it as root beside a suite, or alone:

    sudo python3 benchmarks/cpu_holds.py [--seconds 600] [--min-ms 15]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.procstat import local_timer_interrupts  # noqa: E402
from percpu import per_cpu  # noqa: E402


def sleeper(cpu: int, seconds: float, late: float) -> list[tuple[float, float, list[int], float]]:
    """Wake every 2 ms on `cpu`; (monotonic time, lateness, LOC deltas per CPU, span) per late wake."""
    os.sched_setaffinity(0, {cpu})
    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
    fd = os.open("/proc/interrupts", os.O_RDONLY)
    holds = []
    base, base_at = local_timer_interrupts(fd), time.monotonic()
    prev = base_at
    end = prev + seconds
    turn = 0
    while prev < end:
        time.sleep(0.002)
        now = time.monotonic()
        if now - prev - 0.002 > late:
            counts = local_timer_interrupts(fd)
            holds.append((now, now - prev - 0.002, [b - a for a, b in zip(base, counts)], now - base_at))
            base, base_at = counts, now
        turn += 1
        if turn % 2 == 0:
            base, base_at = local_timer_interrupts(fd), time.monotonic()
        prev = now
    return holds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=600.0)
    p.add_argument("--min-ms", type=float, default=15.0, help="smallest lateness printed")
    args = p.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    results = per_cpu(sleeper, args.seconds, args.min_ms / 1000)
    holds = sorted((at, cpu, lateness, locs, span) for cpu, hs in results.items() for at, lateness, locs, span in hs)
    print(f"{len(cpus)} CPUs, {args.seconds:.0f} s, wake-ups over {args.min_ms:.0f} ms late: {len(holds)}")
    for at, cpu, lateness, locs, span in holds:
        if lateness < 0.010:
            running = "too short to tell"  # a 2 ms sleeper's own timer gives 2 interrupts in 4 ms
        elif locs and locs[cpu] > 2:
            running = "kept running"
        else:
            running = "took at most 2 timer interrupts: not run"
        print(
            f"  {at:.3f} cpu {cpu}: {lateness * 1000:.1f} ms late, {running}; "
            f"timer interrupts per CPU over the last {span * 1000:.0f} ms: {locs}"
        )
    print("target: none later than the samplers' gap bound (20 probe intervals = 40 ms at 2 ms)")


if __name__ == "__main__":
    main()
