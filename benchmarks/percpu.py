"""One process per CPU of this machine, each running `target(cpu, *args)`; their results by CPU."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from typing import Any


def _run(target: Callable[..., Any], cpu: int, args: tuple[Any, ...], out: multiprocessing.Queue) -> None:
    out.put((cpu, target(cpu, *args)))


def per_cpu(target: Callable[..., Any], *args: Any) -> dict[int, Any]:
    """Start `target` on every CPU at once (it pins itself), wait for all, return {cpu: result}."""
    queue: multiprocessing.Queue = multiprocessing.Queue()
    procs = [
        multiprocessing.Process(target=_run, args=(target, cpu, args, queue)) for cpu in sorted(os.sched_getaffinity(0))
    ]
    for proc in procs:
        proc.start()
    results = dict(queue.get() for _ in procs)
    for proc in procs:
        proc.join()
    return results
