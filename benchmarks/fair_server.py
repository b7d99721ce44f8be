"""How long the kernel's fair server holds a real-time task (a script, not a test).

Since Linux 6.12 a CPU whose normal (fair) tasks were kept off it by real-time work for about
950 ms of a second runs them for up to 50 ms at deadline priority, ahead of every SCHED_FIFO
task, the samplers included. Three cases, each printing the real-time task's holds over 5 ms:

- a SCHED_FIFO spinner pinned to CPU 1 beside a normal spinner pinned there (starved);
- the same spinner alone (only the CPU's own normal threads to starve);
- a SCHED_FIFO sleeper at a 1 ms pace with 0.2 ms of work, beside normal spinners on every CPU
  (the samplers' shape: they sleep, so nothing starves);
- the same sleeper at SCHED_FIFO 10 and at SCHED_DEADLINE (the samplers' two settings), while
  SCHED_FIFO 5 spinners starve every CPU's normal spinner (so the fair server steps in on each).

Figures are printed, not asserted. Run it as root on an otherwise quiet machine:

    sudo python3 benchmarks/fair_server.py [--seconds 3.5]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.deadline import set_deadline  # noqa: E402

CPU = 1
RT_PRIORITY = 10  # the samplers' priority (harness.probeloop)


def _spin(seconds: float, cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def _real_time(priority: int = RT_PRIORITY) -> None:
    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))


def _starving_spin(seconds: float, cpu: int) -> None:
    """A SCHED_FIFO 5 spinner pinned to `cpu`: below the samplers, above every normal task."""
    os.sched_setaffinity(0, {cpu})
    _real_time(5)
    _spin(seconds, None)
    os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))


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


def _deadline_sleeper(seconds: float, out: mp.Queue) -> None:
    """`_rt_sleeper` at SCHED_DEADLINE, 0.5 ms every 1 ms (the samplers' setting)."""
    set_deadline(0.0005, 0.001)
    _sleeper(seconds, out)


def _rt_sleeper(seconds: float, out: mp.Queue) -> None:
    """1 ms pace, 0.2 ms of work per tick, at SCHED_FIFO; every wake-up over 5 ms late is a hold."""
    _real_time()
    _sleeper(seconds, out)


def _sleeper(seconds: float, out: mp.Queue) -> None:
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


def run(target, seconds: float, spinners: list[int | None], starving: bool = False) -> list[tuple[float, float]]:
    out: mp.Queue = mp.Queue()
    normal = [mp.Process(target=_spin, args=(seconds + 0.5, cpu)) for cpu in spinners]
    if starving:
        normal += [mp.Process(target=_starving_spin, args=(seconds + 0.5, cpu)) for cpu in spinners]
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
    cpus = list(range(os.cpu_count() or 1))
    cases = (
        ("real-time spinner, a normal spinner on its CPU", _rt_spinner, [CPU], False),
        ("real-time spinner alone on its CPU", _rt_spinner, [], False),
        ("real-time sleeper (1 ms pace), a normal spinner per CPU", _rt_sleeper, [None] * len(cpus), False),
        ("SCHED_FIFO 10 sleeper, every CPU starved by a FIFO 5 spinner", _rt_sleeper, cpus, True),
        ("SCHED_DEADLINE sleeper, every CPU starved by a FIFO 5 spinner", _deadline_sleeper, cpus, True),
    )
    for label, target, spinners, starving in cases:
        holds = run(target, args.seconds, spinners, starving)
        shown = ", ".join(f"{ms:.1f} ms at +{at:.2f}s" for at, ms in holds) or "none"
        print(f"{label}, {args.seconds:.1f} s: holds over 5 ms: {shown}")


if __name__ == "__main__":
    main()
