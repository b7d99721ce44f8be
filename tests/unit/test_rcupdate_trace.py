"""The pure side of `harness.rollout.rcupdate.trace`: RC projections, steps, annotations after steps, placeholders."""

from __future__ import annotations

from typing import Any

from harness.rollout.rcupdate.trace import (
    RcChange,
    RcRecorder,
    RcState,
    Renamer,
    annotations_at_steps,
    diff_fields,
    rc_state,
    scale_steps,
    writes,
)


def _rc(
    name: str, uid: str, replicas: int, annotations: dict[str, str] | None = None, deleting: bool = False
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "uid": uid,
        "annotations": annotations or {},
        "labels": {"app": "web"},
        "resourceVersion": "1",
    }
    if deleting:
        meta["deletionTimestamp"] = "2026-12-01T00:00:00Z"
    return {
        "metadata": meta,
        "spec": {
            "replicas": replicas,
            "selector": {"app": "web"},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "i:1"}]},
            },
        },
        "status": {"replicas": replicas, "observedGeneration": 3},
    }


def test_state_keeps_what_an_update_writes_and_ignores_status() -> None:
    a = rc_state(_rc("web", "u1", 3))
    b = rc_state({**_rc("web", "u1", 3), "status": {"replicas": 1}})
    assert a == b
    assert a.images == ("i:1",) and a.selector == (("app", "web"),) and not a.deleting
    assert diff_fields(a, rc_state(_rc("web", "u1", 2, {"x": "y"}, deleting=True))) == (
        "replicas",
        "annotations",
        "deleting",
    )


def test_missing_replicas_default_to_one_as_the_api_does() -> None:
    rc = _rc("web", "u1", 0)
    del rc["spec"]["replicas"]
    assert rc_state(rc).replicas == 1


class _Recorder(RcRecorder):
    """The recorder's bookkeeping without its thread: events fed by hand."""

    def __init__(self) -> None:  # noqa: D107 - no API client, no thread
        import threading

        self._records: list[RcChange] = []
        self._lock = threading.Lock()
        self._known: dict[str, RcState] = {}
        self._listed_once = False
        self.max_records = 100
        self.truncated = False


def _recorded() -> list[RcChange]:
    rec = _Recorder()
    rec._on_list([_rc("web", "u1", 3)])
    rec._on_event("added", _rc("web-v2", "u2", 0, {"desired": "3"}))
    rec._on_event("modified", _rc("web", "u1", 3, {"orig": "3"}))
    rec._on_event("modified", {**_rc("web", "u1", 3, {"orig": "3"}), "status": {"replicas": 2}})  # status only
    rec._on_event("modified", _rc("web-v2", "u2", 1, {"desired": "3"}))
    rec._on_event("modified", _rc("web", "u1", 2, {"orig": "3"}))
    rec._on_event("deleted", _rc("web", "u1", 0, {"orig": "3"}))
    assert rec.current() == {"u2": rc_state(_rc("web-v2", "u2", 1, {"desired": "3"}))}
    return rec.changes


def test_status_only_updates_are_not_changes() -> None:
    assert [c.kind for c in _recorded()] == ["listed", "created", "changed", "changed", "changed", "deleted"]


def test_steps_and_annotations_after_each_step() -> None:
    changes = _recorded()
    assert scale_steps(changes) == [("web-v2", 1), ("web", 2)]
    assert annotations_at_steps(changes) == [
        {"web": {"orig": "3"}, "web-v2": {"desired": "3"}},
        {"web": {"orig": "3"}, "web-v2": {"desired": "3"}},
    ]


def test_writes_show_only_what_changed() -> None:
    lines = writes(_recorded())
    assert lines[2] == "changed web annotations={'orig': '3'}"
    assert lines[3] == "changed web-v2 replicas=1"
    assert lines[-1] == "deleted web"
    assert lines[1].startswith("created web-v2 replicas=0 selector={'app': 'web'}")


def test_a_relist_records_what_vanished_meanwhile() -> None:
    rec = _Recorder()
    rec._on_list([_rc("web", "u1", 3), _rc("web-v2", "u2", 0)])
    rec._on_list([_rc("web-v2", "u2", 1)])
    assert [(c.kind, c.state.name) for c in rec.changes] == [
        ("listed", "web"),
        ("listed", "web-v2"),
        ("deleted", "web"),
        ("changed", "web-v2"),
    ]


def test_renamer_replaces_longest_first_everywhere() -> None:
    rename = Renamer()
    rename.add("abc123", "<hash>")
    rename.add("web-abc123", "web-<hash>")
    rename.add("0f-uid", "<uid web>")
    state = rc_state(_rc("web-abc123", "u2", 1, {"kubectl.kubernetes.io/update-source-id": "web:0f-uid"}))
    renamed = rename(RcChange(0.0, "created", state))
    assert renamed.state.name == "web-<hash>"
    assert dict(renamed.state.annotations) == {"kubectl.kubernetes.io/update-source-id": "web:<uid web>"}
    assert rename(["Created web-abc123", {"x": "abc123-orig"}]) == ["Created web-<hash>", {"x": "<hash>-orig"}]
