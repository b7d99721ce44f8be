"""Finding and removing leftovers: which API calls are made, on which paths (no cluster)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from harness import leftovers
from harness.errors import NotFound
from harness.leftovers import OWNER, TEST_LABEL, Leftover, find_leftovers, live_runs, remove_leftovers
from harness.owner import Owner, current_owner
from harness.timeouts import Timeouts

FAST = Timeouts(api_request=1.0, poll_interval=0.01, namespace_delete=1.0)


class Recorder:
    """Stands in for `call_api`: logs (method name, args, method, path, kwargs) and answers from `answers`."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, tuple[Any, ...], str, str, dict[str, Any]]] = []

    def __call__(self, fn: Any, *args: Any, method: str, path: str, timeout: float, **kwargs: Any) -> Any:
        assert timeout == FAST.api_request
        self.calls.append((fn, args, method, path, kwargs))
        answer = self.answers.get(fn, {})
        if isinstance(answer, list):
            answer = answer.pop(0) if len(answer) > 1 else answer[0]
        if isinstance(answer, BaseException):
            raise answer
        return answer


class Core:
    """A CoreV1Api whose methods are their own names (the recorder keys on them)."""

    def __getattr__(self, name: str) -> str:
        return name


def _gone_owner() -> str:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    me = current_owner()
    return Owner(me.host, proc.pid, me.start).token()


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    rec = Recorder({})
    monkeypatch.setattr(leftovers, "call_api", rec)
    return rec


def test_cluster_wide_search_lists_test_namespaces_then_owned_services(recorder: Recorder) -> None:
    gone = {OWNER: _gone_owner()}
    recorder.answers = {
        "list_namespace": {
            "items": [
                {"metadata": {"name": "rp-old", "labels": {TEST_LABEL: "true"}, "annotations": gone}},
                {
                    "metadata": {
                        "name": "rp-mine",
                        "labels": {TEST_LABEL: "true"},
                        "annotations": {OWNER: current_owner().token()},
                    }
                },
            ]
        },
        "list_service_for_all_namespaces": {
            "items": [
                {"metadata": {"name": "a", "namespace": "rp-old", "annotations": gone}},  # goes with its namespace
                {"metadata": {"name": "b", "namespace": "team", "annotations": gone}},
            ]
        },
    }
    found = find_leftovers(Core(), FAST)  # type: ignore[arg-type]
    assert [(f.kind, f.name, f.namespace, f.removable) for f in found] == [
        ("namespace", "rp-old", None, True),
        ("service", "b", "team", True),
    ]
    assert recorder.calls == [
        ("list_namespace", (), "GET", "/api/v1/namespaces", {"label_selector": TEST_LABEL}),
        ("list_service_for_all_namespaces", (), "GET", "/api/v1/services", {"label_selector": leftovers.OWNED}),
    ]


def test_search_in_one_namespace_lists_only_its_services(recorder: Recorder) -> None:
    recorder.answers = {"list_namespaced_service": {"items": [{"metadata": {"name": "web", "namespace": "team"}}]}}
    found = find_leftovers(Core(), FAST, "team")  # type: ignore[arg-type]
    assert [(f.kind, f.name, f.removable) for f in found] == [("service", "web", False)]
    assert recorder.calls == [
        (
            "list_namespaced_service",
            ("team",),
            "GET",
            "/api/v1/namespaces/team/services",
            {"label_selector": leftovers.OWNED},
        )
    ]


def test_live_runs_are_the_test_namespaces_of_running_owners(recorder: Recorder) -> None:
    me = current_owner()
    recorder.answers = {
        "list_namespace": {
            "items": [
                {"metadata": {"name": "rp-mine", "annotations": {OWNER: me.token()}}},
                {"metadata": {"name": "rp-old", "annotations": {OWNER: _gone_owner()}}},
            ]
        }
    }
    assert live_runs(Core(), FAST) == [(me, "rp-mine")]  # type: ignore[arg-type]
    assert recorder.calls == [("list_namespace", (), "GET", "/api/v1/namespaces", {"label_selector": TEST_LABEL})]


def test_removal_deletes_each_removable_one_then_reads_until_gone(
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    dropped: list[str] = []
    monkeypatch.setattr(leftovers, "_drop_own_finalizers", lambda core, name, timeouts: dropped.append(name))
    gone = NotFound(status=404, reason="NotFound", message="gone")
    recorder.answers = {
        "delete_namespaced_service": [gone, {}],
        "read_namespace": [{}, gone],
        "read_namespaced_service": [gone],
    }
    left = [
        Leftover("service", "vanished", "team", None, "", removable=True),
        Leftover("namespace", "rp-old", None, None, "", removable=True),
        Leftover("service", "web", "team", None, "", removable=True),
        Leftover("namespace", "rp-live", None, None, "", removable=False),
    ]
    remove_leftovers(Core(), left, FAST)  # type: ignore[arg-type]
    assert dropped == ["rp-old"]
    service = "/api/v1/namespaces/team/services"
    assert recorder.calls == [
        ("delete_namespaced_service", ("vanished", "team"), "DELETE", f"{service}/vanished", {}),
        ("delete_namespace", ("rp-old",), "DELETE", "/api/v1/namespaces/rp-old", {"grace_period_seconds": 0}),
        ("delete_namespaced_service", ("web", "team"), "DELETE", f"{service}/web", {}),
        ("read_namespace", ("rp-old",), "GET", "/api/v1/namespaces/rp-old", {}),
        ("read_namespaced_service", ("web", "team"), "GET", f"{service}/web", {}),
        ("read_namespace", ("rp-old",), "GET", "/api/v1/namespaces/rp-old", {}),
    ]
