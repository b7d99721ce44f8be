"""What every CPU ran while the samplers were held (a diagnostic script, not a test).

Keeps the kernel's event trace (scheduling, interrupts, softirqs, IPIs, system calls, page
faults) in a ring buffer on the samplers' clock (CLOCK_MONOTONIC), follows the samplers' stall
trace (`ROLLPROOF_SAMPLER_STALLS`), and when a step overran by `--min-ms` or more, freezes the
buffer, keeps the held window with a margin as text, and prints per CPU who had it: each task's
time, softirq and hard-irq time, the longest stretch with no event at all while not idle (a
running CPU takes a timer interrupt every tick: a silent one was not run, README finding 25), and
the longest system calls (waits included). Run as root beside a suite:

    python3 benchmarks/hold_trace.py --stalls /tmp/stalls.txt --out /tmp/holds &
    ROLLPROOF_SAMPLER_STALLS=/tmp/stalls.txt pytest suites/test_deployment_rollout.py
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

TRACING = Path("/sys/kernel/tracing")
EVENTS = (
    "sched/sched_switch",
    "sched/sched_wakeup",
    "sched/sched_process_exec",
    "sched/sched_process_exit",
    "sched/sched_process_fork",
    "irq/irq_handler_entry",
    "irq/irq_handler_exit",
    "irq/softirq_entry",
    "irq/softirq_exit",
    "irq_vectors/local_timer_entry",
    "ipi",
    "raw_syscalls/sys_enter",
    "raw_syscalls/sys_exit",
    "exceptions",
    "workqueue/workqueue_execute_start",
    "workqueue/workqueue_execute_end",
    "tlb",
)
STALL = re.compile(
    r"^(?P<began>\d+\.\d+) pid (?P<pid>\d+) (?P<step>.*?) took (?P<took>[\d.]+) ms, (?P<asked>[\d.]+) ms asked"
)
LINE = re.compile(
    r"^\s*(?P<task>.+?)-(?P<pid>\d+)\s+\[(?P<cpu>\d+)\]\s+\S+\s+(?P<ts>\d+\.\d+): (?P<event>\w+): ?(?P<rest>.*)$"
)


def _write(name: str, value: str) -> None:
    (TRACING / name).write_text(value)


def start(buffer_kb: int) -> str:
    """Trace the events into an overwriting ring buffer of `buffer_kb` per CPU, stamped with
    CLOCK_MONOTONIC; returns the buffer size it replaced."""
    if not (TRACING / "trace").exists():
        os.system("mount -t tracefs nodev /sys/kernel/tracing")
    was = (TRACING / "buffer_size_kb").read_text().split()[0]
    _write("tracing_on", "0")
    _write("trace_clock", "mono")
    _write("buffer_size_kb", str(buffer_kb))
    _write("set_event", "")
    for event in EVENTS:
        _write(f"events/{event}/enable", "1")
    _write("trace", "")
    _write("tracing_on", "1")
    return was


def stop(buffer_kb: str) -> None:
    """Tracing off, no event enabled, the buffer back to its size before `start`."""
    _write("tracing_on", "0")
    _write("set_event", "")
    _write("buffer_size_kb", buffer_kb)


@dataclass
class CpuWindow:
    """Where one CPU's time went between two instants."""

    tasks: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    softirq: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    hardirq: float = 0.0
    calls: list[tuple[float, str, str]] = field(default_factory=list)  # (seconds, task, what), waits included
    silent: tuple[float, float, str] = (0.0, 0.0, "")  # longest stretch without any event, not idle: from, to, task


def summarise(lines: list[str], lo: float, hi: float) -> dict[int, CpuWindow]:
    """Per CPU, the time each task held it in [lo, hi], its softirq and hard-irq time, and the
    system calls and faults that took 2 ms or more."""
    out: dict[int, CpuWindow] = defaultdict(CpuWindow)
    current: dict[int, tuple[str, float]] = {}
    soft: dict[int, tuple[str, float]] = {}
    hard: dict[int, float] = {}
    calls: dict[tuple[int, int], tuple[float, str, str]] = {}
    last: dict[int, float] = {}
    for raw in lines:
        m = LINE.match(raw)
        if not m:
            continue
        cpu, ts, event, rest = int(m["cpu"]), float(m["ts"]), m["event"], m["rest"]
        if ts > hi:
            break
        w = out[cpu]
        task = f"{m['task']}-{m['pid']}"
        if cpu in last and ts > lo and m["pid"] != "0" and ts - last[cpu] > w.silent[1] - w.silent[0]:
            w.silent = (last[cpu], ts, task)
        last[cpu] = ts
        if event == "sched_switch":
            prev = current.get(cpu)
            if prev and ts > lo:
                w.tasks[prev[0]] += ts - max(prev[1], lo)
            nxt = re.search(r"next_comm=(.*?) next_pid=(\d+)", rest)
            if nxt:
                current[cpu] = (f"{nxt[1]}-{nxt[2]}", ts)
        elif event == "softirq_entry":
            soft[cpu] = (rest.split("action=")[-1].strip("]"), ts)
        elif event == "softirq_exit" and cpu in soft:
            name, began = soft.pop(cpu)
            if ts > lo:
                w.softirq[name] += ts - max(began, lo)
        elif event == "irq_handler_entry":
            hard[cpu] = ts
        elif event == "irq_handler_exit" and cpu in hard:
            began = hard.pop(cpu)
            if ts > lo:
                w.hardirq += ts - max(began, lo)
        elif event in ("sys_enter", "page_fault_user", "page_fault_kernel"):
            if event == "sys_enter":
                calls[(cpu, int(m["pid"]))] = (ts, task, rest.split(",")[0])
            else:
                calls[(cpu, -int(m["pid"]))] = (ts, task, f"{event} {rest[:60]}")
        elif event == "sys_exit":
            began_call = calls.pop((cpu, int(m["pid"])), None)
            if began_call and ts > lo and ts - began_call[0] >= 0.002:
                w.calls.append((ts - began_call[0], began_call[1], began_call[2]))
    for cpu, (task, since) in current.items():
        if since < hi:
            out[cpu].tasks[task] += hi - max(since, lo)
    return out


def report(lines: list[str], lo: float, hi: float) -> str:
    text = [f"window {lo:.6f} .. {hi:.6f} ({(hi - lo) * 1000:.1f} ms)"]
    for cpu, w in sorted(summarise(lines, lo, hi).items()):
        top = sorted(w.tasks.items(), key=lambda kv: -kv[1])[:6]
        text.append(f"  cpu {cpu}: " + ", ".join(f"{t} {s * 1000:.1f} ms" for t, s in top))
        x, y, task = w.silent
        text.append(f"    longest silence (no event, not idle): {(y - x) * 1000:.1f} ms from {x:.6f}, {task}")
        soft = sorted(w.softirq.items(), key=lambda kv: -kv[1])
        text.append(
            f"    softirq {', '.join(f'{k} {v * 1000:.1f} ms' for k, v in soft)}; hard irq {w.hardirq * 1000:.1f} ms"
        )
        for secs, task, what in sorted(w.calls, reverse=True)[:5]:
            text.append(f"    call {secs * 1000:.1f} ms: {task} {what}")
    return "\n".join(text)


def catch(began: float, took: float, margin: float, out: Path, n: int) -> str:
    """Freeze the buffer, keep [began - margin, began + took + margin] as text, resume tracing."""
    _write("tracing_on", "0")
    lo, hi = began - margin, began + took + margin
    kept = []
    with open(TRACING / "trace", encoding="utf-8", errors="replace") as f:
        for raw in f:
            m = LINE.match(raw)
            if m and lo <= float(m["ts"]) <= hi:
                kept.append(raw)
    (out / f"hold-{n}.txt").write_text("".join(kept))
    _write("trace", "")
    _write("tracing_on", "1")
    return report(kept, began, began + took)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--stalls", type=Path, required=True, help="the samplers' ROLLPROOF_SAMPLER_STALLS file")
    p.add_argument("--out", type=Path, required=True, help="directory for each caught window's trace")
    p.add_argument("--min-ms", type=float, default=30.0, help="smallest overrun caught")
    p.add_argument("--buffer-kb", type=int, default=98304, help="ring buffer per CPU")
    p.add_argument("--seconds", type=float, default=3600.0)
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    args.stalls.touch()
    # stopped by Ctrl-C or kill (a background job of a script ignores SIGINT): either way tracing is undone
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    was = start(args.buffer_kb)
    caught, last = 0, 0.0
    try:
        with open(args.stalls, encoding="utf-8") as f:
            f.seek(0, os.SEEK_END)
            end = time.monotonic() + args.seconds
            while time.monotonic() < end:
                raw = f.readline()
                if not raw:
                    time.sleep(0.05)
                    continue
                m = STALL.match(raw)
                if not m or float(m["took"]) - float(m["asked"]) < args.min_ms or float(m["began"]) < last:
                    continue  # short, or a line of a window already caught
                time.sleep(0.3)  # let the other samplers' lines and the window's end reach the buffer
                caught += 1
                began, took = float(m["began"]), float(m["took"]) / 1000
                print(f"hold {caught}: {raw.strip()}", flush=True)
                print(catch(began, took, 0.2, args.out, caught), flush=True)
                last = began + took + 0.2
    except KeyboardInterrupt:
        pass
    finally:
        stop(was)
        print(f"{caught} hold(s) caught", flush=True)


if __name__ == "__main__":
    main()
