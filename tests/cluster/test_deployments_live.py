"""Deployment operations against a real cluster (kind), in a namespace made and deleted here.

Runs on the session's cluster (the plugin's `cluster_access` and `namespace`
fixtures), with rollproof/nginx:1.22.1 and rollproof/nginx:1.26.3 loaded in it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from harness.errors import Conflict, ConfigError, NotFound, WaitTimeout
from harness.kube.config import ClusterAccess
from harness.kube.patches import (
    CHANGE_CAUSE,
    JSON_PATCH,
    RawRequest,
    apply_patch,
    deployment_path,
    merge_patch,
    put_object,
    rollback_request,
    strategic_merge_patch,
)
from harness.rollout.deployments import Deployments, RolloutFailed
from harness.rollout.replicasets import replica_totals
from harness.timeouts import Timeouts

pytestmark = pytest.mark.cluster

OLD, NEW = "rollproof/nginx:1.22.1", "rollproof/nginx:1.26.3"
REPLICAS = 2
SHORT_PROGRESS_DEADLINE = 6  # seconds, for the ProgressDeadlineExceeded test only
TIMEOUTS = Timeouts()


def manifest(name: str, image: str, *, replicas: int = REPLICAS, deadline: int | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "replicas": replicas,
        "revisionHistoryLimit": 10,
        "selector": {"matchLabels": {"app": name}},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
        "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {
                "terminationGracePeriodSeconds": 1,
                "containers": [
                    {
                        "name": "nginx",
                        "image": image,
                        "imagePullPolicy": "Never",
                        "ports": [{"containerPort": 80}],
                        "readinessProbe": {"httpGet": {"path": "/", "port": 80}, "periodSeconds": 1},
                    }
                ],
            },
        },
    }
    if deadline is not None:
        spec["progressDeadlineSeconds"] = deadline
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name}, "spec": spec}


@pytest.fixture
def access(cluster_access: ClusterAccess) -> ClusterAccess:
    return cluster_access


@pytest.fixture()
def deps(access: ClusterAccess, namespace: str) -> Iterator[Deployments]:
    with Deployments(access, namespace, timeouts=TIMEOUTS) as d:
        yield d


def test_server_version(access: ClusterAccess) -> None:
    v = access.server_version(TIMEOUTS)
    assert v.major == 1 and v.minor >= 20, v


def test_apply_update_history_undo_with_bounds(deps: Deployments) -> None:
    name = "roll"
    first = deps.apply(manifest(name, OLD), change_cause="v1 1.22.1")
    assert first.created and first.generation == 1
    deps.wait_rollout_complete(name)
    watcher = deps.watch_replicasets(name)
    try:
        second = deps.apply(manifest(name, NEW), change_cause="v2 1.26.3")
        assert not second.created
        done = deps.wait_rollout_complete(name)
        assert done.done and done.updated == REPLICAS
    finally:
        points = watcher.stop()
    hist = deps.history(name)
    assert [(r.revision, r.images, r.change_cause) for r in hist] == [
        (1, (OLD,), "v1 1.22.1"),
        (2, (NEW,), "v2 1.26.3"),
    ]
    assert {p.owner for p in points} == {r.replicaset for r in hist}
    # maxSurge 1 / maxUnavailable 0 over the watched points, once the first rollout was complete
    totals = replica_totals(points)
    assert max(t.replicas for t in totals) <= REPLICAS + 1, totals
    assert min(t.available for t in totals) >= REPLICAS, totals

    result = deps.undo(name)
    assert not result.skipped and result.revision == 1
    ex = result.exchange
    assert ex is not None and ex.method == "PATCH" and ex.status == 200 and ex.content_type == JSON_PATCH
    assert ex.path == deployment_path(deps.namespace, name)
    deps.wait_rollout_complete(name)
    dep = deps.get(name)
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == OLD
    assert dep["metadata"]["annotations"][CHANGE_CAUSE] == "v1 1.22.1"
    assert "pod-template-hash" not in dep["spec"]["template"]["metadata"]["labels"]
    hist = deps.history(name)
    assert [(r.revision, r.images, r.revision_history) for r in hist] == [(2, (NEW,), ()), (3, (OLD,), (1,))]

    assert deps.undo(name, to_revision=3).skipped
    with pytest.raises(ConfigError, match="no revision 1"):
        deps.undo(name, to_revision=1)


def test_scale_pause_resume_set_image(deps: Deployments) -> None:
    name = "ops"
    deps.apply(manifest(name, OLD, replicas=1))
    deps.wait_rollout_complete(name)
    deps.scale(name, 3)
    deps.wait_rollout_complete(name)
    assert [r.revision for r in deps.history(name)] == [1]  # scaling makes no revision
    assert deps.get(name)["status"]["availableReplicas"] == 3

    deps.pause(name)
    deps.set_image(name, "nginx", NEW, change_cause="set image while paused")
    assert [r.revision for r in deps.history(name)] == [1]  # paused: no new ReplicaSet
    with pytest.raises(ConfigError, match="paused"):
        deps.undo(name)
    deps.resume(name)
    deps.wait_rollout_complete(name)
    hist = deps.history(name)
    assert [(r.revision, r.images, r.change_cause) for r in hist][-1] == (2, (NEW,), "set image while paused")
    assert any(e.content_type == JSON_PATCH and e.status == 200 for e in deps.exchanges)


def test_raw_patch_flavours_against_the_server(deps: Deployments) -> None:
    name = "raw"
    deps.apply(manifest(name, OLD, replicas=1))
    path = deployment_path(deps.namespace, name)
    raw = deps.raw
    assert raw.call(strategic_merge_patch(path, {"metadata": {"labels": {"smp": "yes"}}})).body["metadata"][
        "labels"
    ] == {"smp": "yes"}
    out = raw.call(merge_patch(path, {"metadata": {"labels": {"smp": None, "merge": "yes"}}})).body
    assert out["metadata"]["labels"] == {"merge": "yes"}
    dry = raw.call(
        apply_patch(path, manifest(name, NEW, replicas=1), field_manager="rp-test", force=True, dry_run=True)
    ).body
    assert dry["spec"]["template"]["spec"]["containers"][0]["image"] == NEW
    deps.wait_rollout_complete(name)  # let the controllers stop writing status before GET + PUT
    for attempt in range(3):  # PUT carries resourceVersion: a status write in between is a 409
        current = raw.call(RawRequest("GET", path)).body
        assert current["spec"]["template"]["spec"]["containers"][0]["image"] == OLD  # dry run changed nothing
        try:
            put = raw.call(put_object(path, current)).body
            break
        except Conflict:
            if attempt == 2:
                raise
    assert put["metadata"]["generation"] == current["metadata"]["generation"]  # same object: no new generation
    legacy = raw.send(rollback_request(deps.namespace, name, 0))
    assert legacy.status == 404  # the rollback subresource is gone since Kubernetes 1.16
    with pytest.raises(NotFound):
        raw.check(legacy)


def test_progress_deadline_and_wait_timeout(deps: Deployments) -> None:
    name = "stuck"
    deps.apply(manifest(name, OLD, replicas=1))
    deps.wait_rollout_complete(name)
    deps.apply(manifest(name, "rollproof/nginx:not-loaded", replicas=1, deadline=SHORT_PROGRESS_DEADLINE))
    with pytest.raises(WaitTimeout) as info:
        deps.wait_rollout_complete(name, timeout=1.0)
    assert "stuck" in info.value.waited_for and "replicasets" in info.value.dump
    with pytest.raises(RolloutFailed) as failed:
        deps.wait_rollout_complete(name, timeout=SHORT_PROGRESS_DEADLINE * 10)
    assert failed.value.reason == "ProgressDeadlineExceeded"
    assert "not-loaded" in failed.value.dump
