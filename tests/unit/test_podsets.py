"""StatefulSet / DaemonSet rules without a cluster: builders, rollout status, pod records
turned into per-revision counts, update order, hand-overs and revision history."""

from __future__ import annotations

import json
from typing import Any

import kubernetes.client
import pytest
import yaml

from harness.errors import ConfigError
from harness.kube.clientapply import LAST_APPLIED
from harness.kube.patches import APPLY_PATCH_YAML, FIELD_MANAGER, STRATEGIC_MERGE_PATCH, RawRequest
from harness.manifests import daemonset, headless_service, scaled_value, statefulset, with_pull_policy
from harness.rollout.history import SetRevision, set_revisions
from harness.rollout.podlives import (
    Handoff,
    PodLife,
    label_points,
    node_handoffs,
    ordinal_handoffs,
    pod_lives,
    revision_points,
    update_order,
)
from harness.rollout.pods import REVISION_LABEL, PodEvent, PodState, describe_pods, pod_ordinal, pod_state
from harness.rollout.podsets import apply_object
from harness.rollout.podwatcher import PodWatcher
from harness.rollout.status import SetRolloutStatus, daemonset_rollout_status, statefulset_rollout_status
from harness.rolloutsteps import ReplicaPoint

OLD, NEW = "web-5d8f7c", "web-7b9c4a"  # StatefulSet revisions: `<set>-<hash>`
IMG_OLD, IMG_NEW = "rollproof/nginx:1.22.1", "rollproof/nginx:1.26.3"


# --------------------------------------------------------------------------- plain API JSON


def pod(
    name: str,
    revision: str | None = OLD,
    *,
    uid: str | None = None,
    image: str = IMG_OLD,
    node: str | None = "node-a",
    ready: bool = True,
    terminating: bool = False,
    waiting: str | None = None,
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    labels = {"app": "web", **(labels or {})}
    if revision is not None:
        labels[REVISION_LABEL] = revision
    meta: dict[str, Any] = {"name": name, "uid": uid or f"uid-{name}-{revision}", "labels": labels}
    if terminating:
        meta["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    spec: dict[str, Any] = {"containers": [{"name": "nginx", "image": image}]}
    if node is not None:
        spec["nodeName"] = node
    status: dict[str, Any] = {
        "conditions": [
            {"type": "PodScheduled", "status": "True"},
            {"type": "Ready", "status": "True" if ready else "False"},
        ]
    }
    if waiting:
        status["containerStatuses"] = [{"name": "nginx", "state": {"waiting": {"reason": waiting}}}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}


def ev(t: float, kind: str, name: str, revision: str | None = OLD, **kw: Any) -> PodEvent:
    return PodEvent(t, kind, pod_state(pod(name, revision, **kw)))


def sts(
    *,
    replicas: int | None = 4,
    partition: int | None = 0,
    generation: int = 2,
    observed: int = 2,
    ready: int = 4,
    available: int = 4,
    updated: int = 4,
    current: str = NEW,
    update: str = NEW,
    strategy: str = "RollingUpdate",
) -> dict[str, Any]:
    strat: dict[str, Any] = {"type": strategy}
    if partition is not None and strategy == "RollingUpdate":
        strat["rollingUpdate"] = {"partition": partition}
    spec: dict[str, Any] = {"updateStrategy": strat}
    if replicas is not None:
        spec["replicas"] = replicas
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "web", "generation": generation},
        "spec": spec,
        "status": {
            "observedGeneration": observed,
            "readyReplicas": ready,
            "availableReplicas": available,
            "updatedReplicas": updated,
            "currentRevision": current,
            "updateRevision": update,
        },
    }


def ds(
    *,
    generation: int = 2,
    observed: int = 2,
    desired: int = 3,
    updated: int = 3,
    available: int = 3,
    current: int = 3,
    misscheduled: int = 0,
    strategy: str = "RollingUpdate",
) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "agent", "generation": generation},
        "spec": {"updateStrategy": {"type": strategy}},
        "status": {
            "observedGeneration": observed,
            "desiredNumberScheduled": desired,
            "updatedNumberScheduled": updated,
            "numberAvailable": available,
            "currentNumberScheduled": current,
            "numberMisscheduled": misscheduled,
        },
    }


def controller_revision(
    name: str,
    revision: int,
    image: str | None,
    *,
    kind: str = "StatefulSet",
    owner: str = "web",
    controller: bool = True,
) -> dict[str, Any]:
    rev: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "revision": revision,
        "metadata": {
            "name": name,
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": kind, "name": owner, "controller": controller}],
        },
        "data": {"spec": {"template": {"spec": {"containers": [{"name": "nginx", "image": image}]}}}},
    }
    if image is None:
        rev["data"] = {}
    return rev


# --------------------------------------------------------------------------- builders


def _container(obj: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = obj["spec"]["template"]["spec"]["containers"][0]
    return container


def test_statefulset_builder_names_labels_image_version_and_partition() -> None:
    obj = statefulset("web", IMG_NEW, "v0.2", replicas=3, partition=2, history_limit=5)
    assert (obj["apiVersion"], obj["kind"]) == ("apps/v1", "StatefulSet")
    assert obj["metadata"]["name"] == "web"
    assert obj["metadata"]["labels"] == {"app": "web"}
    spec = obj["spec"]
    assert spec["selector"]["matchLabels"] == {"app": "web"}
    assert spec["template"]["metadata"]["labels"] == {"app": "web"}
    assert spec["replicas"] == 3
    assert spec["revisionHistoryLimit"] == 5
    assert spec["serviceName"] == "web-headless"
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}
    c = _container(obj)
    assert c["image"] == IMG_NEW
    assert [e for e in c["env"] if e["name"] == "STATEFULSET_DEMO_VER"] == [
        {"name": "STATEFULSET_DEMO_VER", "value": "v0.2"}
    ]
    assert "readinessProbe" in c and c["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "4"]
    assert statefulset("web", IMG_OLD, service_name="gov")["spec"]["serviceName"] == "gov"


def test_statefulset_builder_defaults_and_fresh_copies() -> None:
    a = statefulset("web", IMG_OLD)
    assert a["spec"]["replicas"] == 4
    assert a["spec"]["updateStrategy"]["rollingUpdate"]["partition"] == 0
    assert a["spec"]["revisionHistoryLimit"] == 10
    assert [e["value"] for e in _container(a)["env"] if e["name"] == "STATEFULSET_DEMO_VER"] == ["v0.1"]
    a["spec"]["template"]["spec"]["containers"][0]["env"].append({"name": "X", "value": "1"})
    b = statefulset("other", IMG_OLD)
    assert [e["name"] for e in _container(b)["env"]] == ["STATEFULSET_DEMO_VER"]  # fixture not mutated
    assert b["metadata"]["name"] == "other"


@pytest.mark.parametrize("partition", [-1, True, 1.5, "1"])
def test_statefulset_builder_refuses_bad_partitions(partition: Any) -> None:
    with pytest.raises(ConfigError, match="partition must be an int >= 0"):
        statefulset("web", IMG_OLD, partition=partition)


def test_naive_builders_drop_readiness_probe_and_pre_stop() -> None:
    for obj in (statefulset("web", IMG_OLD, hardened=False), daemonset("agent", IMG_OLD, hardened=False)):
        c = _container(obj)
        assert "readinessProbe" not in c
        assert "lifecycle" not in c
        assert c["image"] == IMG_OLD


def test_daemonset_builder_surge_strategy() -> None:
    obj = daemonset("agent", IMG_NEW, "v0.3", max_surge="25%", max_unavailable=0, history_limit=2)
    assert (obj["apiVersion"], obj["kind"]) == ("apps/v1", "DaemonSet")
    assert obj["metadata"]["name"] == "agent"
    assert obj["spec"]["selector"]["matchLabels"] == {"app": "agent"}
    assert obj["spec"]["template"]["metadata"]["labels"] == {"app": "agent"}
    assert obj["spec"]["revisionHistoryLimit"] == 2
    assert obj["spec"]["updateStrategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0},
    }
    c = _container(obj)
    assert c["image"] == IMG_NEW
    assert {"name": "DAEMONSET_DEMO_VER", "value": "v0.3"} in c["env"]
    assert "replicas" not in obj["spec"]
    assert daemonset("agent", IMG_OLD)["spec"]["updateStrategy"]["rollingUpdate"] == {
        "maxSurge": 1,
        "maxUnavailable": 0,
    }


def test_headless_service_has_no_cluster_ip_and_no_node_port() -> None:
    svc = headless_service("web-headless", {"app": "web"})
    assert svc["metadata"]["name"] == "web-headless"
    assert svc["spec"]["clusterIP"] == "None"
    assert svc["spec"]["type"] == "ClusterIP"
    assert svc["spec"]["selector"] == {"app": "web"}
    assert all("nodePort" not in p for p in svc["spec"]["ports"])


def test_with_pull_policy_sets_every_container_on_a_copy() -> None:
    obj = statefulset("web", IMG_OLD)
    obj["spec"]["template"]["spec"]["containers"].append({"name": "side", "image": "busybox"})
    out = with_pull_policy(obj, "Never")
    assert [c["imagePullPolicy"] for c in out["spec"]["template"]["spec"]["containers"]] == ["Never", "Never"]
    assert _container(obj)["imagePullPolicy"] == "IfNotPresent"  # original untouched
    assert "imagePullPolicy" not in obj["spec"]["template"]["spec"]["containers"][1]
    with pytest.raises(ConfigError, match="imagePullPolicy 'never'"):
        with_pull_policy(obj, "never")


@pytest.mark.parametrize(
    ("value", "total", "up", "want"),
    [
        (2, 10, True, 2),
        (0, 10, False, 0),
        ("25%", 4, True, 1),
        ("25%", 4, False, 1),
        ("30%", 4, True, 2),  # 1.2 -> up
        ("30%", 4, False, 1),  # 1.2 -> down
        ("10%", 3, False, 0),
        ("100%", 7, True, 7),
        (" 50% ", 3, True, 2),
    ],
)
def test_scaled_value_rounds_like_the_controllers(value: int | str, total: int, up: bool, want: int) -> None:
    assert scaled_value(value, total, round_up=up) == want


@pytest.mark.parametrize("value", [True, "abc", "5", "-5%", "1.5%", "%"])
def test_scaled_value_refuses_non_int_or_percent(value: Any) -> None:
    with pytest.raises(ConfigError, match="neither an int nor 'N%'"):
        scaled_value(value, 4, round_up=True)


# --------------------------------------------------------------------------- StatefulSet status


def test_statefulset_status_before_1_22_counts_ready_pods_as_available() -> None:
    """A 1.15 server writes no availableReplicas (measured: ready 4, available field absent)."""
    old = sts(available=0)
    del old["status"]["availableReplicas"]
    assert statefulset_rollout_status(old).done
    assert dict(statefulset_rollout_status(old).counts)["available"] == 4
    assert not statefulset_rollout_status(sts(available=0)).done  # a 1.22+ server that says 0 means 0


def test_statefulset_status_done_at_partition_zero() -> None:
    verdict = statefulset_rollout_status(sts())
    assert verdict.done
    assert verdict.message == f"statefulset rolling update complete 4 pods at revision {NEW}..."
    assert dict(verdict.counts) == {
        "generation": 2,
        "observed": 2,
        "spec": 4,
        "partition": 0,
        "ready": 4,
        "available": 4,
        "updated": 4,
        "currentRevision": NEW,
        "updateRevision": NEW,
    }


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        (sts(generation=3, observed=2), "Waiting for statefulset spec update to be observed..."),
        (sts(generation=0, observed=0), "Waiting for statefulset spec update to be observed..."),
        (sts(ready=1), "Waiting for 3 pods to be ready..."),
        (
            sts(updated=2, current=OLD),
            "Waiting for partitioned roll out to finish: 2 out of 4 new pods have been updated...",
        ),
        (
            sts(partition=2, updated=1),
            "Waiting for partitioned roll out to finish: 1 out of 2 new pods have been updated...",
        ),
        (
            sts(current=OLD),
            (
                f"waiting for statefulset rolling update to complete 4 pods at revision {NEW} "
                f"(current {OLD}, 4 available)..."
            ),
        ),
        (
            sts(available=3),
            (
                f"waiting for statefulset rolling update to complete 4 pods at revision {NEW} "
                f"(current {NEW}, 3 available)..."
            ),
        ),
    ],
)
def test_statefulset_status_waits(obj: dict[str, Any], message: str) -> None:
    verdict = statefulset_rollout_status(obj)
    assert not verdict.done
    assert verdict.message == message


def test_statefulset_status_rules_apply_in_kubectls_order() -> None:
    # everything is behind at once: the first rule (generation) speaks
    first = statefulset_rollout_status(sts(generation=3, observed=2, ready=0, updated=0, current=OLD))
    assert first.message.startswith("Waiting for statefulset spec update")
    # readiness is checked before the partitioned count
    second = statefulset_rollout_status(sts(ready=3, updated=0, current=OLD))
    assert second.message == "Waiting for 1 pods to be ready..."


def test_statefulset_partitioned_rollout_is_complete_with_the_revisions_apart() -> None:
    verdict = statefulset_rollout_status(sts(partition=3, updated=1, current=OLD, update=NEW))
    assert verdict.done
    assert verdict.message == "partitioned roll out complete: 1 new pods have been updated..."
    assert ("partition", 3) in verdict.counts


def test_statefulset_status_defaults_replicas_and_partition() -> None:
    # spec.replicas unset means 1; no rollingUpdate means partition 0
    verdict = statefulset_rollout_status(sts(replicas=None, partition=None, ready=1, available=1, updated=1))
    assert verdict.done
    assert dict(verdict.counts)["spec"] == 1
    assert dict(verdict.counts)["partition"] == 0
    assert not statefulset_rollout_status(sts(replicas=None, ready=0)).done


def test_statefulset_status_refuses_on_delete() -> None:
    with pytest.raises(ConfigError, match="statefulset \"web\" uses updateStrategy 'OnDelete'"):
        statefulset_rollout_status(sts(strategy="OnDelete"))


def test_statefulset_status_of_an_empty_object_waits() -> None:
    verdict = statefulset_rollout_status({})
    assert not verdict.done
    assert verdict.message == "Waiting for statefulset spec update to be observed..."


def test_set_rollout_status_summary() -> None:
    s = SetRolloutStatus(False, "waiting", (("ready", 1), ("updateRevision", "web-1")))
    assert s.summary() == "waiting [ready 1, updateRevision web-1]"
    assert SetRolloutStatus(True, "done").summary() == "done []"


# --------------------------------------------------------------------------- DaemonSet status


def test_daemonset_status_done() -> None:
    verdict = daemonset_rollout_status(ds(misscheduled=1))
    assert verdict.done
    assert verdict.message == 'daemon set "agent" successfully rolled out'
    assert verdict.counts == (
        ("generation", 2),
        ("observed", 2),
        ("desired", 3),
        ("updated", 3),
        ("available", 3),
        ("current", 3),
        ("misscheduled", 1),
    )


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        (ds(generation=3, observed=2, updated=0), "Waiting for daemon set spec update to be observed..."),
        (
            ds(updated=1, available=1),
            'Waiting for daemon set "agent" rollout to finish: 1 out of 3 new pods have been updated...',
        ),
        (ds(available=2), 'Waiting for daemon set "agent" rollout to finish: 2 of 3 updated pods are available...'),
    ],
)
def test_daemonset_status_waits(obj: dict[str, Any], message: str) -> None:
    verdict = daemonset_rollout_status(obj)
    assert not verdict.done
    assert verdict.message == message


def test_daemonset_status_with_no_nodes_is_done_and_on_delete_refused() -> None:
    assert daemonset_rollout_status(ds(desired=0, updated=0, available=0, current=0)).done
    with pytest.raises(ConfigError, match="daemon set \"agent\" uses updateStrategy 'OnDelete'"):
        daemonset_rollout_status(ds(strategy="OnDelete"))


# --------------------------------------------------------------------------- pods


def test_pod_state_from_api_json() -> None:
    p = pod_state(pod("web-2", NEW, uid="u2", image=IMG_NEW, node="node-b"))
    assert p == PodState(
        name="web-2",
        uid="u2",
        revision=NEW,
        image=IMG_NEW,
        node="node-b",
        ready=True,
        terminating=False,
        waiting_reason=None,
        ip=p.ip,
        exit_code=None,
        labels=p.labels,
    )
    assert dict(p.labels).get("controller-revision-hash") == NEW
    assert p.available


def test_pod_state_terminating_not_ready_and_waiting() -> None:
    gone = pod_state(pod("web-1", terminating=True))
    assert gone.terminating and gone.ready and not gone.available
    stuck = pod_state(pod("web-3", None, ready=False, node=None, waiting="ImagePullBackOff"))
    assert (stuck.ready, stuck.available, stuck.revision, stuck.node, stuck.waiting_reason) == (
        False,
        False,
        None,
        None,
        "ImagePullBackOff",
    )
    bare = pod_state({})
    assert (bare.name, bare.uid, bare.revision, bare.image, bare.node, bare.ready, bare.terminating) == (
        "",
        "",
        None,
        None,
        None,
        False,
        False,
    )


def test_pod_state_takes_the_waiting_reason_of_the_waiting_container() -> None:
    obj = pod("web-0")
    obj["status"]["containerStatuses"] = [
        {"name": "a", "state": {"running": {}}},
        {"name": "b", "state": None},
        {"name": "c", "state": {"waiting": {"reason": "CrashLoopBackOff"}}},
    ]
    assert pod_state(obj).waiting_reason == "CrashLoopBackOff"


@pytest.mark.parametrize(
    ("name", "ordinal"),
    [("web-0", 0), ("web-3", 3), ("my-set-12", 12), ("web", None), ("agent-x7k2p", None), ("", None)],
)
def test_pod_ordinal(name: str, ordinal: int | None) -> None:
    assert pod_ordinal(name) == ordinal


def test_describe_pods_sorted_one_line_each() -> None:
    pods = [
        pod_state(pod("web-1", NEW, image=IMG_NEW, ready=False, waiting="ErrImagePull")),
        pod_state(pod("web-0", OLD, node="node-b")),
        pod_state(pod("web-2", OLD, terminating=True)),
        pod_state(pod("web-3", OLD, ready=False)),
    ]
    assert describe_pods(pods).splitlines() == [
        f"web-0 rev={OLD} image={IMG_OLD} node=node-b ready",
        f"web-1 rev={NEW} image={IMG_NEW} node=node-a ErrImagePull",
        f"web-2 rev={OLD} image={IMG_OLD} node=node-a terminating",
        f"web-3 rev={OLD} image={IMG_OLD} node=node-a not ready",
    ]
    assert describe_pods([]) == "no pods"


# --------------------------------------------------------------------------- pod lives, update order


def _statefulset_roll() -> list[PodEvent]:
    """Two ordinals rolled OLD -> NEW highest first (web-1 then web-0), given out of time order
    (the helpers sort by time; events of one instant keep their order, as a list gives them)."""
    events = [
        ev(0.0, "listed", "web-0"),
        ev(0.0, "listed", "web-1"),
        # web-1 replaced
        ev(1.0, "modified", "web-1", terminating=True),
        ev(2.0, "deleted", "web-1", terminating=True),
        ev(3.0, "added", "web-1", NEW, image=IMG_NEW, ready=False, node=None),
        ev(3.5, "modified", "web-1", NEW, image=IMG_NEW, ready=False, node="node-b"),
        ev(4.0, "modified", "web-1", NEW, image=IMG_NEW, node="node-b"),
        # web-0 replaced
        ev(5.0, "modified", "web-0", terminating=True),
        ev(6.0, "deleted", "web-0", terminating=True),
        ev(7.0, "added", "web-0", NEW, image=IMG_NEW, ready=False),
        ev(8.0, "modified", "web-0", NEW, image=IMG_NEW),
    ]
    return list(reversed(events[2:])) + events[:2]


def test_pod_lives_one_per_uid_in_order_of_first_appearance() -> None:
    lives = pod_lives(_statefulset_roll())
    assert lives == [
        PodLife(
            name="web-0",
            uid=f"uid-web-0-{OLD}",
            revision=OLD,
            image=IMG_OLD,
            node="node-a",
            first_seen=0.0,
            ready_at=0.0,
            terminating_at=5.0,
            gone_at=6.0,
        ),
        PodLife(
            name="web-1",
            uid=f"uid-web-1-{OLD}",
            revision=OLD,
            image=IMG_OLD,
            node="node-a",
            first_seen=0.0,
            ready_at=0.0,
            terminating_at=1.0,
            gone_at=2.0,
        ),
        PodLife(
            name="web-1",
            uid=f"uid-web-1-{NEW}",
            revision=NEW,
            image=IMG_NEW,
            node="node-b",
            first_seen=3.0,
            ready_at=4.0,
            terminating_at=None,
            gone_at=None,
        ),
        PodLife(
            name="web-0",
            uid=f"uid-web-0-{NEW}",
            revision=NEW,
            image=IMG_NEW,
            node="node-a",
            first_seen=7.0,
            ready_at=8.0,
            terminating_at=None,
            gone_at=None,
        ),
    ]
    assert [life.ordinal for life in lives] == [0, 1, 1, 0]


def test_pod_life_deleted_without_terminating_first_and_ready_only_when_not_terminating() -> None:
    lives = pod_lives(
        [
            ev(1.0, "added", "web-0", ready=False),
            ev(2.0, "modified", "web-0", ready=True, terminating=True),  # ready but going: not "became ready"
            ev(3.0, "deleted", "web-0", ready=True, terminating=True),
            ev(1.0, "added", "web-1", ready=False),
            ev(4.0, "deleted", "web-1", ready=False),  # gone without a terminating update seen
        ]
    )
    by_name = {life.name: life for life in lives}
    assert (by_name["web-0"].ready_at, by_name["web-0"].terminating_at, by_name["web-0"].gone_at) == (None, 2.0, 3.0)
    assert (by_name["web-1"].ready_at, by_name["web-1"].terminating_at, by_name["web-1"].gone_at) == (None, 4.0, 4.0)
    assert pod_lives([]) == []


def test_update_order_names_pods_made_at_a_revision_within_the_window() -> None:
    events = _statefulset_roll()
    assert update_order(events, NEW, since=0.0) == ["web-1", "web-0"]
    assert update_order(events, NEW, since=0.0, until=7.0) == ["web-1"]  # until is exclusive
    assert update_order(events, NEW, since=7.0) == ["web-0"]  # since is inclusive
    assert update_order(events, OLD, since=0.0) == ["web-0", "web-1"]
    assert update_order(events, OLD, since=0.5) == []
    assert update_order(events, "web-unknown", since=0.0) == []


# --------------------------------------------------------------------------- revision points


def test_revision_points_count_pods_per_revision_over_time() -> None:
    points = revision_points(_statefulset_roll(), "web")
    assert points == [
        ReplicaPoint(0.0, OLD, 2, 2, 2, OLD),  # the list: one point for both pods
        ReplicaPoint(1.0, OLD, 1, 2, 1, OLD),  # web-1 terminating: no longer a replica, not available
        ReplicaPoint(2.0, OLD, 1, 1, 1, OLD),
        ReplicaPoint(3.0, NEW, 1, 0, 0, NEW),
        # 3.5: node assigned, counts unchanged: no point
        ReplicaPoint(4.0, NEW, 1, 1, 1, NEW),
        ReplicaPoint(5.0, OLD, 0, 1, 0, OLD),
        ReplicaPoint(6.0, OLD, 0, 0, 0, OLD),  # last old pod gone: once at zero
        ReplicaPoint(7.0, NEW, 2, 1, 1, NEW),
        ReplicaPoint(8.0, NEW, 2, 2, 2, NEW),
    ]
    assert [p.t for p in points].count(6.0) == 1
    assert not any(p.owner == OLD and p.t > 6.0 for p in points)  # zero recorded only once


def test_revision_points_owner_names_for_daemonset_hashes_and_unlabelled_pods() -> None:
    points = revision_points(
        [
            ev(0.0, "listed", "agent-abcde", "6f7d9b8c4", uid="a"),
            ev(0.0, "listed", "agent-fghij", None, uid="b", ready=False),
            ev(1.0, "deleted", "agent-fghij", None, uid="b", ready=False),
        ],
        "agent",
    )
    assert points == [
        ReplicaPoint(0.0, "agent-6f7d9b8c4", 1, 1, 1, "agent-6f7d9b8c4"),
        ReplicaPoint(0.0, "agent-unlabelled", 1, 0, 0, "agent-unlabelled"),
        ReplicaPoint(1.0, "agent-unlabelled", 0, 0, 0, "agent-unlabelled"),
    ]
    assert revision_points([], "agent") == []


def test_revision_points_group_only_events_at_the_same_instant() -> None:
    # a relist at t=5 reports the same pod again, unchanged: no new point
    events = [ev(0.0, "listed", "web-0"), ev(5.0, "listed", "web-0"), ev(5.0, "listed", "web-1", ready=False)]
    assert revision_points(events, "web") == [
        ReplicaPoint(0.0, OLD, 1, 1, 1, OLD),
        ReplicaPoint(5.0, OLD, 2, 1, 1, OLD),
    ]


# --------------------------------------------------------------------------- hand-overs


def test_handoff_in_order() -> None:
    assert Handoff("web-3", 4.0, "web-2", 4.0).in_order
    assert Handoff("web-3", 4.0, "web-2", 5.0).in_order
    assert not Handoff("web-3", 5.0, "web-2", 4.0).in_order
    assert not Handoff("web-3", None, "web-2", 4.0).in_order
    assert not Handoff("web-3", 4.0, "web-2", None).in_order


def test_ordinal_handoffs_pair_each_new_pod_with_the_next_old_one() -> None:
    lives = pod_lives(_statefulset_roll())
    handoffs = ordinal_handoffs(lives, ["web-1", "web-0"], NEW, since=0.0)
    assert handoffs == [Handoff(ready="web-1", ready_at=4.0, replaced="web-0", terminating_at=5.0)]
    assert all(h.in_order for h in handoffs)
    # a window that misses the new web-1: its readiness is unknown, so not in order
    late = ordinal_handoffs(lives, ["web-1", "web-0"], NEW, since=4.5)
    assert late == [Handoff("web-1", None, "web-0", 5.0)]
    assert not late[0].in_order
    assert ordinal_handoffs(lives, ["web-1"], NEW, since=0.0) == []


def test_ordinal_handoffs_flag_an_old_pod_gone_before_its_predecessor_was_ready() -> None:
    events = [
        ev(0.0, "listed", "web-0"),
        ev(0.0, "listed", "web-1"),
        ev(1.0, "deleted", "web-1"),
        ev(2.0, "added", "web-1", NEW, ready=False),
        ev(3.0, "modified", "web-0", terminating=True),  # too early: web-1 not Ready yet
        ev(4.0, "modified", "web-1", NEW),
    ]
    assert ordinal_handoffs(pod_lives(events), ["web-1", "web-0"], NEW, since=0.0) == [
        Handoff("web-1", 4.0, "web-0", 3.0)
    ]
    assert not ordinal_handoffs(pod_lives(events), ["web-1", "web-0"], NEW, since=0.0)[0].in_order


def test_node_handoffs_pair_old_and_new_pods_by_node() -> None:
    h1, h2 = "6f7d9b8c4", "77c5d9f6b"
    events = [
        ev(0.0, "listed", "agent-a1", h1, node="node-a"),
        ev(0.0, "listed", "agent-b1", h1, node="node-b"),
        ev(0.0, "listed", "agent-c1", h1, node="node-c"),
        # node-a: surge, new Ready before old goes
        ev(1.0, "added", "agent-a2", h2, node="node-a", ready=False),
        ev(2.0, "modified", "agent-a2", h2, node="node-a"),
        ev(2.5, "modified", "agent-a1", h1, node="node-a", terminating=True),
        # node-b: old goes first
        ev(3.0, "modified", "agent-b1", h1, node="node-b", terminating=True),
        ev(3.1, "added", "agent-b2", h2, node="node-b", ready=False),
        ev(4.0, "modified", "agent-b2", h2, node="node-b"),
        # node-c: old deleted, no new pod seen
        ev(5.0, "deleted", "agent-c1", h1, node="node-c"),
    ]
    handoffs = node_handoffs(pod_lives(events), h2, since=0.5)
    assert handoffs == [
        Handoff("agent-a2", 2.0, "agent-a1", 2.5),
        Handoff("agent-b2", 4.0, "agent-b1", 3.0),
        Handoff("(no new pod on node-c)", None, "agent-c1", 5.0),
    ]
    assert [h.in_order for h in handoffs] == [True, False, False]
    assert node_handoffs(pod_lives(events), h2, since=0.5, until=2.6) == [Handoff("agent-a2", 2.0, "agent-a1", 2.5)]
    assert node_handoffs(pod_lives(events), h2, since=6.0) == []


# --------------------------------------------------------------------------- revision history


def test_set_revisions_keeps_the_owners_revisions_by_number() -> None:
    revisions = [
        controller_revision("web-7b9c4a", 4, IMG_NEW),
        controller_revision("web-5d8f7c", 3, IMG_OLD),
        controller_revision("other-1", 1, IMG_OLD, owner="other"),
        controller_revision("agent-6f7d9b8c4", 1, IMG_OLD, kind="DaemonSet", owner="web"),
        controller_revision("web-orphan", 2, IMG_OLD, controller=False),
        controller_revision("web-empty", 5, None),
        {"metadata": {"name": "no-owner"}, "revision": 9},
    ]
    assert set_revisions(revisions, "StatefulSet", "web") == [
        SetRevision(3, "web-5d8f7c", IMG_OLD),
        SetRevision(4, "web-7b9c4a", IMG_NEW),
        SetRevision(5, "web-empty", None),
    ]
    assert set_revisions(revisions, "DaemonSet", "web") == [SetRevision(1, "agent-6f7d9b8c4", IMG_OLD)]
    assert set_revisions([], "StatefulSet", "web") == []


# --------------------------------------------------------------------------- apply (request only)


class _FakeRaw:
    def __init__(self, body: Any, *, server_side_apply: bool = True, existing: Any = None) -> None:
        self.sent: list[RawRequest] = []
        self.body = body
        self.server_side_apply = server_side_apply
        self.existing = existing

    def call(self, req: RawRequest) -> Any:
        self.sent.append(req)
        return type("Resp", (), {"body": self.body, "status": 201 if req.method == "POST" else 200})()

    def send(self, req: RawRequest) -> Any:
        self.sent.append(req)
        status = 404 if self.existing is None else 200
        return type("Resp", (), {"body": self.existing or {}, "status": status})()

    def check(self, resp: Any) -> Any:
        return resp


def test_apply_object_before_server_side_apply_creates_then_patches_as_kubectl_did() -> None:
    obj = statefulset("web", IMG_OLD)
    raw = _FakeRaw({"kind": "StatefulSet"}, server_side_apply=False)
    apply_object(raw, obj, "ns1")  # type: ignore[arg-type]
    assert [(r.method, r.path) for r in raw.sent] == [
        ("GET", "/apis/apps/v1/namespaces/ns1/statefulsets/web"),
        ("POST", "/apis/apps/v1/namespaces/ns1/statefulsets"),
    ]
    created = json.loads(raw.sent[1].body)
    last = created["metadata"]["annotations"][LAST_APPLIED]
    raw = _FakeRaw({"kind": "StatefulSet"}, server_side_apply=False, existing=created)
    apply_object(raw, statefulset("web", IMG_NEW, "v0.2", partition=3), "ns1")  # type: ignore[arg-type]
    get, patch = raw.sent
    assert (patch.method, patch.content_type) == ("PATCH", STRATEGIC_MERGE_PATCH)
    body = json.loads(patch.body)
    assert body["spec"]["updateStrategy"]["rollingUpdate"]["partition"] == 3
    assert body["metadata"]["annotations"][LAST_APPLIED] != last


def test_apply_object_sends_a_forced_apply_into_the_namespace() -> None:
    raw = _FakeRaw({"kind": "StatefulSet", "metadata": {"name": "web"}})
    obj = statefulset("web", IMG_OLD)
    out = apply_object(raw, obj, "ns1")  # type: ignore[arg-type]
    assert out == {"kind": "StatefulSet", "metadata": {"name": "web"}}
    (req,) = raw.sent
    assert (req.method, req.path, req.content_type) == (
        "PATCH",
        "/apis/apps/v1/namespaces/ns1/statefulsets/web",
        APPLY_PATCH_YAML,
    )
    assert dict(req.params) == {"fieldManager": FIELD_MANAGER, "force": "true"}
    sent = yaml.safe_load(req.body)
    assert sent["metadata"]["namespace"] == "ns1"
    assert "namespace" not in obj["metadata"]  # the caller's manifest is not changed
    raw2 = _FakeRaw("not json")
    assert apply_object(raw2, daemonset("agent", IMG_OLD), "ns1") == {}  # type: ignore[arg-type]
    assert raw2.sent[0].path == "/apis/apps/v1/namespaces/ns1/daemonsets/agent"


@pytest.mark.parametrize(
    ("obj", "match"),
    [
        ({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}}, "not apps/v1/Deployment"),
        ({"apiVersion": "v1", "kind": "StatefulSet", "metadata": {"name": "x"}}, "not v1/StatefulSet"),
        ({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {}}, "DaemonSet manifest has no metadata.name"),
    ],
)
def test_apply_object_refuses_other_kinds_and_nameless(obj: dict[str, Any], match: str) -> None:
    raw = _FakeRaw({})
    with pytest.raises(ConfigError, match=match):
        apply_object(raw, obj, "ns1")  # type: ignore[arg-type]
    assert raw.sent == []


# --------------------------------------------------------------------------- the watcher's records


def test_pod_watcher_records_only_changes_and_is_bounded() -> None:
    client = kubernetes.client.ApiClient()
    try:
        w = PodWatcher(client, "ns", {"app": "web"}, max_events=3)  # not started: no I/O
        a = pod_state(pod("web-0", uid="a", ready=False))
        w._record("listed", a, 1.0)
        w._record("modified", a, 2.0)  # unchanged: not recorded again
        w._record("deleted", pod_state(pod("web-9", uid="z")), 2.5)  # never seen: nothing to delete
        ready = pod_state(pod("web-0", uid="a"))
        w._record("modified", ready, 3.0)
        w._record("deleted", ready, 4.0)
        w._record("added", pod_state(pod("web-1", uid="b")), 5.0)  # over max_events
        assert [(e.t, e.kind, e.pod.uid, e.pod.ready) for e in w.events] == [
            (1.0, "listed", "a", False),
            (3.0, "modified", "a", True),
            (4.0, "deleted", "a", True),
        ]
        assert w.truncated
        assert not w.running
        assert w.stop() == w.events  # never started: stop just returns
    finally:
        client.close()  # type: ignore[no-untyped-call]


def test_daemonset_surge_counts_no_terminating_pod() -> None:
    """Two nodes, maxSurge 1: node a's old pod is still terminating (preStop) when node b surges.
    The controller counts no pod whose deletion has begun, so the bound desired + 1 holds."""
    from harness.assertions import assert_replica_bounds

    events = [
        ev(0.0, "listed", "agent-a", node="node-a"),
        ev(0.0, "listed", "agent-b", node="node-b"),
        ev(1.0, "added", "agent-a2", NEW, node="node-a", ready=False),
        ev(2.0, "modified", "agent-a2", NEW, node="node-a"),
        ev(2.1, "modified", "agent-a", node="node-a", terminating=True),
        ev(2.2, "added", "agent-b2", NEW, node="node-b", ready=False),  # surge on b while a's old pod terminates
        ev(3.0, "modified", "agent-b2", NEW, node="node-b"),
        ev(3.1, "modified", "agent-b", node="node-b", terminating=True),
        ev(6.1, "deleted", "agent-a", node="node-a", terminating=True),
        ev(7.1, "deleted", "agent-b", node="node-b", terminating=True),
    ]
    points = revision_points(events, "agent")
    instants = assert_replica_bounds(points, desired=2, max_surge=1, max_unavailable=0)
    assert max(i.replicas for i in instants) == 3
    existing = max(sum(1 for e in events if e.t <= i.t and e.kind != "deleted") for i in instants)
    assert existing >= 4  # pods that exist, terminating ones included, did reach desired + 2


def test_label_points_group_pods_by_a_label() -> None:
    events = [ev(0.0, "listed", "rc-1", labels={"ver": "v0.1"}), ev(1.0, "added", "rc-2", labels={"ver": "v0.2"})]
    points = label_points(events, "ver", "rc-demo")
    assert [(p.t, p.owner, p.replicas) for p in points] == [(0.0, "rc-demo-v0.1", 1), (1.0, "rc-demo-v0.2", 1)]
