"""Deployment rolling updates, the kubectl-equivalent way (apply with a change-cause, rollout status)."""

from __future__ import annotations

import logging

from harness.assertions import assert_no_failures, assert_replica_bounds, assert_version_order
from harness.demo import create_service, observe_for, wait_first_answer
from harness.manifests import deployment
from harness.report import HistoryEntry
from harness.samples import clock

log = logging.getLogger("rollproof.suites")

NAME = "deployment-demo"


def test_deployment_rolling_update_drops_no_request(cluster, core_api, namespace, deployments, service_prober,
                                                    app_images, record, timeouts):
    """Deployment rolling update v0.1 -> v0.2 drops no request.

    MUST hold: zero failed probes through the Service the whole time; the old
    Server header answers first and the new one last, with no old answer once the
    rollout is complete; ReplicaSet replicas never exceed 4 + maxSurge 1 nor fall
    below 4 - maxUnavailable 0 available; history holds revisions 1 and 2 with
    their change-causes.
    """
    old, new = app_images["old"], app_images["new"]
    record.expected_versions = (old.server, new.server)

    log.info("create %s v0.1 (%s) behind a Service", NAME, old.image)
    deployments.apply(deployment(NAME, old.image, "v0.1"), change_cause=f"create {NAME} v0.1")
    create_service(core_api, cluster, namespace, NAME, {"app": NAME})
    deployments.wait_rollout_complete(NAME, timeouts.rollout)

    prober = service_prober(NAME)
    first = wait_first_answer(prober, timeouts.pods_ready, timeouts.poll_interval)
    watcher = deployments.watch_replicasets(NAME)

    log.info("apply v0.2 (%s)", new.image)
    with record.rollout():
        deployments.apply(deployment(NAME, new.image, "v0.2"), change_cause=f"update {NAME} to v0.2")
        deployments.wait_rollout_complete(NAME, timeouts.rollout)
    complete_at = clock()
    observe_for(timeouts.endpoint_propagation + timeouts.probe_settle)
    record.samples.extend(s for s in prober.stop() if s.start >= first.start)  # from the first answer on
    record.points.extend(watcher.stop())
    history = deployments.history(NAME)
    record.history.extend(HistoryEntry(str(r.revision), r.change_cause, ",".join(r.images)) for r in history)

    assert_no_failures(record.samples, steps=record.steps)
    assert_version_order(record.samples, old.server, new.server,
                         settled_at=complete_at + timeouts.endpoint_propagation)
    rollout_points = [p for p in record.points if p.t >= record.t0]
    assert_replica_bounds(rollout_points, desired=4, max_surge=1, max_unavailable=0)
    assert [(r.revision, r.change_cause) for r in history] == [
        (1, f"create {NAME} v0.1"), (2, f"update {NAME} to v0.2")]
