"""The harness's waits on `harness.poll`, against a scripted typed client (no cluster):
what each one waits for, what it last saw, and what it dumps."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from harness.errors import ApiError, WaitTimeout
from harness.leftovers import Leftover, remove_leftovers
from harness.namespaces import NamespaceReaper, wait_deleted
from harness.rollout.deployments import Deployments, RolloutFailed
from harness.rollout.podsets import wait_set_rollout
from harness.rollout.rcupdate.updater import RENAME_FINALIZER, RollingUpdater, _Pace
from harness.timeouts import Timeouts
from harness.workloads import wait_ready_pods

FAST = Timeouts(rollout=0.05, poll_interval=0.01, api_request=1.0, namespace_delete=0.05)


class _Resp:
    """What `call_api` reads from a typed-client call made with `_preload_content=False`."""

    def __init__(self, body: Any, status: int = 200) -> None:
        self.data = json.dumps(body).encode()
        self.status = status

    def release_conn(self) -> None:
        pass


class Scripted:
    """A typed-client API object: each named method answers from its script (the last entry repeats);
    an exception entry is raised."""

    def __init__(self, **scripts: list[Any]) -> None:
        self.scripts = scripts
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def __getattr__(self, method: str) -> Any:
        if method not in self.scripts:
            raise AttributeError(method)
        script = self.scripts[method]

        def call(*args: Any, **kwargs: Any) -> _Resp:
            self.calls.append((method, args))
            entry = script.pop(0) if len(script) > 1 else script[0]
            if isinstance(entry, BaseException):
                raise entry
            return _Resp(entry)

        call.__name__ = method
        return call


# --------------------------------------------------------------------------- Deployments


def _deployment(updated: int, conditions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "uid": "u1", "generation": 2},
        "spec": {"replicas": 3},
        "status": {
            "observedGeneration": 2,
            "replicas": 3,
            "updatedReplicas": updated,
            "availableReplicas": 3,
            "conditions": conditions or [],
        },
    }


class _Access:
    server = "https://fake"

    def api_client(self) -> Any:
        return type("Client", (), {"close": lambda self: None})()


class _Raw:
    exchanges: list[Any] = []

    def close(self) -> None:
        pass


def _deployments(apps: Scripted) -> Deployments:
    ops = Deployments(_Access(), "ns", timeouts=FAST, raw=_Raw())  # type: ignore[arg-type]
    ops._apps = apps
    return ops


def test_deployment_wait_returns_the_done_verdict() -> None:
    apps = Scripted(read_namespaced_deployment=[_deployment(1), _deployment(3)])
    assert _deployments(apps).wait_rollout_complete("web").done
    assert [m for m, _ in apps.calls] == ["read_namespaced_deployment"] * 2


def test_deployment_wait_times_out_with_the_last_verdict_and_a_dump() -> None:
    apps = Scripted(read_namespaced_deployment=[_deployment(1)], list_namespaced_replica_set=[{"items": []}])
    with pytest.raises(WaitTimeout) as info:
        _deployments(apps).wait_rollout_complete("web")
    err = info.value
    assert err.waited_for == 'deployment "ns/web" to finish its rollout' and err.timeout == FAST.rollout
    assert err.last_seen.startswith('Waiting for deployment "web" rollout to finish: 1 out of 3 new replicas')
    assert "deployment:\n  name: web" in err.dump and "replicasets: []" in err.dump


def test_deployment_wait_fails_at_once_on_its_progress_deadline() -> None:
    stalled = [{"type": "Progressing", "reason": "ProgressDeadlineExceeded", "message": "too slow"}]
    apps = Scripted(read_namespaced_deployment=[_deployment(1, stalled)], list_namespaced_replica_set=[{"items": []}])
    with pytest.raises(RolloutFailed, match="ProgressDeadlineExceeded: too slow"):
        _deployments(apps).wait_rollout_complete("web", timeout=60)
    assert [m for m, _ in apps.calls].count("read_namespaced_deployment") == 1


# --------------------------------------------------------------------------- StatefulSets and DaemonSets


def test_set_wait_names_the_kind_and_dumps_status_and_pods() -> None:
    sts = {
        "metadata": {"name": "db", "generation": 1},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "db"}}},
        "status": {"observedGeneration": 1, "readyReplicas": 1},
    }
    apps = Scripted(read_namespaced_stateful_set=[sts])
    core = Scripted(list_namespaced_pod=[{"items": [{"metadata": {"name": "db-0"}, "spec": {"containers": [{}]}}]}])
    with pytest.raises(WaitTimeout) as info:
        wait_set_rollout(apps, core, "ns", "StatefulSet", "db", FAST)  # type: ignore[arg-type]
    err = info.value
    assert err.waited_for == 'statefulset "ns/db" to finish its rollout'
    assert err.last_seen.startswith("Waiting for 1 pods to be ready... [generation 1")
    assert "readyReplicas: 1" in err.dump and "db-0 rev=None" in err.dump


def test_set_wait_for_a_daemonset_returns_its_verdict() -> None:
    ds = {"metadata": {"name": "agent", "generation": 1}, "status": {"observedGeneration": 1}}
    apps = Scripted(read_namespaced_daemon_set=[ds])
    verdict = wait_set_rollout(apps, Scripted(), "ns", "DaemonSet", "agent", FAST)  # type: ignore[arg-type]
    assert verdict.done and verdict.message == 'daemon set "agent" successfully rolled out'


# --------------------------------------------------------------------------- the RC updater


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


PERIODS = _Pace(update_period=0.0, poll_interval=1.0, timeout=3.0)


def _updater(core: Scripted) -> tuple[RollingUpdater, FakeTime]:
    t = FakeTime()
    return RollingUpdater(core, "ns", FAST, clock=t.clock, sleep=t.sleep), t


def _rc(replicas: int, status_replicas: int, observed: int = 2, **meta: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "web-v2", "generation": 2, **meta},
        "spec": {"replicas": replicas},
        "status": {"replicas": status_replicas, "observedGeneration": observed},
    }


def test_rc_scale_checks_the_patch_answer_first_then_reads_again() -> None:
    core = Scripted(
        patch_namespaced_replication_controller=[_rc(2, 1)],
        read_namespaced_replication_controller=[_rc(2, 1), _rc(2, 2)],
    )
    updater, t = _updater(core)
    assert updater._scale_and_wait("web-v2", 2, PERIODS)["status"]["replicas"] == 2
    assert [m for m, _ in core.calls] == ["patch_namespaced_replication_controller"] + [
        "read_namespaced_replication_controller"
    ] * 2
    assert t.now == 2.0


def test_rc_wait_for_desired_replicas_says_what_it_saw() -> None:
    core = Scripted(read_namespaced_replication_controller=[_rc(3, 2, observed=1)])
    updater, t = _updater(core)
    with pytest.raises(WaitTimeout) as info:
        updater._wait_desired("web-v2", PERIODS)
    assert str(info.value) == (
        "timed out after 3s waiting for ReplicationController web-v2 to have its desired replicas; "
        "last saw: spec.replicas=3, status.replicas=2, observedGeneration=1/2"
    )
    assert t.now == 3.0


def test_rc_wait_gone_says_what_holds_it() -> None:
    held = _rc(0, 0, deletionTimestamp="2026-01-01T00:00:00Z", finalizers=["orphan"])
    updater, _ = _updater(Scripted(read_namespaced_replication_controller=[held]))
    with pytest.raises(WaitTimeout, match="web-v2 to be deleted; last saw: still present, deletionTimestamp=2026"):
        updater._wait_gone("web-v2", PERIODS)
    with pytest.raises(WaitTimeout, match="orphan the pods of ReplicationController web-v2; last saw: finalizers="):
        updater._wait_orphaned("web-v2", PERIODS)


def test_rc_wait_orphaned_returns_the_rc_once_the_orphan_finalizer_is_gone() -> None:
    core = Scripted(read_namespaced_replication_controller=[_rc(0, 0, finalizers=["orphan"]), _rc(0, 0)])
    updater, _ = _updater(core)
    assert updater._wait_orphaned("web-v2", PERIODS) == _rc(0, 0)


def test_rc_release_retries_a_changed_finalizer_list_and_times_out_from_the_last_error() -> None:
    conflict = ApiError(status=422, reason="Invalid", message="the test operation failed")
    core = Scripted(
        read_namespaced_replication_controller=[_rc(0, 0, finalizers=[RENAME_FINALIZER])],
        patch_namespaced_replication_controller=[_exception(conflict)],
    )
    updater, _ = _updater(core)
    with pytest.raises(WaitTimeout, match="removal of finalizer rollproof/rc-rename from web-v2") as info:
        updater._release("web-v2", PERIODS)
    assert "last error: PATCH" in info.value.last_seen
    assert isinstance(info.value.__cause__, ApiError) and info.value.__cause__.status == 422


def _exception(err: ApiError) -> BaseException:
    """The typed client's exception for `err` (the boundary turns it back into `err`'s kind)."""
    from kubernetes.client.exceptions import ApiException

    exc = ApiException(status=err.status, reason=err.reason)
    exc.body = json.dumps({"reason": err.reason, "message": err.message})
    return exc


def _not_found() -> BaseException:
    return _exception(ApiError(status=404, reason="NotFound", message="gone"))


# --------------------------------------------------------------------------- namespaces, leftovers, pods


def test_namespaces_wait_until_each_is_gone() -> None:
    terminating = {"status": {"phase": "Terminating"}}
    core = Scripted(read_namespace=[terminating, _not_found(), _not_found()])
    wait_deleted(core, ["ns-a", "ns-b"], timeout=5, interval=0.01, timeouts=FAST)  # type: ignore[arg-type]
    assert [args[0] for _, args in core.calls] == ["ns-a", "ns-b", "ns-a"]


def test_namespaces_wait_times_out_naming_each_one_left_and_its_pods() -> None:
    pod = {"metadata": {"name": "web-1"}, "status": {"phase": "Running"}}
    core = Scripted(read_namespace=[{"status": {"phase": "Terminating"}}], list_namespaced_pod=[{"items": [pod]}])
    with pytest.raises(WaitTimeout) as info:
        wait_deleted(core, ["ns-a"], timeout=0.03, interval=0.01, timeouts=FAST)  # type: ignore[arg-type]
    assert info.value.waited_for == "namespace ns-a to be deleted"
    assert info.value.last_seen == "ns-a: phase Terminating; web-1 (Running)"


def test_the_reaper_waits_for_its_namespaces_unless_told_they_go_with_the_cluster() -> None:
    terminating = {"status": {"phase": "Terminating"}}
    deletes = dict(list_namespaced_replication_controller=[{"items": []}], delete_namespace=[{}])
    core = Scripted(**deletes, read_namespace=[terminating, _not_found()])
    reaper = NamespaceReaper(core, FAST)  # type: ignore[arg-type]
    reaper.delete("ns-a")
    assert reaper.finish() == [] and reaper.pending == []
    assert [name for name, _ in core.calls].count("read_namespace") == 2  # waited until it was gone

    core = Scripted(**deletes, read_namespace=[terminating])
    reaper = NamespaceReaper(core, FAST)  # type: ignore[arg-type]
    reaper.delete("ns-b")
    reaper.delete("ns-c")
    assert reaper.finish(wait=False) == ["ns-b", "ns-c"] and reaper.pending == []
    assert "read_namespace" not in [name for name, _ in core.calls]  # nothing waited for


def test_leftovers_removal_waits_for_each_and_says_which_are_still_there() -> None:
    left = [
        Leftover("namespace", "rp-old", None, None, "", removable=True),
        Leftover("service", "web", "rp-x", None, "", removable=True),
        Leftover("namespace", "rp-live", None, None, "", removable=False),
    ]
    core = Scripted(
        delete_namespace=[{}],
        delete_namespaced_service=[{}],
        list_namespaced_replication_controller=[{"items": []}],
        read_namespace=[_not_found()],
        read_namespaced_service=[{}],
    )
    with pytest.raises(WaitTimeout) as info:
        remove_leftovers(core, left, FAST)  # type: ignore[arg-type]
    assert str(info.value) == (
        "timed out after 0s waiting for leftovers of earlier runs to be deleted; last saw: Service rp-x/web still there"
    )


class _Pods:
    """`list_namespaced_pod` answering typed-client models of ready pods, one list per call (the last repeats)."""

    def __init__(self, *ready: list[str]) -> None:
        self.lists = list(ready)

    def list_namespaced_pod(self, namespace: str, label_selector: str) -> Any:
        names = self.lists.pop(0) if len(self.lists) > 1 else self.lists[0]
        return SimpleNamespace(items=[_ready_pod(name) for name in names])


def _ready_pod(name: str) -> Any:
    ready = SimpleNamespace(type="Ready", status="True")
    return SimpleNamespace(
        metadata=SimpleNamespace(name=name, deletion_timestamp=None), status=SimpleNamespace(conditions=[ready])
    )


def test_ready_pods_wait_returns_exactly_the_count() -> None:
    pods = wait_ready_pods(_Pods(["a"], ["a", "b"]), "ns", {"app": "web"}, 2, timeout=5, interval=0.01)  # type: ignore[arg-type]
    assert [p.metadata.name for p in pods] == ["a", "b"]


def test_ready_pods_wait_says_how_many_were_ready() -> None:
    with pytest.raises(WaitTimeout) as info:
        wait_ready_pods(_Pods(["a"]), "ns", {"app": "web", "ver": "v2"}, 2, timeout=0.03, interval=0.01)  # type: ignore[arg-type]
    assert (
        str(info.value) == "timed out after 0s waiting for 2 ready pods with app=web,ver=v2 in ns; last saw: 1 ready: a"
    )
