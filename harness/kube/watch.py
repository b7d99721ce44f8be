"""List-then-watch recording on a thread: the one loop behind the rollout layer's
watchers (`harness.rollout.replicasets.ReplicaSetWatcher`,
`harness.rollout.podwatcher.PodWatcher`, `harness.rollout.rcupdate.trace.RcRecorder`)
and the data path's (`harness.datapath`).

`ListWatchRecorder` lists a collection, then watches it from the list's
resourceVersion (bookmarks on; relist on 410 Gone, whether the request or an
ERROR event says it), in windows of `timeouts.api_request` seconds, until
`stop()` or `max_duration`. The thread only records; an error ends it and is
raised by `stop()`. Connection failures and timeouts are retried three times in
a row (a poll interval apart) before they count as that error.

A subclass says which typed-client list call to make (`_list_call`, used both
for the list and, with the watch arguments, for the stream) and what to record
for the listed objects (`_on_list`) and for each event (`_on_event`); it records
through `_keep`, which holds the record count to `max_records`.
"""

from __future__ import annotations

import abc
import json
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from harness.errors import ApiError, ProviderError, WaitTimeout
from harness.kube.config import call_api, kube_errors
from harness.poll import poll
from harness.samples import clock
from harness.timeouts import Timeouts

__all__ = ["ListCall", "ListWatchRecorder"]

R = TypeVar("R")

_LISTED_POLL = 0.05
"""How often a starting watcher looks whether its first list is recorded."""

ListCall = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]
"""A typed-client list method, its positional and its keyword arguments (label selector...)."""


class ListWatchRecorder(abc.ABC, Generic[R]):
    """A stoppable thread recording `R`s from a list and a watch of one collection at `path` in `namespace`.

    `max_records` bounds the records (then `truncated` is set and recording
    stops); `max_duration` is how long the thread may run at most (None:
    `timeouts.probe_max_duration`); `server` labels connection errors;
    `thread_name` names the thread. `_what()` names the
    watcher and `noun` its records in a stop that times out ("pod watcher of ns
    (app=web) to stop ... thread alive with 12 events").
    """

    noun = "records"

    def __init__(
        self,
        *,
        path: str,
        thread_name: str,
        namespace: str,
        timeouts: Timeouts,
        max_records: int,
        max_duration: float | None,
        server: str = "",
    ) -> None:
        self.namespace = namespace
        self.max_records = max_records
        self.timeouts = timeouts
        self.max_duration = timeouts.probe_max_duration if max_duration is None else max_duration
        self.truncated = False
        self.expired = False
        """True when the thread ended at `max_duration` (recording stopped by itself)."""
        self.listed_at: float | None = None
        """When the first list was recorded (harness clock)."""
        self.stopped_at: float | None = None
        self.error: BaseException | None = None
        self._path = path
        self._server = server
        self._records: list[R] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._listed = threading.Event()
        self._resp: Any = None
        self._thread = threading.Thread(target=self._run, name=thread_name, daemon=True)

    # -- hooks

    @abc.abstractmethod
    def _list_call(self) -> ListCall:
        """The typed-client list call of the collection (the watch adds watch=True and the rest)."""

    @abc.abstractmethod
    def _on_list(self, items: list[dict[str, Any]]) -> None:
        """Record what a (re)list returned: every object currently in the collection."""

    @abc.abstractmethod
    def _on_event(self, kind: str, obj: dict[str, Any]) -> None:
        """Record one watch event: `kind` is "added", "modified" or "deleted"."""

    @abc.abstractmethod
    def _what(self) -> str:
        """This watcher in words, for a stop that times out."""

    # -- caller side

    def __exit__(self, *exc: object) -> None:
        self.stop(raise_error=exc[0] is None)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _records_copy(self) -> list[R]:
        with self._lock:
            return list(self._records)

    def _start(self, wait_listed: Callable[[], str] | None = None) -> None:
        """Start the thread once; with `wait_listed` (what the wait is called), return only
        when the first list is recorded or the thread ended (raising its error)."""
        if self._thread.ident is None:
            self._thread.start()
        if wait_listed is None:
            return

        def listed() -> tuple[bool, str]:
            if self._listed.is_set():
                return True, "listed"
            if not self._thread.is_alive():
                if self.error is not None:
                    raise self.error
                return True, "thread ended"
            return False, "no list recorded"

        poll(listed, waited_for=wait_listed(), timeout=self.timeouts.api_request, interval=_LISTED_POLL)

    def stop(self, timeout: float | None = None, *, raise_error: bool = True) -> list[R]:
        """Stop the thread (unblocking its read), wait for it, return the records."""
        if self.stopped_at is None:
            self.stopped_at = clock()
        self._stopping.set()
        resp = self._resp
        if resp is not None:
            try:
                resp.shutdown()  # urllib3 >= 2.3: unblocks a pending read
            except (AttributeError, ValueError, RuntimeError, OSError):
                pass
        wait = self.timeouts.api_request * 2 if timeout is None else timeout
        if self._thread.ident is not None:
            self._thread.join(wait)
            if self._thread.is_alive():
                raise WaitTimeout(
                    f"{self._what()} to stop", wait, f"thread alive with {len(self._records)} {self.noun}"
                )
        if raise_error and self.error is not None:
            raise self.error
        return self._records_copy()

    def evidence_problems(self, since: float, until: float) -> list[str]:
        """Why this watcher's record cannot be trusted over [since, until]: one line each."""
        what = self._what()
        out = []
        if self.listed_at is None:
            out.append(f"{what} never recorded its first list")
        elif self.listed_at > since:
            out.append(f"{what} recorded its first list {self.listed_at - since:.3f}s after the first change")
        if self.truncated:
            out.append(f"{what} stopped recording at its bound of records")
        if self.expired:
            out.append(f"{what} ended by itself at its max duration ({self.max_duration:.0f}s)")
        elif self.stopped_at is not None and self.stopped_at < until:
            out.append(f"{what} was stopped {until - self.stopped_at:.3f}s before the window ended")
        if self.error is not None:
            out.append(f"{what} failed: {self.error}")
        return out

    # -- thread side: records only

    def _keep(self, record: R) -> bool:
        """Append `record` unless `max_records` are kept already (then set `truncated`).
        Call with `_lock` held."""
        if len(self._records) >= self.max_records:
            self.truncated = True
            return False
        self._records.append(record)
        return True

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # noqa: BLE001 - the thread only records; stop() raises it
            if not self._stopping.is_set():
                self.error = exc
        finally:
            self._listed.set()

    def _relist(self) -> str:
        fn, args, kwargs = self._list_call()
        body = call_api(
            fn, *args, method="GET", path=self._path, timeout=self.timeouts.api_request, server=self._server, **kwargs
        )
        self._on_list(list(body.get("items") or []))
        if self.listed_at is None:
            self.listed_at = clock()
        self._listed.set()
        return str((body.get("metadata") or {}).get("resourceVersion", ""))

    def _loop(self) -> None:
        deadline = clock() + self.max_duration
        rv: str | None = None
        failures = 0
        while not self._stopping.is_set() and clock() < deadline:
            try:
                if rv is None:
                    rv = self._relist()
                window = max(1, min(int(self.timeouts.api_request), int(deadline - clock()) + 1))
                rv = self._watch_once(rv, window)
                failures = 0
            except ApiError as exc:
                if exc.status != 410:
                    raise
                rv = None  # too old: relist
            except (ProviderError, WaitTimeout):
                if self._stopping.is_set():
                    return
                failures += 1
                if failures > 3:
                    raise
                self._stopping.wait(self.timeouts.poll_interval)
        if not self._stopping.is_set():
            self.expired = True

    def _watch_once(self, rv: str, window: int) -> str | None:
        """One watch request; returns the resourceVersion to resume from (None: relist)."""
        path = f"{self._path}?watch=1"
        fn, args, kwargs = self._list_call()
        with kube_errors("GET", path, window + self.timeouts.api_request, self._server):
            resp: Any = fn(
                *args,
                **kwargs,
                watch=True,
                resource_version=rv,
                allow_watch_bookmarks=True,
                timeout_seconds=window,
                _preload_content=False,
                _request_timeout=(self.timeouts.api_request, window + self.timeouts.api_request),
            )
            self._resp = resp
            try:
                if self._stopping.is_set():
                    return rv
                for line in resp:
                    if self._stopping.is_set():
                        break
                    if not line.strip():
                        continue
                    event = json.loads(line)
                    etype, obj = event.get("type"), event.get("object") or {}
                    if etype == "ERROR":
                        if obj.get("code") == 410:
                            return None
                        raise ApiError(
                            status=int(obj.get("code") or 0),
                            reason=str(obj.get("reason", "")),
                            message=str(obj.get("message", "")),
                            body=obj,
                            method="GET",
                            path=path,
                        )
                    new_rv = (obj.get("metadata") or {}).get("resourceVersion")
                    if etype in ("ADDED", "MODIFIED", "DELETED"):
                        self._on_event(etype.lower(), obj)
                    if new_rv:
                        rv = str(new_rv)
            finally:
                self._resp = None
                resp.close()  # never hand a half-read stream back to the pool
        return rv
