"""Timeline pictures drawn off a test's critical path.

A scenario's picture (0.5-1.8 s of drawing) is handed to one worker thread when its report is
written; the next test's set-up (namespace, workload, pods starting) runs meanwhile. Nothing is
drawn while samplers probe: `ProbedService` waits for the drawing before it starts its samplers,
so the harness's watchers are not kept from the interpreter while they timestamp the data path.
The session waits for the last picture at its end, and a picture that could not be drawn fails
the session there (`pytest_sessionfinish`), as it failed its test's report before.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

__all__ = ["PictureDrawer", "DRAWER"]


class PictureDrawer:
    """Draws pictures one at a time on a worker thread; `wait` for them, `finish` to collect failures."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._pending: list[tuple[Path, Future[object]]] = []
        self._lock = threading.Lock()

    def submit(self, path: Path, draw: Callable[[], object]) -> None:
        """Draw `path` with `draw` on the worker thread."""
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="picture")
            self._pending.append((path, self._pool.submit(draw)))

    def wait(self) -> None:
        """Return once every picture submitted so far is drawn (or has failed)."""
        with self._lock:
            pending = [f for _, f in self._pending]
        for future in pending:
            future.exception()

    def finish(self) -> list[str]:
        """Wait for every picture; one line per picture that could not be drawn, and forget them."""
        self.wait()
        with self._lock:
            done, self._pending = self._pending, []
        return [
            f"picture {path} not drawn: {type(exc).__name__}: {exc}"
            for path, future in done
            if (exc := future.exception()) is not None
        ]


DRAWER = PictureDrawer()
"""The session's drawer (tests run one at a time in a pytest process)."""
