"""The RC updater's whole runs (update, rename, rollback, resume) against an in-memory API (no cluster).

`FakeCore` answers the typed-client calls the updater makes: RCs are stored
as the API returns them, each write is reconciled at once (status follows
spec, every pod ready), pods are derived from the live RCs' templates, and a
delete honours finalizers the way the updater's rename relies on.
"""

from __future__ import annotations

import copy
import json
from dataclasses import asdict
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from harness.errors import WaitTimeout
from harness.rollout.rcupdate.plan import (
    DESIRED_REPLICAS_ANNOTATION,
    NEXT_CONTROLLER_ANNOTATION,
    ORIGINAL_REPLICAS_ANNOTATION,
    SOURCE_ID_ANNOTATION,
)
from harness.rollout.rcupdate.updater import RENAME_FINALIZER, NewRcOptions, RollingUpdater
from harness.timeouts import Timeouts

FAST = Timeouts(api_request=1.0, rc_update_period=0.5, rc_poll_interval=1.0, rc_timeout=30.0)


class _Resp:
    def __init__(self, body: Any) -> None:
        self.data = json.dumps(body).encode()
        self.status = 200

    def release_conn(self) -> None:
        pass


def _not_found(name: str) -> ApiException:
    exc = ApiException(status=404, reason="NotFound")
    exc.body = json.dumps({"reason": "NotFound", "message": f"{name} not found"})
    return exc


def _merge(into: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if value is None:
            into.pop(key, None)
        elif isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = copy.deepcopy(value)


class FakeCore:
    """RCs and their (always ready) pods in one namespace; `calls` logs (method, name)."""

    def __init__(self, *rcs: dict[str, Any], ready: bool = True) -> None:
        self.ready = ready
        self.rcs: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        self.uids = 0
        for rc in rcs:
            self._store(copy.deepcopy(rc))

    def _store(self, rc: dict[str, Any], spec_changed: bool = True) -> dict[str, Any]:
        meta = rc.setdefault("metadata", {})
        if "uid" not in meta:
            self.uids += 1
            meta["uid"] = f"uid-{self.uids}"
        meta["generation"] = meta.get("generation", 0) + int(spec_changed)
        replicas = rc["spec"].get("replicas", 0)
        rc["status"] = {"replicas": replicas, "observedGeneration": meta["generation"]}
        self.rcs[meta["name"]] = rc
        return rc

    def _get(self, name: str) -> dict[str, Any]:
        if name not in self.rcs:
            raise _not_found(name)
        return self.rcs[name]

    def _log(self, method: str, name: str = "") -> None:
        self.calls.append((method, name))

    def read_namespaced_replication_controller(self, name: str, namespace: str, **_: Any) -> _Resp:
        self._log("read", name)
        return _Resp(self._get(name))

    def list_namespaced_replication_controller(self, namespace: str, **_: Any) -> _Resp:
        self._log("list")
        return _Resp({"items": list(self.rcs.values())})

    def create_namespaced_replication_controller(self, namespace: str, body: dict[str, Any], **_: Any) -> _Resp:
        self._log("create", body["metadata"]["name"])
        return _Resp(self._store(copy.deepcopy(body)))

    def patch_namespaced_replication_controller(self, name: str, namespace: str, body: Any, **_: Any) -> _Resp:
        self._log("patch", name)
        rc = copy.deepcopy(self._get(name))
        if isinstance(body, list):  # JSON patch: the updater's test + remove of a finalizer
            test, remove = body
            index = int(remove["path"].rsplit("/", 1)[1])
            assert rc["metadata"]["finalizers"][index] == test["value"]
            del rc["metadata"]["finalizers"][index]
            if rc["metadata"].get("deletionTimestamp") and not rc["metadata"]["finalizers"]:
                del self.rcs[name]
                return _Resp(rc)
        else:
            _merge(rc, body)
        return _Resp(self._store(rc, spec_changed=isinstance(body, dict) and "spec" in body))

    def delete_namespaced_replication_controller(self, name: str, namespace: str, **kwargs: Any) -> _Resp:
        self._log(f"delete({kwargs.get('propagation_policy')})", name)
        rc = self._get(name)
        if rc["metadata"].get("finalizers"):
            rc["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
        else:
            del self.rcs[name]
        return _Resp({})

    def list_namespaced_pod(self, namespace: str, label_selector: str = "", **_: Any) -> _Resp:
        wanted = dict(term.split("=", 1) for term in label_selector.split(",") if term)
        pods = []
        for rc in self.rcs.values():
            if rc["metadata"].get("deletionTimestamp"):
                continue
            labels = rc["spec"]["template"]["metadata"]["labels"]
            if all(labels.get(k) == v for k, v in wanted.items()):
                pods += [
                    {
                        "metadata": {"name": f"{rc['metadata']['name']}-{i}", "labels": dict(labels)},
                        "status": {"conditions": [{"type": "Ready", "status": str(self.ready)}]},
                    }
                    for i in range(rc["spec"]["replicas"])
                ]
        return _Resp({"items": pods})


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _rc(name: str, image: str, replicas: int, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ReplicationController",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": dict(labels),
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {"containers": [{"name": "nginx", "image": image}]},
            },
        },
    }


def _updater(core: FakeCore) -> tuple[RollingUpdater, list[str]]:
    t = FakeTime()
    lines: list[str] = []
    return RollingUpdater(core, "ns", FAST, clock=t.clock, sleep=t.sleep, out=lines.append), lines


def _steps(result: Any) -> list[tuple[Any, ...]]:
    return [(s.t, s.action, s.old, s.old_replicas, s.new, s.new_replicas, s.available) for s in result.steps]


def _summary(result: Any) -> dict[str, Any]:
    out = asdict(result)
    del out["steps"]
    return out


def test_manifest_update_scales_one_step_at_a_time_and_cleans_up() -> None:
    core = FakeCore(_rc("web-v1", "nginx:1", 2, app="web", v="1"))
    updater, lines = _updater(core)
    result = updater.update("web-v1", _rc("web-v2", "nginx:2", 2, app="web", v="2"))
    assert lines == [
        "Created web-v2",
        "Scaling up web-v2 from 0 to 2, scaling down web-v1 from 2 to 0 (keep 2 pods available, don't exceed 3 pods)",
        "Scaling web-v2 up to 1",
        "Scaling web-v1 down to 1",
        "Scaling web-v2 up to 2",
        "Scaling web-v1 down to 0",
        "Update succeeded. Deleting web-v1",
    ]
    assert _steps(result) == [
        (100.0, "scale-up", "web-v1", 2, "web-v2", 1, 1),
        (100.5, "scale-down", "web-v1", 1, "web-v2", 1, 1),
        (100.5, "scale-up", "web-v1", 1, "web-v2", 2, 2),
        (101.0, "scale-down", "web-v1", 0, "web-v2", 2, 2),
        (101.0, "cleanup", "web-v1", 0, "web-v2", 2, 2),
    ]
    assert _summary(result) == {
        "old_name": "web-v1",
        "new_name": "web-v2",
        "final_name": "web-v2",
        "desired": 2,
        "max_surge": 1,
        "max_unavailable": 0,
        "min_available": 2,
        "resumed": False,
        "rolled_back": False,
        "renamed": False,
        "started": 100.0,
        "finished": 101.0,
    }
    assert core.calls == [
        *[("read", "web-v1"), ("list", ""), ("read", "web-v2"), ("read", "web-v2"), ("create", "web-v2")],
        *[("read", "web-v1"), ("patch", "web-v1"), ("patch", "web-v2"), ("patch", "web-v1"), ("patch", "web-v2")],
        *[("patch", "web-v1"), ("read", "web-v2"), ("delete(None)", "web-v1"), ("read", "web-v1"), ("patch", "web-v2")],
    ]
    assert list(core.rcs) == ["web-v2"]
    assert core.rcs["web-v2"]["metadata"].get("annotations") == {}


def test_image_update_renames_the_new_rc_to_the_old_name() -> None:
    core = FakeCore(_rc("web", "nginx:1", 1, app="web"))
    updater, lines = _updater(core)
    result = updater.update("web", "nginx:2")
    new_name = result.new_name
    assert new_name.startswith("web-") and result.final_name == "web" and result.renamed
    assert lines[-3:] == [
        "Scaling web down to 0",
        "Update succeeded. Deleting old controller: web",
        f"Renaming {new_name} to web",
    ]
    assert _steps(result)[-1] == (100.5, "rename", "web", 0, new_name, 1, 1)
    assert list(core.rcs) == ["web"]
    final = core.rcs["web"]
    assert final["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:2"
    assert RENAME_FINALIZER not in (final["metadata"].get("finalizers") or [])
    assert ("delete(Orphan)", new_name) in core.calls


def test_an_update_that_stops_moving_times_out_saying_where_it_stood() -> None:
    core = FakeCore(_rc("web-v1", "nginx:1", 2, app="web", v="1"), ready=False)
    updater, lines = _updater(core)
    with pytest.raises(WaitTimeout) as info:
        updater.update("web-v1", _rc("web-v2", "nginx:2", 2, app="web", v="2"))
    assert str(info.value) == (
        "timed out after 30s waiting for progress of the rolling update web-v1 -> web-v2; last saw: "
        "web-v1 replicas=2, web-v2 replicas=1 available=0, desired=2, min_available=2, max_total=3"
    )
    assert lines[-1] == "Scaling web-v2 up to 1"
    assert updater.clock() == 130.5  # 30 s after the last round that moved (100.5)


def _half_done(image_mode: bool = False) -> FakeCore:
    """web-v1 scaled to 0 and deleted, web-v2 at its desired 2 with its progress annotations."""
    core = FakeCore(_rc("web-v2", "nginx:2", 2, app="web", v="2"))
    annotations = {DESIRED_REPLICAS_ANNOTATION: "2", SOURCE_ID_ANNOTATION: "web-v1:uid-0"}
    core.rcs["web-v2"]["metadata"]["annotations"] = annotations
    if image_mode:
        core.rcs["web-v2"]["metadata"]["finalizers"] = [RENAME_FINALIZER]
    return core


@pytest.mark.parametrize("rename", [False, True])
def test_a_rerun_after_the_old_rc_is_gone_finishes_the_update(rename: bool) -> None:
    core = _half_done(image_mode=rename)
    updater, lines = _updater(core)
    result = updater.update(
        "web-v1", _rc("web-v2", "nginx:2", 2, app="web", v="2"), options=NewRcOptions(keep_old_name=rename)
    )
    assert lines == []
    assert _steps(result) == [(100.0, "rename" if rename else "cleanup", "web-v1", 0, "web-v2", 2, 2)]
    assert _summary(result) == {
        "old_name": "web-v1",
        "new_name": "web-v2",
        "final_name": "web-v1" if rename else "web-v2",
        "desired": 2,
        "max_surge": 1,
        "max_unavailable": 0,
        "min_available": 2,
        "resumed": True,
        "rolled_back": False,
        "renamed": rename,
        "started": 100.0,
        "finished": 100.0,
    }
    renaming = [("read", "web-v2"), ("delete(Orphan)", "web-v2"), ("read", "web-v2"), ("read", "web-v1")]
    renaming += [("create", "web-v1"), ("read", "web-v2"), ("patch", "web-v2"), ("read", "web-v2")]
    assert core.calls == [("read", "web-v1"), ("list", ""), *(renaming if rename else [("patch", "web-v2")])]
    assert list(core.rcs) == (["web-v1"] if rename else ["web-v2"])
    assert not (core.rcs["web-v1" if rename else "web-v2"]["metadata"].get("annotations") or {})


def _mid_update() -> FakeCore:
    """web-v1 at 1 of its original 2, web-v2 at 1 of 2: an update half way."""
    core = FakeCore(_rc("web-v1", "nginx:1", 1, app="web", v="1"))
    old = core.rcs["web-v1"]
    old["metadata"]["annotations"] = {ORIGINAL_REPLICAS_ANNOTATION: "2", NEXT_CONTROLLER_ANNOTATION: "web-v2"}
    core._store(_rc("web-v2", "nginx:2", 1, app="web", v="2"))
    core.rcs["web-v2"]["metadata"]["annotations"] = {
        DESIRED_REPLICAS_ANNOTATION: "2",
        SOURCE_ID_ANNOTATION: f"web-v1:{old['metadata']['uid']}",
    }
    return core


def test_rollback_restores_the_old_rc_and_deletes_the_new_one() -> None:
    core = _mid_update()
    updater, lines = _updater(core)
    result = updater.rollback("web-v1")
    assert lines[0] == 'Setting "web-v1" replicas to 2' and lines[-1] == "Update succeeded. Deleting web-v2"
    assert _steps(result) == [
        (100.0, "scale-up", "web-v2", 1, "web-v1", 2, 2),
        (100.5, "scale-down", "web-v2", 0, "web-v1", 2, 2),
        (100.5, "rollback", "web-v2", 0, "web-v1", 2, 2),
    ]
    assert _summary(result) == {
        "old_name": "web-v1",
        "new_name": "web-v2",
        "final_name": "web-v1",
        "desired": 2,
        "max_surge": 1,
        "max_unavailable": 0,
        "min_available": 2,
        "resumed": False,
        "rolled_back": True,
        "renamed": False,
        "started": 100.0,
        "finished": 100.5,
    }
    assert list(core.rcs) == ["web-v1"] and not core.rcs["web-v1"]["metadata"]["annotations"]


def test_a_rollback_rerun_after_the_new_rc_is_gone_only_cleans_up() -> None:
    core = FakeCore(_rc("web-v1", "nginx:1", 2, app="web", v="1"))
    core.rcs["web-v1"]["metadata"]["annotations"] = {
        SOURCE_ID_ANNOTATION: "web-v2:uid-9",
        DESIRED_REPLICAS_ANNOTATION: "2",
        NEXT_CONTROLLER_ANNOTATION: "web-v2",
        ORIGINAL_REPLICAS_ANNOTATION: "2",
    }
    updater, lines = _updater(core)
    result = updater.rollback("web-v1")
    assert lines == []
    assert _steps(result) == [(100.0, "rollback", "web-v2", 0, "web-v1", 2, 2)]
    assert _summary(result) == {
        "old_name": "web-v1",
        "new_name": "web-v2",
        "final_name": "web-v1",
        "desired": 2,
        "max_surge": 1,
        "max_unavailable": 0,
        "min_available": 2,
        "resumed": True,
        "rolled_back": True,
        "renamed": False,
        "started": 100.0,
        "finished": 100.0,
    }
    assert core.rcs["web-v1"]["metadata"]["annotations"] == {}
