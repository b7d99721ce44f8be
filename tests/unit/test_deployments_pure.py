"""Deployment rules without a cluster: rollout status, history, undo planning, replica points."""

from __future__ import annotations

import copy
from typing import Any

import kubernetes.client
import pytest
import yaml

from harness.errors import ConfigError
from harness.kube.patches import CHANGE_CAUSE, json_patch
from harness.rollout.history import REVISION, REVISION_HISTORY, parse_history, plan_undo, with_change_cause
from harness.rollout.replicasets import ReplicaSetWatcher, replica_point, replica_totals
from harness.rollout.status import describe_rollout, rollout_status
from harness.rolloutsteps import ReplicaPoint

UID = "11111111-2222-3333-4444-555555555555"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def apply_ops(doc: Any, ops: list[dict[str, Any]]) -> Any:
    """Minimal RFC 6902 add/replace applier for checking undo patches."""
    doc = copy.deepcopy(doc)
    for op in ops:
        *parents, last = [_unescape(t) for t in op["path"].split("/")[1:]]
        target = doc
        for t in parents:
            target = target[t]
        if op["op"] == "replace":
            assert last in target, f"replace of missing member {op['path']}"
        target[last] = op["value"]
    return doc


def template(image: str, *, hash_: str | None = None, env: str | None = None) -> dict[str, Any]:
    labels = {"app": "web"}
    if hash_:
        labels["pod-template-hash"] = hash_
    container: dict[str, Any] = {"name": "nginx", "image": image, "imagePullPolicy": "Never"}
    if env:
        container["env"] = [{"name": "V", "value": env}]
    return {"metadata": {"labels": labels}, "spec": {"containers": [container]}}


def deployment(
    image: str = "rollproof/nginx:1.26.3",
    *,
    generation: int = 3,
    observed: int = 3,
    replicas: int = 3,
    status: dict[str, Any] | None = None,
    annotations: dict[str, str] | None = None,
    paused: bool = False,
    conditions: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    st = {
        "observedGeneration": observed,
        "replicas": replicas,
        "updatedReplicas": replicas,
        "readyReplicas": replicas,
        "availableReplicas": replicas,
    }
    st.update(status or {})
    if conditions is not None:
        st["conditions"] = conditions
    meta: dict[str, Any] = {"name": "web", "namespace": "ns", "uid": UID, "generation": generation}
    if annotations is not None:
        meta["annotations"] = annotations
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "replicas": replicas,
            "paused": paused,
            "selector": {"matchLabels": {"app": "web"}},
            "template": template(image),
        },
        "status": st,
    }


def replicaset(
    name: str,
    revision: int | None,
    image: str,
    *,
    replicas: int = 0,
    owner_uid: str = UID,
    annotations: dict[str, str] | None = None,
    hash_: str = "h",
    env: str | None = None,
    ready: int | None = None,
) -> dict[str, Any]:
    ann = dict(annotations or {})
    if revision is not None:
        ann[REVISION] = str(revision)
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": name,
            "namespace": "ns",
            "annotations": ann,
            "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": owner_uid, "controller": True}
            ],
        },
        "spec": {"replicas": replicas, "template": template(image, hash_=hash_, env=env)},
        "status": {
            "replicas": replicas,
            "readyReplicas": replicas if ready is None else ready,
            "availableReplicas": replicas if ready is None else ready,
        },
    }


# --------------------------------------------------------------------------- rollout status


def test_done_when_every_rule_holds() -> None:
    st = rollout_status(deployment())
    assert st.done and not st.failed
    assert st.message == 'deployment "web" successfully rolled out'


def test_waits_for_generation_to_be_observed_first() -> None:
    st = rollout_status(deployment(generation=4, observed=3))
    assert not st.done and st.message == "Waiting for deployment spec update to be observed..."
    # even a deadline condition is not looked at before the spec is observed, as kubectl
    st = rollout_status(
        deployment(
            generation=4,
            observed=3,
            conditions=[{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}],
        )
    )
    assert not st.failed


def test_a_rollback_request_not_yet_taken_is_not_done() -> None:
    # Before 1.16 the /rollback POST stores the request without bumping generation: every other rule
    # still reads the rollout before it as complete (1.15 nightly, README finding 19).
    pending = rollout_status(deployment(annotations={"deprecated.deployment.rollback.to": "0"}))
    assert not pending.done and not pending.failed
    assert pending.message == 'Waiting for deployment "web" to take its rollback request (0)...'
    as_extensions = deployment()
    as_extensions["spec"]["rollbackTo"] = {"revision": 1}
    assert not rollout_status(as_extensions).done
    assert rollout_status(deployment(annotations={"deprecated.deployment.rollback.to": ""})).done


def test_progress_deadline_fails_before_counts() -> None:
    st = rollout_status(
        deployment(
            status={"updatedReplicas": 1},
            conditions=[
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                {
                    "type": "Progressing",
                    "status": "False",
                    "reason": "ProgressDeadlineExceeded",
                    "message": 'ReplicaSet "web-x" has timed out progressing.',
                },
            ],
        )
    )
    assert st.failed and not st.done
    assert st.message == 'deployment "web" exceeded its progress deadline'


def test_other_progressing_reasons_do_not_fail() -> None:
    st = rollout_status(
        deployment(conditions=[{"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}])
    )
    assert st.done


@pytest.mark.parametrize(
    "status,message",
    [
        (
            {"updatedReplicas": 1},
            'Waiting for deployment "web" rollout to finish: 1 out of 3 new replicas have been updated...',
        ),
        ({"replicas": 4}, 'Waiting for deployment "web" rollout to finish: 1 old replicas are pending termination...'),
        (
            {"availableReplicas": 2},
            'Waiting for deployment "web" rollout to finish: 2 of 3 updated replicas are available...',
        ),
        (
            {"updatedReplicas": 2, "replicas": 5, "availableReplicas": 0},
            'Waiting for deployment "web" rollout to finish: 2 out of 3 new replicas have been updated...',
        ),
        (
            {"replicas": 4, "availableReplicas": 1},
            'Waiting for deployment "web" rollout to finish: 1 old replicas are pending termination...',
        ),
    ],
)
def test_waiting_rules_in_kubectl_order(status: dict[str, int], message: str) -> None:
    st = rollout_status(deployment(status=status))
    assert (st.done, st.failed, st.message) == (False, False, message)
    assert "spec 3" in st.summary()


def test_missing_status_counts_as_zero() -> None:
    dep = deployment()
    dep["status"] = {"observedGeneration": 3}
    assert rollout_status(dep).message.endswith("0 out of 3 new replicas have been updated...")
    dep["spec"]["replicas"] = 0
    assert rollout_status(dep).done  # scaled to zero and nothing left


def test_more_updated_than_desired_is_not_waiting() -> None:
    # kubectl compares updatedReplicas < spec.replicas: a scale-down in flight is judged on the rest
    st = rollout_status(deployment(replicas=2, status={"replicas": 3, "updatedReplicas": 3, "availableReplicas": 3}))
    assert st.done


# --------------------------------------------------------------------------- history


def history_fixture() -> list[dict[str, Any]]:
    return [
        replicaset(
            "web-c",
            3,
            "rollproof/nginx:1.26.3",
            replicas=3,
            annotations={CHANGE_CAUSE: "to 1.26.3", REVISION_HISTORY: "1"},
        ),
        replicaset("web-a", 2, "rollproof/nginx:1.22.1", annotations={CHANGE_CAUSE: "env"}, env="x"),
        replicaset("web-old", None, "rollproof/nginx:1.0"),
        replicaset("web-bad", None, "rollproof/nginx:1.0", annotations={REVISION: "abc"}),
        replicaset("other-x", 5, "rollproof/nginx:9", owner_uid="someone-else"),
    ]


def test_history_from_owned_replicasets_sorted() -> None:
    rows = parse_history(deployment(), history_fixture())
    assert [(r.revision, r.replicaset, r.change_cause, r.images, r.replicas) for r in rows] == [
        (2, "web-a", "env", ("rollproof/nginx:1.22.1",), 0),
        (3, "web-c", "to 1.26.3", ("rollproof/nginx:1.26.3",), 3),
    ]
    assert rows[1].revision_history == (1,)
    assert rows[1].template["metadata"]["labels"]["pod-template-hash"] == "h"
    assert "template" not in repr(rows[0])


def test_history_ignores_non_controller_owners() -> None:
    rs = replicaset("web-z", 1, "i")
    rs["metadata"]["ownerReferences"][0]["controller"] = False
    assert parse_history(deployment(), [rs]) == []


# --------------------------------------------------------------------------- undo


def undo_fixture() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    dep = deployment(
        annotations={
            REVISION: "3",
            LAST_APPLIED: '{"kind":"Deployment"}',
            "deployment.kubernetes.io/desired-replicas": "3",
            CHANGE_CAUSE: "to 1.26.3",
            "team/only-on-deployment": "yes",
        }
    )
    rss = [
        replicaset(
            "web-1",
            1,
            "rollproof/nginx:1.22.1",
            hash_="h1",
            annotations={
                CHANGE_CAUSE: "first",
                "team/note": "v1",
                "deployment.kubernetes.io/desired-replicas": "2",
                "deployment.kubernetes.io/max-replicas": "3",
            },
        ),
        replicaset("web-2", 2, "rollproof/nginx:1.22.1", hash_="h2", env="2", annotations={CHANGE_CAUSE: "env 2"}),
        replicaset(
            "web-3", 3, "rollproof/nginx:1.26.3", hash_="h3", replicas=3, annotations={CHANGE_CAUSE: "to 1.26.3"}
        ),
    ]
    return dep, rss


def test_undo_defaults_to_previous_revision() -> None:
    dep, rss = undo_fixture()
    plan = plan_undo(dep, rss)
    assert (plan.revision, plan.replicaset, plan.skipped) == (2, "web-2", False)
    assert plan.message == "deployment.apps/web rolled back"
    assert [op["path"] for op in plan.ops] == ["/spec/template", "/metadata/annotations"]
    assert [op["op"] for op in plan.ops] == ["replace", "replace"]


def test_undo_template_drops_pod_template_hash_only() -> None:
    dep, rss = undo_fixture()
    plan = plan_undo(dep, rss, to_revision=1)
    tpl = plan.ops[0]["value"]
    assert tpl["metadata"]["labels"] == {"app": "web"}
    assert tpl["spec"] == rss[0]["spec"]["template"]["spec"]
    assert rss[0]["spec"]["template"]["metadata"]["labels"]["pod-template-hash"] == "h1"  # input untouched


def test_undo_annotations_follow_kubectl() -> None:
    dep, rss = undo_fixture()
    plan = plan_undo(dep, rss, to_revision=1)
    assert (
        plan.ops[1]["value"]
        == plan.annotations
        == {
            # kept from the Deployment
            REVISION: "3",
            LAST_APPLIED: '{"kind":"Deployment"}',
            "deployment.kubernetes.io/desired-replicas": "3",
            # everything else from the ReplicaSet (its copies of replica annotations are ignored)
            CHANGE_CAUSE: "first",
            "team/note": "v1",
        }
    )
    assert "team/only-on-deployment" not in plan.annotations  # kubectl drops it too


def test_undo_patch_applied_gives_the_old_template() -> None:
    dep, rss = undo_fixture()
    plan = plan_undo(dep, rss, to_revision=2)
    out = apply_ops(dep, plan.ops)
    assert out["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "V", "value": "2"}]
    assert out["metadata"]["annotations"][CHANGE_CAUSE] == "env 2"
    assert out["spec"]["replicas"] == dep["spec"]["replicas"]
    req = json_patch("/apis/apps/v1/namespaces/ns/deployments/web", plan.ops)
    assert req.json == plan.ops and req.content_type == "application/json-patch+json"


def test_undo_skips_when_template_already_matches() -> None:
    dep, rss = undo_fixture()
    plan = plan_undo(dep, rss, to_revision=3)
    assert plan.skipped and plan.ops == []
    assert plan.message == "skipped rollback (current template already matches revision 3)"


def test_undo_refusals() -> None:
    dep, rss = undo_fixture()
    with pytest.raises(ConfigError, match=r"no revision 7 \(has: \[1, 2, 3\]\)"):
        plan_undo(dep, rss, to_revision=7)
    with pytest.raises(ConfigError, match="no previous revision"):
        plan_undo(dep, rss[-1:])
    with pytest.raises(ConfigError, match="paused; resume it first"):
        plan_undo(deployment(paused=True), rss)
    with pytest.raises(ConfigError):
        plan_undo(dep, rss, to_revision=-1)


def test_undo_after_a_rollback_uses_current_revision_numbers() -> None:
    # after undo to 1, the controller renumbers web-1 as revision 4 (history "1")
    dep, rss = undo_fixture()
    dep["spec"]["template"] = template("rollproof/nginx:1.22.1")
    rss[0]["metadata"]["annotations"][REVISION] = "4"
    rss[0]["metadata"]["annotations"][REVISION_HISTORY] = "1"
    plan = plan_undo(dep, rss)
    assert (plan.revision, plan.replicaset) == (3, "web-3")
    with pytest.raises(ConfigError):
        plan_undo(dep, rss, to_revision=1)


def test_undo_without_annotations_adds_them() -> None:
    dep, rss = undo_fixture()
    del dep["metadata"]["annotations"]
    plan = plan_undo(dep, rss)
    assert plan.ops[1]["op"] == "add"
    assert apply_ops(dep, plan.ops)["metadata"]["annotations"] == {CHANGE_CAUSE: "env 2"}


# --------------------------------------------------------------------------- misc pure helpers


def test_with_change_cause_copies() -> None:
    manifest = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "annotations": {"a": "b"}}}
    out = with_change_cause(manifest, "kubectl apply --record")
    assert out["metadata"]["annotations"] == {"a": "b", CHANGE_CAUSE: "kubectl apply --record"}
    assert manifest["metadata"]["annotations"] == {"a": "b"}
    assert with_change_cause(manifest, None) == manifest
    assert with_change_cause({"metadata": {}}, "x")["metadata"]["annotations"] == {CHANGE_CAUSE: "x"}


def test_replica_points_and_totals() -> None:
    rs_old = replicaset("web-1", 1, "a", replicas=3)
    rs_new = replicaset("web-2", 2, "b", replicas=1, ready=0)
    p = replica_point(rs_new, 5.0)
    assert p == ReplicaPoint(t=5.0, owner="web-2", replicas=1, ready=0, available=0, revision="2")
    assert replica_point(rs_old, 6.0, deleted=True).replicas == 0
    points = [
        replica_point(rs_old, 1.0),
        replica_point(rs_new, 2.0),
        ReplicaPoint(3.0, "web-2", 1, 1, 1, "2"),
        ReplicaPoint(4.0, "web-1", 2, 2, 2, "1"),
    ]
    totals = replica_totals(list(reversed(points)))  # order of input does not matter
    assert [(t.t, t.replicas, t.available, t.owners) for t in totals] == [
        (1.0, 3, 3, 1),
        (2.0, 4, 3, 2),
        (3.0, 4, 4, 2),
        (4.0, 3, 3, 2),
    ]
    assert max(t.replicas for t in totals) - 3 == 1  # surge of 1 over 3 desired


def test_describe_rollout_is_yaml_without_last_applied() -> None:
    dep, rss = undo_fixture()
    text = describe_rollout(dep, rss)
    doc = yaml.safe_load(text)
    assert doc["deployment"]["name"] == "web"
    assert [r["name"] for r in doc["replicasets"]] == ["web-1", "web-2", "web-3"]
    assert LAST_APPLIED not in text


def test_watcher_records_only_changes_of_its_deployment_and_is_bounded() -> None:
    client = kubernetes.client.ApiClient()
    try:
        w = ReplicaSetWatcher(client, "ns", "web", max_points=3)  # not started: no I/O
        rs = replicaset("web-1", 1, "a", replicas=1)
        w._observe(rs)
        w._observe(rs)  # unchanged: not recorded again
        w._observe(
            replicaset("other-1", 1, "a", replicas=1)
            | {
                "metadata": {
                    "name": "other-1",
                    "ownerReferences": [{"kind": "Deployment", "name": "other", "controller": True}],
                }
            }
        )
        w._observe(replicaset("web-1", 1, "a", replicas=2))
        w._observe(replicaset("web-1", 1, "a", replicas=2), deleted=True)
        w._observe(replicaset("web-2", 2, "b", replicas=1))
        assert [(p.owner, p.replicas) for p in w.points] == [("web-1", 1), ("web-1", 2), ("web-1", 0)]
        assert w.truncated
        assert w.stop() == w.points  # never started: stop just returns
    finally:
        client.close()
