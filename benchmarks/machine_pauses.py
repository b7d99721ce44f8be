"""How long this machine stops running its real-time processes (a script, not a test).

One witness process per CPU, pinned to it at SCHED_FIFO, spins reading the
monotonic clock (leaving the CPU 2 ms in every 20 so the kernel's real-time
throttling never steps in) and records every jump above `--min-ms`. A jump seen
by every CPU's witness at the same instant is a pause of the whole machine: no
process of this host ran, the probe samplers included. The per-CPU steal time
(/proc/stat) is read around each jump, to tell a hypervisor that accounts its
preemption from one that does not. Figures are printed, not asserted. Run it
alone, as root, on an otherwise idle machine: it keeps every CPU busy.

    sudo python3 benchmarks/machine_pauses.py [--seconds 120] [--min-ms 8]
"""

from __future__ import annotations

import argparse
import os
import time

from percpu import per_cpu


def _steal(fd: int, cpu: int) -> int:
    return int(os.pread(fd, 8192, 0).split(b"\n")[1 + cpu].split()[8])


def witness(cpu: int, seconds: float, min_gap: float) -> list[tuple[int, float, float, int]]:
    """Spin on `cpu` for `seconds`; (cpu, at, jump, steal jiffies during it) for each jump."""
    os.sched_setaffinity(0, {cpu})
    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(30))
    fd = os.open("/proc/stat", os.O_RDONLY)
    jumps = []
    last = time.monotonic()
    end = last + seconds
    steal, read_at = _steal(fd, cpu), last
    while last < end:
        now = time.monotonic()
        if now - last > min_gap:
            after = _steal(fd, cpu)
            jumps.append((cpu, last, now - last, after - steal))
            steal, read_at = after, now
        elif now - read_at > 0.005:
            steal, read_at = _steal(fd, cpu), now
        last = now
        if int(now * 1000) % 20 == 0:
            time.sleep(0.002)
            last = time.monotonic()
    return jumps


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=120.0)
    p.add_argument("--min-ms", type=float, default=8.0, help="smallest jump recorded")
    args = p.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    results = per_cpu(witness, args.seconds, args.min_ms / 1000)
    jumps = sorted((j for found in results.values() for j in found), key=lambda j: j[1])
    shared = []
    for cpu, at, length, steal in jumps:
        overlapping = {c for c, a, n, _ in jumps if a < at + length and at < a + n}
        if cpu == min(overlapping) and overlapping == set(cpus):
            shared.append((at, length, steal))
    print(f"{len(cpus)} CPUs, {args.seconds:.0f} s, jumps over {args.min_ms:.0f} ms: {len(jumps)}")
    for cpu in cpus:
        mine = [n for c, _, n, _ in jumps if c == cpu]
        print(f"  cpu {cpu}: {len(mine)} jumps, longest {max(mine, default=0) * 1000:.1f} ms")
    print(f"pauses every CPU saw at once: {len(shared)}")
    for at, length, steal in shared:
        print(f"  at {at:.3f}: {length * 1000:.1f} ms (steal accounted: {steal * 10} ms)")
    print("target: none longer than the suites' gap bound (20 probe intervals = 40 ms at 2 ms)")


if __name__ == "__main__":
    main()
