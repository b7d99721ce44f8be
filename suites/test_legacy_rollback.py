"""The legacy rollback subresource (POST .../deployments/NAME/rollback) by version, against what works today."""

from __future__ import annotations

import logging

import pytest

from harness.assertions import assert_verdicts
from harness.kube.patches import ROLLBACK_GROUP_VERSIONS, rollback_request, strip_pod_template_hash
from harness.manifests import deployment
from harness.rawscenarios import expect, observed
from harness.report import HistoryEntry

log = logging.getLogger("rollproof.suites")

PREVIOUS = 0  # the rollback body's "revision 0": the previous revision, to the old server


def _check_name(group_version):
    return f"rollback-{group_version.replace('/', '-')}"


def _two_revisions(deployments, app_images, timeouts, name):
    """The demo Deployment at revision 1 (old image) then revision 2 (new image), both rolled out."""
    old, new = app_images["old"], app_images["new"]
    log.info("apply %s v0.1 (%s)", name, old.image)
    deployments.apply(deployment(name, old.image, "v0.1"), change_cause=f"create {name} v0.1")
    deployments.wait_rollout_complete(name, timeouts.rollout)
    log.info("apply %s v0.2 (%s)", name, new.image)
    deployments.apply(deployment(name, new.image, "v0.2"), change_cause=f"update {name} to v0.2")
    deployments.wait_rollout_complete(name, timeouts.rollout)
    return deployments.history(name)


def _record_history(record, history):
    record.history.extend(HistoryEntry(str(r.revision), r.change_cause, ",".join(r.images)) for r in history)


@pytest.mark.k8s_version(">=1.16")
def test_legacy_rollback_is_gone_and_undo_works(cluster, namespace, raw_api, deployments, probed_service,
                                                app_images, record, timeouts):
    """The legacy rollback POST is gone since 1.16; kubectl's undo (a JSON patch of the template) works.

    MUST hold: POST .../deployments/NAME/rollback under extensions/v1beta1 and
    apps/v1beta1 gets the table's answer for this version (404) and changes
    nothing (the Deployment stays at revision 2 with the new image); then
    `rollout undo` rolls back: revision 3 runs revision 1's template (its
    ReplicaSet reused, revision-history 1, change-cause of revision 1) and
    revision 1 is gone from the history, which reads 2, 3. The refused POSTs and the
    undo are probed: the Service answers every request, the new version until the
    undo, the old one once it settled.
    """
    name = "legacy-rollback"
    version = (cluster.major, cluster.minor)
    before = _two_revisions(deployments, app_images, timeouts, name)
    first, second = before
    generation = deployments.get(name)["metadata"]["generation"]
    old, new = app_images["old"], app_images["new"]
    probed = probed_service(name, {"app": name})

    for group_version in ROLLBACK_GROUP_VERSIONS:
        request = rollback_request(namespace, name, PREVIOUS, group_version=group_version)
        log.info("POST %s (rollbackTo revision %d)", request.path, PREVIOUS)
        answer = raw_api.send(request)
        log.info("answer %d: %r", answer.status, answer.body)
        record.check(_check_name(group_version), observed(answer.status, answer.body, hide=(namespace,)))
        expect(_check_name(group_version), version, answer.status, answer.body)
    untouched = deployments.get(name)
    assert untouched["metadata"]["generation"] == generation, "a refused rollback must not change the Deployment"
    assert [r.revision for r in deployments.history(name)] == [1, 2]

    log.info("kubectl rollout undo %s (the path that works)", name)
    with probed.phase("rollout undo", (new.server, old.server)):
        undo = deployments.undo(name)
        deployments.wait_rollout_complete(name, timeouts.rollout)
    analyses = probed.finish()
    history = deployments.history(name)
    _record_history(record, history)
    log.info("history after undo: %s", [(r.revision, r.revision_history, r.change_cause) for r in history])
    third = history[-1]
    record.check("rollout undo after the legacy rollback",
                 f"{undo.exchange.status if undo.exchange else 'skipped'} {undo.exchange.content_type if undo.exchange else ''}; "
                 f"revisions {[r.revision for r in history]}, revision 3 = old revision {list(third.revision_history)}")

    assert not undo.skipped and undo.revision == 1
    assert undo.exchange is not None and undo.exchange.status == 200
    assert [r.revision for r in history] == [2, 3], "revision 1 must be gone: undo renumbers it to 3"
    assert third.replicaset == first.replicaset and third.revision_history == (1,)
    assert strip_pod_template_hash(third.template) == strip_pod_template_hash(first.template)
    assert (third.images, third.change_cause) == (first.images, first.change_cause)
    assert history[0].replicaset == second.replicaset
    assert_verdicts(analyses)


@pytest.mark.k8s_version("<1.16")
def test_legacy_rollback_on_old_servers(cluster, namespace, raw_api, deployments, app_images, record, timeouts):
    """On servers before 1.16 the legacy rollback POST is served; its answer is recorded as it is.

    MUST hold: POST .../deployments/NAME/rollback (rollbackTo revision 0, the
    previous one) under extensions/v1beta1 and apps/v1beta1 gets the table's
    answer for this version; each body is recorded verbatim for the matrix,
    and the history after each is recorded too.
    """
    name = "legacy-rollback-old"
    version = (cluster.major, cluster.minor)
    _record_history(record, _two_revisions(deployments, app_images, timeouts, name))

    for group_version in ROLLBACK_GROUP_VERSIONS:
        request = rollback_request(namespace, name, PREVIOUS, group_version=group_version)
        log.info("POST %s (rollbackTo revision %d)", request.path, PREVIOUS)
        answer = raw_api.send(request)
        log.info("answer %d: %r", answer.status, answer.body)
        record.check(_check_name(group_version), observed(answer.status, answer.body, hide=(namespace,)))
        record.check(f"{_check_name(group_version)} body", repr(answer.body))
        expect(_check_name(group_version), version, answer.status, answer.body)
        deployments.wait_rollout_complete(name, timeouts.rollout)
        history = deployments.history(name)
        log.info("history after %s rollback: %s", group_version,
                 [(r.revision, r.revision_history, r.images) for r in history])
        _record_history(record, history)
