"""SIGTERM and SIGHUP end a run the way Ctrl-C does: with the same teardown.

`install()` makes SIGTERM and SIGHUP raise `Interrupted` (a `KeyboardInterrupt`)
in the main thread, so every `finally`, fixture teardown and atexit handler runs
as it does for SIGINT: test namespaces deleted, probers stopped, a cluster this
run created deleted, private files removed. A second signal while that teardown
runs is announced and ignored (SIGKILL abandons the teardown; the next run
removes what was left). `received()` names the signal that ended the run.
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import Callable

__all__ = ["Interrupted", "install", "received", "note", "reset", "exit_status", "HANDLED"]

HANDLED = tuple(s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s is not None)

_state: dict[str, int | None] = {"signum": None}


class Interrupted(KeyboardInterrupt):
    """The run was asked to stop by a signal other than SIGINT."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(signal.Signals(signum).name)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def note(signum: int) -> None:
    """Record that the run is being interrupted by `signum` (SIGINT arrives as KeyboardInterrupt)."""
    if _state["signum"] is None:
        _state["signum"] = signum


def received() -> str | None:
    """ "SIGTERM", "SIGHUP", "SIGINT" once the run was interrupted, else None."""
    signum = _state["signum"]
    return signal.Signals(signum).name if signum is not None else None


def exit_status(default: int = 130) -> int:
    """128 + the signal's number, as a shell reports a process ended by it."""
    signum = _state["signum"]
    return 128 + signum if signum is not None else default


def install(announce: Callable[[str], None] = _stderr) -> Callable[[], None]:
    """Handle SIGTERM and SIGHUP like Ctrl-C; returns a function that restores the previous handlers.

    Does nothing (and restores nothing) outside the main thread, where Python cannot set handlers.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum: int, frame: object) -> None:
        name = signal.Signals(signum).name
        if _state["signum"] is None:
            _state["signum"] = signum
            announce(
                f"rollproof: {name} received: tearing down as for Ctrl-C "
                "(test namespaces, probers, a cluster this run created, private files)"
            )
            raise Interrupted(signum)
        announce(
            f"rollproof: {name} again: still tearing down; SIGKILL abandons it (the next run removes what is left)"
        )

    previous = {s: signal.getsignal(s) for s in HANDLED}
    for s in HANDLED:
        signal.signal(s, handler)

    def restore() -> None:
        for s, old in previous.items():
            signal.signal(s, old if old is not None else signal.SIG_DFL)

    return restore


def reset() -> None:
    """Forget a received signal (tests, and a process that runs several sessions)."""
    _state["signum"] = None
