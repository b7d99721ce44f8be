"""The list-then-watch loop without a cluster: a scripted fake of a typed-client list method
stands in for the API server (lists, watch streams, errors)."""

from __future__ import annotations

import json
import threading
from typing import Any

import kubernetes.client
import pytest
import urllib3
from kubernetes.client.exceptions import ApiException

from harness.errors import ApiError, ProviderError, WaitTimeout
from harness.kube.watch import ListCall, ListWatchRecorder
from harness.rollout.pods import REVISION_LABEL
from harness.rollout.podwatcher import PodWatcher
from harness.rollout.replicasets import ReplicaSetWatcher
from harness.timeouts import Timeouts

FAST = Timeouts(api_request=2.0, poll_interval=0.01)


class _Listed:
    """What call_api reads from a list response."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.data = json.dumps(body).encode()
        self.status = 200

    def release_conn(self) -> None:
        pass


class _Stream:
    """A watch response: its lines, then (with `hang`) a read that blocks until shutdown()
    or the end of the watch window, as the server ends it."""

    def __init__(self, lines: list[str], hang: bool, window: float = 10.0) -> None:
        self.lines = lines
        self.hang = hang
        self.window = window
        self.closed = False
        self._shut = threading.Event()

    def __iter__(self) -> Any:
        yield from self.lines
        if self.hang:
            self._shut.wait(self.window)

    def shutdown(self) -> None:
        self._shut.set()

    def close(self) -> None:
        self.closed = True


class FakeApi:
    """A typed-client list method answering from a script: one entry per call, in order.

    An entry is a dict (a list body), a list of event dicts / raw lines (a watch stream)
    or an exception (raised by the call). Once the script is used up, every watch
    hangs until stopped."""

    def __init__(self, *script: Any) -> None:
        self.script = list(script)
        self.calls: list[dict[str, Any]] = []
        self.streams: list[_Stream] = []
        self.done = threading.Event()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append({"args": args, **kwargs})
        if not self.script:
            self.done.set()
            assert kwargs.get("watch"), "a list after the script ended"
            stream = _Stream([], hang=True, window=kwargs["timeout_seconds"])
            self.streams.append(stream)
            return stream
        entry = self.script.pop(0)
        if isinstance(entry, BaseException):
            raise entry
        if isinstance(entry, dict):
            assert not kwargs.get("watch"), f"script gave a list body to a watch: {entry}"
            return _Listed(entry)
        assert kwargs.get("watch"), f"script gave a stream to a list: {entry}"
        stream = _Stream([e if isinstance(e, str) else json.dumps(e) for e in entry], hang=False)
        self.streams.append(stream)
        return stream

    def kinds(self) -> list[str]:
        return ["watch" if c.get("watch") else "list" for c in self.calls]

    def watch_rvs(self) -> list[str]:
        return [c["resource_version"] for c in self.calls if c.get("watch")]


class Recorder(ListWatchRecorder[tuple[str, str]]):
    """The smallest subclass: records (kind, name) of every object."""

    noun = "names"

    def __init__(self, api: FakeApi, *, limit: int = 1000, max_duration: float = 30.0) -> None:
        super().__init__(
            path="/api/v1/namespaces/ns/things",
            thread_name="test-watch",
            namespace="ns",
            timeouts=FAST,
            max_records=limit,
            max_duration=max_duration,
        )
        self.api = api

    def _what(self) -> str:
        return "test recorder"

    def _list_call(self) -> ListCall:
        return self.api, ("ns",), {"label_selector": "app=web"}

    def _on_list(self, items: list[dict[str, Any]]) -> None:
        for obj in items:
            self._add("listed", obj)

    def _on_event(self, kind: str, obj: dict[str, Any]) -> None:
        self._add(kind, obj)

    def _add(self, kind: str, obj: dict[str, Any]) -> None:
        with self._lock:
            self._keep((kind, obj["metadata"]["name"]))


def listed(rv: str, *names: str) -> dict[str, Any]:
    return {"metadata": {"resourceVersion": rv}, "items": [{"metadata": {"name": n}} for n in names]}


def event(etype: str, name: str, rv: str) -> dict[str, Any]:
    return {"type": etype, "object": {"metadata": {"name": name, "resourceVersion": rv}}}


def bookmark(rv: str) -> dict[str, Any]:
    return {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": rv}}}


def gone_event() -> dict[str, Any]:
    return {"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"}}


def run_until_done(rec: Any, api: FakeApi) -> Any:
    rec._start()
    assert api.done.wait(5), f"the script was not used up: calls {api.kinds()}"
    return rec.stop()


def test_lists_then_watches_from_the_list_and_resumes_from_the_last_version() -> None:
    api = FakeApi(
        listed("10", "a", "b"),
        [event("ADDED", "c", "11"), "", event("MODIFIED", "a", "12"), bookmark("15")],
        [event("DELETED", "b", "16")],
    )
    rec = Recorder(api)
    records = run_until_done(rec, api)
    assert records == [("listed", "a"), ("listed", "b"), ("added", "c"), ("modified", "a"), ("deleted", "b")]
    assert api.kinds() == ["list", "watch", "watch", "watch"]
    assert api.watch_rvs() == ["10", "15", "16"]  # the bookmark moved the resume point
    first_watch = api.calls[1]
    assert first_watch["args"] == ("ns",)
    assert first_watch["label_selector"] == "app=web"
    assert first_watch["allow_watch_bookmarks"] is True
    assert first_watch["_preload_content"] is False
    assert first_watch["timeout_seconds"] == 2
    assert first_watch["_request_timeout"] == (2.0, 4.0)
    assert api.calls[0]["label_selector"] == "app=web" and not api.calls[0].get("watch")
    assert all(s.closed for s in api.streams)  # every stream closed, the hung one too
    assert rec.error is None and not rec.running and not rec.truncated


def test_relists_on_a_410_event_and_on_a_410_answer() -> None:
    gone = ApiException(status=410, reason="Gone")
    gone.body = json.dumps({"kind": "Status", "code": 410, "reason": "Expired"})
    api = FakeApi(
        listed("10", "a"),
        [event("ADDED", "b", "11"), gone_event(), event("ADDED", "never", "12")],
        listed("20", "a", "b"),
        gone,
        listed("30", "a"),
    )
    records = run_until_done(Recorder(api), api)
    assert api.kinds() == ["list", "watch", "list", "watch", "list", "watch"]
    assert api.watch_rvs() == ["10", "20", "30"]
    assert ("added", "never") not in records  # nothing read after the 410
    assert records == [("listed", "a"), ("added", "b"), ("listed", "a"), ("listed", "b"), ("listed", "a")]


def test_an_error_event_ends_the_thread_and_stop_raises_it() -> None:
    api = FakeApi(
        listed("10", "a"),
        [
            {
                "type": "ERROR",
                "object": {"kind": "Status", "code": 500, "reason": "InternalError", "message": "etcd down"},
            }
        ],
    )
    rec = Recorder(api)
    rec._start()
    rec._thread.join(5)
    assert not rec.running
    assert isinstance(rec.error, ApiError)
    assert (rec.error.status, rec.error.reason) == (500, "InternalError")
    assert rec.error.path == "/api/v1/namespaces/ns/things?watch=1"
    assert rec.stop(raise_error=False) == [("listed", "a")]
    with pytest.raises(ApiError, match="etcd down"):
        rec.stop()


def test_other_api_errors_are_not_retried() -> None:
    refused = ApiException(status=403, reason="Forbidden")
    refused.body = json.dumps({"kind": "Status", "code": 403, "reason": "Forbidden", "message": "no list"})
    api = FakeApi(refused)
    rec = Recorder(api)
    rec._start()
    rec._thread.join(5)
    assert api.kinds() == ["list"]
    with pytest.raises(ApiError) as caught:
        rec.stop()
    assert caught.value.status == 403


def _unreachable() -> urllib3.exceptions.MaxRetryError:
    return urllib3.exceptions.MaxRetryError(None, "/api", urllib3.exceptions.ProtocolError("refused"))  # type: ignore[arg-type]


def test_connection_failures_are_retried_three_times_in_a_row() -> None:
    api = FakeApi(listed("10", "a"), _unreachable(), _unreachable(), _unreachable(), [event("ADDED", "b", "11")])
    records = run_until_done(Recorder(api), api)
    assert records == [("listed", "a"), ("added", "b")]
    assert api.watch_rvs() == ["10", "10", "10", "10", "11"]  # retried from where it was, no relist

    api = FakeApi(listed("10", "a"), *[_unreachable() for _ in range(4)])
    rec = Recorder(api)
    rec._start()
    rec._thread.join(5)
    assert not rec.running
    with pytest.raises(ProviderError, match="cannot reach the API server"):
        rec.stop()


def test_max_duration_ends_the_thread_by_itself() -> None:
    api = FakeApi(listed("10", "a"), [event("ADDED", "b", "11")])
    rec = Recorder(api, max_duration=0.2)
    rec._start()
    rec._thread.join(5)  # the watch window is cut to 1 s; then the deadline has passed
    assert not rec.running
    assert rec.stop() == [("listed", "a"), ("added", "b")]
    assert rec.error is None
    assert [c["timeout_seconds"] for c in api.calls if c.get("watch")][0] == 1  # window cut to the deadline


def test_records_are_bounded() -> None:
    api = FakeApi(listed("10", "a", "b", "c"))
    rec = Recorder(api, limit=2)
    assert run_until_done(rec, api) == [("listed", "a"), ("listed", "b")]
    assert rec.truncated


def test_stop_that_times_out_says_what_and_how_many() -> None:
    api = FakeApi(listed("10", "a"))
    rec = Recorder(api)
    rec.timeouts = Timeouts(api_request=10.0, poll_interval=0.01)  # a window longer than the test
    rec._start()
    assert api.done.wait(5)
    stream = api.streams[-1]
    stream.shutdown = lambda: None  # type: ignore[method-assign]  # a read that does not unblock
    with pytest.raises(WaitTimeout, match="test recorder to stop") as caught:
        rec.stop(timeout=0.1)
    assert caught.value.last_seen == "thread alive with 1 names"
    stream._shut.set()
    assert rec.stop() == [("listed", "a")]


def test_start_can_wait_for_the_first_list() -> None:
    api = FakeApi(listed("10", "a"))
    rec = Recorder(api)
    rec._start(lambda: "the first list")
    assert rec._records_copy() == [("listed", "a")]  # recorded before _start returned
    rec.stop()

    failing = ApiException(status=403, reason="Forbidden")
    failing.body = "{}"
    rec = Recorder(FakeApi(failing))
    rec._start(lambda: "the first list")  # the thread ended: no timeout; its error is stop()'s
    assert not rec.running
    assert isinstance(rec.error, ApiError)
    with pytest.raises(ApiError):
        rec.stop()


# --------------------------------------------------------------------------- the two watchers on the loop


def _pod(name: str, uid: str, rv: str, ready: bool = True) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "uid": uid,
            "resourceVersion": rv,
            "labels": {"app": "web", REVISION_LABEL: "web-1"},
        },
        "spec": {"containers": [{"image": "nginx"}], "nodeName": "n1"},
        "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


def test_pod_watcher_records_vanished_pods_as_deleted_on_relist() -> None:
    client = kubernetes.client.ApiClient()
    try:
        w = PodWatcher(client, "ns", {"app": "web"}, timeouts=FAST)
        api = FakeApi(
            {"metadata": {"resourceVersion": "10"}, "items": [_pod("web-0", "u0", "9"), _pod("web-1", "u1", "9")]},
            [{"type": "MODIFIED", "object": _pod("web-0", "u0", "11", ready=False)}, gone_event()],
            {"metadata": {"resourceVersion": "20"}, "items": [_pod("web-0", "u0", "11", ready=False)]},
        )
        w._core = type("Core", (), {"list_namespaced_pod": staticmethod(api)})()
        w.start()  # waits for the first list
        assert [(e.kind, e.pod.name) for e in w.events][:2] == [("listed", "web-0"), ("listed", "web-1")]
        assert api.done.wait(5)
        events = w.stop()
        assert [(e.kind, e.pod.name, e.pod.ready) for e in events] == [
            ("listed", "web-0", True),
            ("listed", "web-1", True),
            ("modified", "web-0", False),
            ("deleted", "web-1", True),  # gone while the watch was expired
        ]  # web-0 unchanged in the relist: not recorded again
        assert events[0].t == events[1].t
        assert api.calls[0]["label_selector"] == "app=web"
        assert not w.running
    finally:
        client.close()  # type: ignore[no-untyped-call]


def _rs(name: str, owner: str, replicas: int, rv: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "resourceVersion": rv,
            "annotations": {"deployment.kubernetes.io/revision": "1"},
            "ownerReferences": [{"kind": "Deployment", "name": owner, "controller": True}],
        },
        "spec": {"replicas": replicas},
        "status": {"readyReplicas": replicas, "availableReplicas": replicas},
    }


def test_replicaset_watcher_records_its_deployments_replicasets_through_the_loop() -> None:
    client = kubernetes.client.ApiClient()
    try:
        w = ReplicaSetWatcher(client, "ns", "web", timeouts=FAST, server="https://127.0.0.1:6443")
        api = FakeApi(
            {"metadata": {"resourceVersion": "10"}, "items": [_rs("web-1", "web", 2, "9"), _rs("db-1", "db", 1, "9")]},
            [
                {"type": "MODIFIED", "object": _rs("web-1", "web", 3, "11")},
                {"type": "DELETED", "object": _rs("web-1", "web", 3, "12")},
            ],
        )
        w._apps = type("Apps", (), {"list_namespaced_replica_set": staticmethod(api)})()
        with w:
            assert api.done.wait(5)
        assert [(p.owner, p.replicas, p.ready) for p in w.points] == [("web-1", 2, 2), ("web-1", 3, 3), ("web-1", 0, 0)]
        assert api.calls[0]["args"] == ("ns",) and "label_selector" not in api.calls[0]
        assert api.watch_rvs()[:2] == ["10", "12"]
        assert not w.running
    finally:
        client.close()  # type: ignore[no-untyped-call]


def test_watchers_name_themselves_in_a_stop_that_times_out() -> None:
    client = kubernetes.client.ApiClient()
    try:
        for w, what, noun in (
            (
                PodWatcher(client, "ns", {"app": "web", "tier": "x"}, timeouts=FAST),
                "pod watcher of ns (app=web,tier=x) to stop",
                "0 events",
            ),
            (ReplicaSetWatcher(client, "ns", "web", timeouts=FAST), "ReplicaSet watcher of ns/web to stop", "0 points"),
        ):
            release = threading.Event()
            w._thread = threading.Thread(target=release.wait, args=(5,), daemon=True)
            w._thread.start()
            with pytest.raises(WaitTimeout) as caught:
                w.stop(timeout=0.05)
            assert what in str(caught.value)
            assert caught.value.last_seen == f"thread alive with {noun}"
            release.set()
            w._thread.join(5)
    finally:
        client.close()  # type: ignore[no-untyped-call]
