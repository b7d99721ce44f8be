"""Steal time: the parser, the record's arithmetic, and the gap text it adds."""

from __future__ import annotations

import os
import time
from typing import Any

from harness.analysis import analyse
from harness.procstat import cpu_steal
from harness.samples import ProbeRun, ProbeSample
from harness.steal import StealRecord, StealRecorder, explain_stolen

TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


def write_stat(path: Any, steal: list[int]) -> None:
    """A /proc/stat with `steal` clock ticks stolen from each CPU."""
    rows = [f"cpu  10 0 10 100 0 0 0 {sum(steal)} 0 0"]
    rows += [f"cpu{n}  5 0 5 50 0 0 0 {ticks} 0 0" for n, ticks in enumerate(steal)]
    path.write_text("\n".join(rows) + "\nintr 1 2 3\n")


def test_cpu_steal_reads_the_eighth_value_of_each_cpu_row(tmp_path: Any) -> None:
    write_stat(tmp_path / "stat", [3, 10])
    fd = os.open(tmp_path / "stat", os.O_RDONLY)
    try:
        assert cpu_steal(fd) == [3 * TICK_MS / 1000, 10 * TICK_MS / 1000]
    finally:
        os.close(fd)


def test_stolen_between_two_instants_counts_the_reading_just_after_the_end() -> None:
    record = StealRecord(((0.0, (1.0, 2.0)), (5.13, (1.1, 2.0)), (9.0, (1.1, 2.0))), interval=0.02)
    stolen = record.stolen(5.0, 5.10)
    assert stolen is not None and round(stolen[0], 6) == 0.1 and stolen[1] == 0.0
    assert record.stolen(6.0, 7.0) == (0.0, 0.0)
    assert record.stolen(-1.0, 1.0) is None  # before the first reading: not covered
    assert StealRecord((), 0.02).stolen(0.0, 1.0) is None


def test_a_recorder_on_this_machine_records_a_first_and_a_last_reading(tmp_path: Any) -> None:
    write_stat(tmp_path / "stat", [0, 0])
    recorder = StealRecorder(str(tmp_path / "stat"), interval=0.005).start()
    time.sleep(0.02)
    write_stat(tmp_path / "stat", [0, 4])
    time.sleep(0.03)
    record = recorder.stop()
    assert record.readings[0][1] == (0.0, 0.0)
    assert record.readings[-1][1] == (0.0, 4 * TICK_MS / 1000)
    assert StealRecorder(str(tmp_path / "absent")).start().stop().readings == ()


def _held_run() -> ProbeRun:
    """A sampler at 2 ms whose ticks stop from +5.000 to +5.102 s (held), then go on."""
    starts = [i * 0.002 for i in range(2501)] + [5.102 + i * 0.002 for i in range(500)]
    samples = tuple(ProbeSample(t, t + 0.0005, 200, server="nginx/1.22.1") for t in starts)
    return ProbeRun("new-connection", "test", 0.002, 0.0, 6.2, "stopped", samples, requests=len(samples))


def test_a_held_gap_while_a_cpu_was_stolen_says_so_and_stays_a_problem() -> None:
    a = analyse(_held_run(), phases=[], window=(0.0, 6.1))
    assert not a.passed and any("held on this host" in p.text for p in a.problems)
    record = StealRecord(((0.0, (0.0, 0.0)), (5.11, (0.1, 0.0)), (6.2, (0.1, 0.0))), interval=0.02)
    (b,) = explain_stolen([a], record)
    text = next(p.text for p in b.problems if "held on this host" in p.text)
    assert text.endswith(
        "; meanwhile the hypervisor did not run CPU 0 for 100 ms (steal time), not CPU 1: a sampler held on a "
        "CPU that was run was held by something of this machine (work ahead of it, or a lock held on a CPU "
        "not run; README finding 39)"
    )
    assert not b.passed
    both = StealRecord(((0.0, (0.0, 0.0)), (5.11, (0.1, 0.09)), (6.2, (0.1, 0.09))), interval=0.02)
    (d,) = explain_stolen([a], both)
    assert next(p.text for p in d.problems if "held on this host" in p.text).endswith(
        "; meanwhile the hypervisor did not run CPU 0 for 100 ms, CPU 1 for 90 ms (steal time): the virtual "
        "machine itself was not run (README finding 14)"
    )
    # nothing stolen: the text is left as it was
    (c,) = explain_stolen([a], StealRecord(((0.0, (0.0, 0.0)), (6.2, (0.0, 0.0))), interval=0.02))
    assert c.problems == a.problems


def _timers(silent: tuple[float, float] | None, rate: float = 1000.0) -> tuple[tuple[float, tuple[int, int]], ...]:
    """LOC readings every 10 ms from 0 to 6.2 s at `rate` per CPU, none taken inside `silent`."""
    out, counts, t = [], [0, 0], 0.0
    while t <= 6.2:
        out.append((round(t, 3), (counts[0], counts[1])))
        t += 0.01
        if silent is None or not silent[0] <= t <= silent[1]:
            counts = [c + int(rate * 0.01) for c in counts]
    return tuple(out)


def test_timer_interrupts_span_the_readings_around_a_gap_and_the_usual_rate_is_the_median() -> None:
    record = StealRecord(((0.0, (0.0, 0.0)),), 0.01, _timers((5.0, 5.1)))
    counted = record.timer_interrupts(5.0, 5.1)
    assert counted is not None
    counts, span = counted
    assert counts == (0, 0) and round(span, 3) == 0.1
    assert [round(r) for r in record.usual_timer_rate()] == [1000, 1000]
    assert record.timer_interrupts(-1.0, 1.0) is None  # before the first reading: not covered
    assert StealRecord((), 0.01).usual_timer_rate() == ()


def test_a_held_gap_while_one_cpu_was_stolen_and_the_other_ran_says_what_the_other_took() -> None:
    """Clean-clone run B (twentieth session): CPU 0 stolen 40 ms, and the witness on CPU 1 held too
    while CPU 1 took its timer interrupts; the whole machine was not stopped, and the text says so."""
    a = analyse(_held_run(), phases=[], window=(0.0, 6.1))
    record = StealRecord(((0.0, (0.0, 0.0)), (5.11, (0.1, 0.0)), (6.2, (0.1, 0.0))), 0.01, _timers(None))
    (b,) = explain_stolen([a], record)
    text = next(p.text for p in b.problems if "held on this host" in p.text)
    assert (
        "; meanwhile the hypervisor did not run CPU 0 for 100 ms (steal time), while CPU 1 took 110 timer "
        "interrupts (usually 110) over 110 ms: a sampler held on a CPU that was run was held by something of "
        "this machine" in text
    ), text
    assert not b.passed


def test_a_held_gap_while_neither_cpu_took_its_timer_interrupts_says_the_machine_was_not_run() -> None:
    a = analyse(_held_run(), phases=[], window=(0.0, 6.1))
    nothing_stolen = ((0.0, (0.0, 0.0)), (6.2, (0.0, 0.0)))
    (b,) = explain_stolen([a], StealRecord(nothing_stolen, 0.01, _timers((5.0, 5.1))))
    text = next(p.text for p in b.problems if "held on this host" in p.text)
    assert "meanwhile CPU 0 10 and CPU 1 10 timer interrupts over 110 ms (usually 110 and 110)" in text
    assert text.endswith(
        "the virtual machine was not run for most of that time, unannounced by its host (README finding 25)"
    )
    assert not b.passed
    # the CPUs kept taking their interrupts: nothing is added
    (c,) = explain_stolen([a], StealRecord(nothing_stolen, 0.01, _timers(None)))
    assert c.problems == a.problems
