"""When no CPU ran: the silences of each CPU's interrupts, intersected; the trace's parsing and its life."""

from __future__ import annotations

import gzip
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from harness import notrun
from harness.notrun import (
    InterruptTrace,
    NotRun,
    _Cpu,
    availability,
    ensure_tracefs,
    machine_silences,
    tick_period,
)

TICK = 0.004


def _r(intervals: object) -> list[tuple[float, float]]:
    return [(round(a, 6), round(b, 6)) for a, b in intervals]  # type: ignore[attr-defined]


def test_a_silence_counts_less_a_tick_at_either_end() -> None:
    """A running CPU ticks within a tick, so it may have run up to one after its last interrupt and
    before its next: 50 ms without one is 42 ms of nothing run."""
    assert _r(machine_silences([[(1.0, 1.05)]], TICK)) == [(1.004, 1.046)]
    assert machine_silences([[(1.0, 1.008)]], TICK) == ()  # no longer than two ticks: nothing known


def test_the_machine_ran_nothing_only_where_every_cpu_was_silent() -> None:
    cpu0 = [(1.0, 1.05), (2.0, 2.1)]
    cpu1 = [(1.02, 1.09), (2.2, 2.3)]  # 2.0-2.1 on CPU 0 alone: CPU 1 ran then
    assert _r(machine_silences([cpu0, cpu1], TICK)) == [(1.024, 1.046)]
    assert machine_silences([cpu0, []], TICK) == ()


def test_within_sums_the_overlap_of_a_gap_with_the_silences() -> None:
    idle = NotRun(intervals=((1.0, 1.03), (1.05, 1.06)), span=(0.0, 2.0), cpus=2, tick=TICK)
    assert idle.within(0.99, 1.055) == pytest.approx(0.035)
    assert idle.within(1.2, 1.4) == 0.0


def test_the_tick_is_read_from_the_kernel_config(tmp_path: Path) -> None:
    config = tmp_path / "config.gz"
    with gzip.open(config, "wt") as f:
        f.write("CONFIG_NO_HZ_IDLE=y\nCONFIG_HZ=250\n")
    assert tick_period(str(config)) == pytest.approx(0.004)
    assert tick_period(str(tmp_path / "absent.gz")) == 0.01  # HZ=100, the longest tick


def test_a_cpu_pipe_is_parsed_into_silences_and_lost_events_end_one(tmp_path: Path) -> None:
    """Lines as the kernel writes them (`per_cpu/cpuN/trace_pipe`); a task name may hold spaces or
    brackets; after lost events nothing is known until the next event, so no silence spans them."""
    lines = [
        b"          <idle>-0       [001] d.h1. 100.000000: local_timer_entry: vector=236",
        b"   my [odd] task-12      [001] d.h1. 100.050000: reschedule_entry: vector=253",
        b"CPU:1 [LOST 7 EVENTS]",
        b"          <idle>-0       [001] d.h1. 100.300000: irq_handler_entry: irq=11 name=virtio0",
        b"          <idle>-0       [001] d.h1. 100.302000: call_function_single_entry: vector=251",
        b"          <idle>-0       [001] d.h1. 100.400000: local_timer_entry: vector=236",
    ]
    path = tmp_path / "pipe"
    path.write_bytes(b"\n".join(lines) + b"\n")
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        cpu = _Cpu(fd, started=99.9)
        cpu.read(2 * TICK)
    finally:
        os.close(fd)
    assert _r(cpu.silences) == [(99.9, 100.0), (100.0, 100.05), (100.302, 100.4)]
    assert cpu.lost == 7


def test_without_tracefs_the_trace_says_why_and_changes_nothing(tmp_path: Path) -> None:
    trace = InterruptTrace(root=str(tmp_path / "absent"), tick=TICK).start()
    result = trace.stop()
    assert (
        result.intervals == ()
        and result.unavailable == f"no tracefs at {tmp_path / 'absent'} (a kernel built without it)"
    )
    assert result.unavailable in result.describe()


def _mount(made: list[list[str]], *, fails: str = "", instances: bool = True) -> Any:
    """A stand-in for subprocess.run of `mount`: records the command, makes instances/ or fails."""

    def run(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        made.append(cmd)
        if fails:
            raise subprocess.CalledProcessError(32, cmd, "", fails)
        if instances:
            os.mkdir(f"{cmd[-1]}/instances")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    return run


def test_root_mounts_tracefs_where_the_boot_did_not(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bare machine's /sys/kernel/tracing can be an empty mount point (this machine's after a bare restart,
    nineteenth session): as root the trace mounts tracefs there and says so; an existing mount is left alone."""
    made: list[list[str]] = []
    monkeypatch.setattr(notrun.os, "geteuid", lambda: 0)
    monkeypatch.setattr(notrun.subprocess, "run", _mount(made))
    assert ensure_tracefs(str(tmp_path)) == (True, f"tracefs mounted at {tmp_path}")
    assert made == [["mount", "-t", "tracefs", "tracefs", str(tmp_path)]]
    assert ensure_tracefs(str(tmp_path)) == (True, "") and len(made) == 1
    assert availability(str(tmp_path)).startswith("interrupt trace per Service probed")


def test_without_a_mount_the_trace_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[list[str]] = []
    monkeypatch.setattr(notrun.subprocess, "run", _mount(made, fails="mount: permission denied"))
    monkeypatch.setattr(notrun.os, "geteuid", lambda: 1000)
    usable, note = ensure_tracefs(str(tmp_path))
    assert (
        not usable
        and note == f"tracefs is not mounted at {tmp_path}: run as root to mount it and tell holds of the machine apart"
    )
    assert made == [] and availability(str(tmp_path)) == f"no interrupt trace ({note})"
    monkeypatch.setattr(notrun.os, "geteuid", lambda: 0)
    assert ensure_tracefs(str(tmp_path)) == (False, f"mounting tracefs at {tmp_path} failed: mount: permission denied")
    monkeypatch.setattr(notrun.subprocess, "run", _mount(made, instances=False))
    assert ensure_tracefs(str(tmp_path)) == (
        False,
        f"tracefs mounted at {tmp_path} has no instances/ (a kernel without trace instances)",
    )
    trace = InterruptTrace(root=str(tmp_path), tick=TICK).start()
    assert trace.stop().unavailable.endswith("has no instances/ (a kernel without trace instances)")


_TRACEFS_USABLE, _TRACEFS_NOTE = ensure_tracefs()


@pytest.mark.skipif(not _TRACEFS_USABLE, reason=_TRACEFS_NOTE)
def test_a_busy_machine_is_never_found_not_running() -> None:
    """The case that must stay refused: a sampler held while the machine runs. A busy loop here keeps a
    CPU running for 0.5 s (it ticks every 1/HZ), so no time in which it ran may be found as time no CPU
    ran: an interval may only lie where the loop itself saw its clock jump (its CPU not run: the host
    holding this virtual machine, README finding 25; clean-clone run J had one of 0.18 ms). The trace
    saw every CPU and leaves no instance behind."""
    jumps = []  # (before, after) of each pair of the loop's clock readings over 50 us apart
    trace = InterruptTrace().start()
    try:
        now = time.monotonic()
        end = now + 0.5
        while now < end:
            before, now = now, time.monotonic()
            if now - before > 50e-6:
                jumps.append((before, now))
    finally:
        result = trace.stop()
    assert result.unavailable == ""
    assert result.cpus == len(os.sched_getaffinity(0)) or result.cpus >= 1
    assert result.span is not None and result.span[1] - result.span[0] >= 0.5
    ran = [(a, b) for a, b in result.intervals if not any(j0 <= a and b <= j1 for j0, j1 in jumps)]
    assert ran == [], f"time credited while the busy loop ran: {ran}; the loop's own jumps: {jumps}"
    assert not os.path.exists(trace.path)
    assert trace.stop() is result  # stopping again changes nothing


def test_cpus_that_do_not_tick_while_running_make_silence_prove_nothing(tmp_path: Path) -> None:
    """On a `nohz_full` kernel a CPU running one task takes no tick: no trace is kept at all."""
    result = InterruptTrace(root=str(tmp_path), tick=TICK, tickless="1-3").start().stop()
    assert result.intervals == () and "nohz_full" in result.unavailable
    assert not os.listdir(tmp_path)  # nothing was created


def test_a_pipe_that_cannot_be_read_leaves_no_trace_rather_than_a_false_silence(tmp_path: Path) -> None:
    """An error reading a CPU's pipe would make everything after it look silent: the whole trace is
    then unavailable, and says why."""
    fd = os.open(tmp_path, os.O_RDONLY)  # a directory: read() fails with EISDIR
    trace = InterruptTrace(root=str(tmp_path), tick=TICK, tickless="")
    trace._started = 1.0
    trace._cpus = [_Cpu(fd, started=1.0)]
    result = trace.stop()
    assert result.intervals == () and result.unavailable.startswith("reading the trace failed (CPU 0: ")


def test_the_last_line_read_at_stop_counts_even_without_its_newline(tmp_path: Path) -> None:
    """An event left out would stretch a silence over it: the stop takes in a last unterminated line."""
    path = tmp_path / "pipe"
    path.write_bytes(
        b"  <idle>-0  [000] d.h1. 100.000000: local_timer_entry: vector=236\n  <idle>-0  [000] d.h1. 100.2"
    )
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        cpu = _Cpu(fd, started=100.0)
        cpu.read(2 * TICK)
        assert cpu.rest and cpu.last == 100.0
        path.write_bytes(path.read_bytes() + b"00000: reschedule_entry: vector=253")
        cpu.read(2 * TICK, final=True)
    finally:
        os.close(fd)
    assert _r(cpu.silences) == [(100.0, 100.2)] and cpu.rest == b""


def test_the_session_header_says_whether_holds_can_be_told_apart(tmp_path: Path) -> None:
    line = availability(root=str(tmp_path / "absent"))
    assert line == f"no interrupt trace (no tracefs at {tmp_path / 'absent'} (a kernel built without it))"
    (tmp_path / "instances").mkdir()
    assert availability(root=str(tmp_path)).startswith("interrupt trace per Service probed (tick ")
