"""How long the kernel's fair server holds a real-time task (a script, not a test).

Since Linux 6.12 a CPU whose normal (fair) tasks were kept off it by real-time work for about
950 ms of a second runs them for up to 50 ms at deadline priority, ahead of every SCHED_FIFO
task, the samplers included. Three cases, each printing the real-time task's holds over 5 ms:

- a SCHED_FIFO spinner pinned to CPU 1 beside a normal spinner pinned there (starved);
- the same spinner alone (only the CPU's own normal threads to starve);
- a SCHED_FIFO sleeper at a 1 ms pace with 0.2 ms of work, beside normal spinners on every CPU
  (the samplers' shape: they sleep, so nothing starves).

Figures are printed, not asserted. Run it as root on an otherwise quiet machine:

    sudo python3 benchmarks/fair_server.py [--seconds 3.5]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import time

CPU = 1
RT_PRIORITY = 10  # the samplers' priority (harness.probeloop)


def _spin(seconds: float, cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def _real_time() -> None:
    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(RT_PRIORITY))


def _rt_spinner(seconds: float, out: mp.Queue) -> None:
    """Spin at SCHED_FIFO on `CPU`; every jump of the clock over 5 ms is a hold."""
    os.sched_setaffinity(0, {CPU})
    _real_time()
    holds, prev = [], time.monotonic()
    start = prev
    while prev - start < seconds:
        now = time.monotonic()
        if now - prev > 0.005:
            holds.append((prev - start, (now - prev) * 1000))
        prev = now
    os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    out.put(holds)


def _rt_sleeper(seconds: float, out: mp.Queue) -> None:
    """1 ms pace, 0.2 ms of work per tick, at SCHED_FIFO; every wake-up over 5 ms late is a hold."""
    _real_time()
    holds, start = [], time.monotonic()
    due = start
    while due - start < seconds:
        due += 0.001
        busy = time.monotonic() + 0.0002
        while time.monotonic() < busy:
            pass
        time.sleep(max(0.0, due - time.monotonic()))
        now = time.monotonic()
        if now - due > 0.005:
            holds.append((now - start, (now - due) * 1000))
        due = max(due, now)
    os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    out.put(holds)


def run(target, seconds: float, spinners: list[int | None]) -> list[tuple[float, float]]:
    out: mp.Queue = mp.Queue()
    normal = [mp.Process(target=_spin, args=(seconds + 0.5, cpu)) for cpu in spinners]
    for p in normal:
        p.start()
    time.sleep(0.1)
    rt = mp.Process(target=target, args=(seconds, out))
    rt.start()
    holds = out.get()
    rt.join()
    for p in normal:
        p.join()
    return holds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.5)
    args = parser.parse_args()
    cases = (
        ("real-time spinner, a normal spinner on its CPU", _rt_spinner, [CPU]),
        ("real-time spinner alone on its CPU", _rt_spinner, []),
        ("real-time sleeper (1 ms pace), a normal spinner per CPU", _rt_sleeper, [None] * (os.cpu_count() or 1)),
    )
    for label, target, spinners in cases:
        holds = run(target, args.seconds, spinners)
        shown = ", ".join(f"{ms:.1f} ms at +{at:.2f}s" for at, ms in holds) or "none"
        print(f"{label}, {args.seconds:.1f} s: holds over 5 ms: {shown}")


if __name__ == "__main__":
    main()
