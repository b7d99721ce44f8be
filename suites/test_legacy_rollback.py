"""The walkthrough's raw requests and the legacy rollback subresource, by version, against what works today."""

from __future__ import annotations

import logging

import pytest

from harness.assertions import assert_verdicts
from harness.errors import WaitTimeout
from harness.expectations import expected
from harness.kube.config import call_api
from harness.kube.patches import ROLLBACK_GROUP_VERSIONS, rollback_request, strip_pod_template_hash
from harness.kube.patches import STRATEGIC_MERGE_PATCH, deployment_path, object_path, strategic_merge_patch
from harness.manifests import deployment
from harness.poll import poll
from harness.rawscenarios import expect, observed, post_object
from harness.rollout.history import with_change_cause
from harness.report import HistoryEntry
from harness.walkthrough import (
    NAME as WALKTHROUGH_NAME,
    PATCH_CHECKS,
    ROLLBACK_EVENT_REASON,
    demo_manifest,
    walkthrough_patch,
    walkthrough_rollback,
)

log = logging.getLogger("rollproof.suites")

PREVIOUS = 0  # the rollback body's "revision 0": the previous revision, to the old server


def _check_name(group_version):
    return f"rollback-{group_version.replace('/', '-')}"


def _create(raw_api, namespace, manifest):
    """POST the manifest (what `kubectl create -f` sends): every version has it."""
    raw_api.call(post_object(object_path("apps/v1", "deployments", None, namespace), manifest))


def _two_revisions(raw_api, deployments, namespace, app_images, timeouts, name):
    """The demo Deployment at revision 1 (old image) then revision 2 (new image), both rolled out.

    Created by POST and updated by a strategic-merge PATCH of the whole manifest (what
    `kubectl create --record` then `kubectl patch --record` send), which every version serves."""
    old, new = app_images["old"], app_images["new"]
    log.info("POST %s v0.1 (%s)", name, old.image)
    _create(raw_api, namespace, with_change_cause(deployment(name, old.image, "v0.1"), f"create {name} v0.1"))
    deployments.wait_rollout_complete(name, timeouts.rollout)
    log.info("PATCH %s v0.2 (%s)", name, new.image)
    raw_api.call(
        strategic_merge_patch(
            deployment_path(namespace, name),
            with_change_cause(deployment(name, new.image, "v0.2"), f"update {name} to v0.2"),
        )
    )
    deployments.wait_rollout_complete(name, timeouts.rollout)
    return deployments.history(name)


def _record_history(record, history):
    record.history.extend(HistoryEntry(str(r.revision), r.change_cause, ",".join(r.images)) for r in history)


def _rollback_events(core_api, namespace, name, timeout, interval, expect_one):
    """Messages of the Deployment's DeploymentRollback events; waits up to `timeout` for one when one is due."""
    selector = f"involvedObject.name={name},reason={ROLLBACK_EVENT_REASON}"
    path = object_path("v1", "events", None, namespace)

    def listed():
        events = call_api(
            core_api.list_namespaced_event,
            namespace,
            field_selector=selector,
            method="GET",
            path=path,
            timeout=timeout,
        ).get("items")
        messages = [e.get("message") for e in events or []]
        return bool(messages) or not expect_one, messages

    try:
        return poll(listed, waited_for=f"a {ROLLBACK_EVENT_REASON} event of {name}", timeout=timeout, interval=interval)
    except WaitTimeout:
        return []  # the caller's assertion says what is missing


def test_walkthrough_raw_requests_as_sent(
    server_version, core_api, namespace, raw_api, deployments, probed_service, app_images, record, timeouts
):
    """The walkthrough's own PATCHes and rollback POST, as it sent them, answer as the table says for this version.

    MUST hold: deployment-demo created at v0.1 (old image) by POST; its whole
    v0.2 manifest PATCHed to /apis/extensions/v1beta1/.../deployment-demo as
    strategic-merge, merge and JSON patch (in that order), then the rollback
    POST {"name": "deployment-demo", "rollbackTo": {"revision": 0}}: each gets
    the table's status and message for this version (served before 1.16, 404
    from 1.16). Where the rollback is served, the Deployment then runs revision
    1's image again (as revision 3) and a DeploymentRollback event says it
    rolled back to revision 1; where it is not, the Deployment is still
    revision 1 at v0.1 and there is no such event. Both steps are probed: the
    Service answers every request, with the versions each step should show.
    """
    old, new = app_images["old"], app_images["new"]
    log.info("POST %s v0.1 (%s)", WALKTHROUGH_NAME, old.image)
    probed_service.expose(WALKTHROUGH_NAME, {"app": WALKTHROUGH_NAME})
    _create(raw_api, namespace, deployment(WALKTHROUGH_NAME, old.image, "v0.1"))
    deployments.wait_rollout_complete(WALKTHROUGH_NAME, timeouts.rollout)
    probed = probed_service(WALKTHROUGH_NAME, {"app": WALKTHROUGH_NAME})

    # What this version serves, from the table: the PATCHes roll to v0.2, the rollback back to v0.1.
    patched = expected(PATCH_CHECKS[STRATEGIC_MERGE_PATCH], server_version).status == 200
    served = expected("walkthrough-rollback", server_version).status < 300
    target = demo_manifest(new.image, "v0.2")
    with probed.phase("the walkthrough's PATCHes", (old.server, new.server) if patched else (old.server,)):
        for content_type, check in PATCH_CHECKS.items():
            request = walkthrough_patch(namespace, content_type, target)
            log.info("PATCH %s as %s (whole v0.2 manifest)", request.path, content_type)
            answer = raw_api.send(request)
            log.info("answer %d: %r", answer.status, answer.body if answer.status != 200 else "(the Deployment)")
            record.check(check, observed(answer.status, answer.body if answer.status != 200 else "", hide=(namespace,)))
            expect(check, server_version, answer.status, answer.body)
            if answer.status == 200:
                deployments.wait_rollout_complete(WALKTHROUGH_NAME, timeouts.rollout)
    before_rollback = deployments.history(WALKTHROUGH_NAME)

    request = walkthrough_rollback(namespace)
    with probed.phase("the walkthrough's rollback", (new.server, old.server) if served else (old.server,)):
        log.info("POST %s %s", request.path, request.body.decode())
        answer = raw_api.send(request)
        log.info("answer %d: %r", answer.status, answer.body)
        record.check("walkthrough-rollback", observed(answer.status, answer.body, hide=(namespace,)))
        record.check("walkthrough-rollback body", repr(answer.body))
        expect("walkthrough-rollback", server_version, answer.status, answer.body)
        if served:
            deployments.wait_rollout_complete(WALKTHROUGH_NAME, timeouts.rollout)
    analyses = probed.finish()
    events = _rollback_events(
        core_api, namespace, WALKTHROUGH_NAME, timeouts.api_request, timeouts.poll_interval, expect_one=served
    )
    history = deployments.history(WALKTHROUGH_NAME)
    _record_history(record, history)
    log.info("events %s; history %s", events, [(r.revision, r.revision_history, r.images) for r in history])
    record.check("walkthrough-rollback event", "; ".join(events) or "none")
    record.check(
        "walkthrough history after the rollback", ", ".join(f"{r.revision}: {','.join(r.images)}" for r in history)
    )

    live_image = deployments.get(WALKTHROUGH_NAME)["spec"]["template"]["spec"]["containers"][0]["image"]
    if served:
        assert events == [f'Rolled back deployment "{WALKTHROUGH_NAME}" to revision 1'], events
        assert live_image == old.image and history[-1].images == (old.image,)
        assert history[-1].revision == before_rollback[-1].revision + 1 and history[-1].revision_history == (1,)
    else:
        assert events == [], "no rollback is served here, so no rollback event"
        assert live_image == old.image and [(r.revision, r.images) for r in history] == [(1, (old.image,))]
    assert_verdicts(analyses)


@pytest.mark.needs("legacy-rollback-removed")
def test_legacy_rollback_is_gone_and_undo_works(
    server_version, namespace, raw_api, deployments, probed_service, app_images, record, timeouts
):
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
    probed_service.expose(name, {"app": name})
    before = _two_revisions(raw_api, deployments, namespace, app_images, timeouts, name)
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
        expect(_check_name(group_version), server_version, answer.status, answer.body)
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
    record.check(
        "rollout undo after the legacy rollback",
        f"{undo.exchange.status if undo.exchange else 'skipped'} "
        f"{undo.exchange.content_type if undo.exchange else ''}; "
        f"revisions {[r.revision for r in history]}, revision 3 = old revision {list(third.revision_history)}",
    )

    assert not undo.skipped and undo.revision == 1
    assert undo.exchange is not None and undo.exchange.status == 200
    assert [r.revision for r in history] == [2, 3], "revision 1 must be gone: undo renumbers it to 3"
    assert third.replicaset == first.replicaset and third.revision_history == (1,)
    assert strip_pod_template_hash(third.template) == strip_pod_template_hash(first.template)
    assert (third.images, third.change_cause) == (first.images, first.change_cause)
    assert history[0].replicaset == second.replicaset
    assert_verdicts(analyses)


@pytest.mark.needs("legacy-rollback-served")
def test_legacy_rollback_on_old_servers(server_version, namespace, raw_api, deployments, app_images, record, timeouts):
    """On servers before 1.16 the legacy rollback POST is served; its answer is recorded as it is.

    MUST hold: POST .../deployments/NAME/rollback (rollbackTo revision 0, the
    previous one) under extensions/v1beta1 and apps/v1beta1 gets the table's
    answer for this version; each body is recorded verbatim for the matrix,
    and the history after each is recorded too.
    """
    name = "legacy-rollback-old"
    _record_history(record, _two_revisions(raw_api, deployments, namespace, app_images, timeouts, name))

    for group_version in ROLLBACK_GROUP_VERSIONS:
        request = rollback_request(namespace, name, PREVIOUS, group_version=group_version)
        log.info("POST %s (rollbackTo revision %d)", request.path, PREVIOUS)
        answer = raw_api.send(request)
        log.info("answer %d: %r", answer.status, answer.body)
        record.check(_check_name(group_version), observed(answer.status, answer.body, hide=(namespace,)))
        record.check(f"{_check_name(group_version)} body", repr(answer.body))
        expect(_check_name(group_version), server_version, answer.status, answer.body)
        deployments.wait_rollout_complete(name, timeouts.rollout)
        history = deployments.history(name)
        log.info(
            "history after %s rollback: %s",
            group_version,
            [(r.revision, r.revision_history, r.images) for r in history],
        )
        _record_history(record, history)
