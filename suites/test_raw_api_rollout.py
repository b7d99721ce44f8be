"""Deployment rolling updates through raw API PATCHes (strategic-merge, merge, JSON patch), and the history
they leave."""

from __future__ import annotations

import logging

import pytest

from harness.assertions import assert_verdicts
from harness.kube.patches import (
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_MERGE_PATCH,
    deployment_path,
    get_object,
    merge_patch,
    object_path,
)
from harness.manifests import deployment
from harness.rawscenarios import (
    DEMO_CONTAINER,
    DEMO_VERSION_ENV,
    ROLLOUT_CONTENT_TYPES,
    change_cause,
    container_names,
    containers,
    post_object,
    rollout_patch,
    without_change_cause,
)
from harness.report import HistoryEntry
from harness.rollout.history import with_change_cause

log = logging.getLogger("rollproof.suites")

DESIRED = 4
SHORT = {STRATEGIC_MERGE_PATCH: "smp", MERGE_PATCH: "merge", JSON_PATCH: "jsonpatch"}


def _create(raw_api, namespace, manifest):
    """POST the manifest (what `kubectl create -f` sends); returns the created object."""
    return raw_api.call(post_object(object_path("apps/v1", "deployments", None, namespace), manifest)).body


def _record_history(record, history):
    record.history.extend(HistoryEntry(str(r.revision), r.change_cause, ",".join(r.images)) for r in history)


def _demo_container(obj):
    return next(c for c in containers(obj) if c.get("name") == DEMO_CONTAINER)


@pytest.mark.parametrize("content_type", ROLLOUT_CONTENT_TYPES, ids=[SHORT[c] for c in ROLLOUT_CONTENT_TYPES])
def test_raw_patch_rollout_drops_no_request(
    namespace, raw_api, deployments, probed_service, app_images, record, timeouts, content_type
):
    """Deployment rolling update v0.1 -> v0.2 sent as one raw PATCH drops no request.

    MUST hold for each PATCH flavour — application/strategic-merge-patch+json
    and application/merge-patch+json carrying the whole v0.2 manifest (merge
    patch is the walkthrough's shortcut), application/json-patch+json carrying
    test+replace operations on the image and DEPLOYMENT_DEMO_VER: the PATCH
    answers 200; the rollout completes; for both samplers the whole rollout
    probed and zero failed requests; the old Server header first, the new one
    last and no old answer once the rollout settled; the live
    object has its one container on the new image with DEPLOYMENT_DEMO_VER=v0.2;
    history holds revisions 1 (old image) and 2 (new image).
    """
    record.scenario += f" [{content_type}]"  # one matrix row per flavour
    name = f"raw-{SHORT[content_type]}"
    old, new = app_images["old"], app_images["new"]
    path = deployment_path(namespace, name)

    log.info("POST %s v0.1 (%s) behind a Service", name, old.image)
    probed_service.expose(name, {"app": name})
    _create(raw_api, namespace, deployment(name, old.image, "v0.1", replicas=DESIRED))
    deployments.wait_rollout_complete(name, timeouts.rollout)
    probed = probed_service(name, {"app": name})
    watcher = deployments.watch_replicasets(name)
    probed.watch(watcher)

    current = raw_api.call(get_object(path)).body
    request = rollout_patch(
        content_type, path, current, deployment(name, new.image, "v0.2", replicas=DESIRED), new.image, "v0.2"
    )
    log.info("PATCH %s v0.2 (%s) as %s: %s", name, new.image, content_type, request.body[:300].decode())
    with probed.phase(f"PATCH as {content_type}", (old.server, new.server)):
        answer = raw_api.call(request)
        deployments.wait_rollout_complete(name, timeouts.rollout)
    log.info("rollout complete; observing the settled state")
    analyses = probed.finish()
    record.points.extend(watcher.stop())
    history = deployments.history(name)
    _record_history(record, history)
    live = deployments.get(name)
    nginx = _demo_container(live)
    env = {e["name"]: e.get("value") for e in nginx.get("env") or []}
    record.check(
        f"rollout PATCH as {content_type}",
        f"{answer.status}; revisions {[r.revision for r in history]}; containers {container_names(live)}",
    )

    assert answer.status == 200
    assert_verdicts(analyses)
    assert container_names(live) == [DEMO_CONTAINER]
    assert (nginx["image"], env) == (new.image, {DEMO_VERSION_ENV: "v0.2"})
    assert [(r.revision, r.images) for r in history] == [(1, (old.image,)), (2, (new.image,))]


def test_raw_patch_history_keeps_the_earlier_change_cause(
    namespace, raw_api, deployments, probed_service, app_images, record, timeouts
):
    """A raw PATCH that leaves kubernetes.io/change-cause alone records the EARLIER cause on the new revision.

    MUST hold: created with change-cause "create raw-history v0.1", a merge
    PATCH of the whole v0.2 manifest WITHOUT the annotation makes revision 2,
    and revision 2 carries "create raw-history v0.1" — the walkthrough's
    inaccurate history, whose cause is that the Deployment keeps the stale
    annotation and the controller copies the Deployment's annotations onto the
    new ReplicaSet. A PATCH to v0.3 that sets the annotation makes revision 3
    with its own cause "update raw-history to v0.3"; revision 1 keeps its cause.
    Both rollouts are probed and drop no request.
    """
    name = "raw-history"
    old, new = app_images["old"], app_images["new"]
    path = deployment_path(namespace, name)
    created_cause = f"create {name} v0.1"
    updated_cause = f"update {name} to v0.3"

    log.info("POST %s v0.1 with change-cause %r", name, created_cause)
    probed_service.expose(name, {"app": name})
    _create(raw_api, namespace, with_change_cause(deployment(name, old.image, "v0.1"), created_cause))
    deployments.wait_rollout_complete(name, timeouts.rollout)
    probed = probed_service(name, {"app": name})

    log.info("merge PATCH v0.2 (%s) without touching %s", new.image, "kubernetes.io/change-cause")
    with probed.phase("merge PATCH v0.2 without a cause", (old.server, new.server)):
        patched = raw_api.call(merge_patch(path, without_change_cause(deployment(name, new.image, "v0.2")))).body
        deployments.wait_rollout_complete(name, timeouts.rollout)
    after_stale = deployments.history(name)
    log.info("history after the PATCH without a cause: %s", [(r.revision, r.change_cause) for r in after_stale])
    record.check(
        "change-cause after a PATCH that leaves it alone",
        f"revision 2: {after_stale[-1].change_cause!r} (Deployment still: {change_cause(patched)!r})",
    )

    log.info("merge PATCH v0.3 (%s) setting change-cause %r", new.image, updated_cause)
    with probed.phase("merge PATCH v0.3 with a cause", (new.server,)):
        raw_api.call(merge_patch(path, with_change_cause(deployment(name, new.image, "v0.3"), updated_cause)))
        deployments.wait_rollout_complete(name, timeouts.rollout)
    analyses = probed.finish()
    history = deployments.history(name)
    _record_history(record, history)
    log.info("history after the PATCH with a cause: %s", [(r.revision, r.change_cause) for r in history])
    record.check("change-cause after a PATCH that sets it", f"revision 3: {history[-1].change_cause!r}")

    assert change_cause(patched) == created_cause, "the PATCH without a cause must leave the Deployment's stale one"
    assert [(r.revision, r.change_cause) for r in after_stale] == [(1, created_cause), (2, created_cause)], (
        "revision 2 must carry the EARLIER cause (the documented inaccuracy)"
    )
    assert [(r.revision, r.change_cause) for r in history] == [
        (1, created_cause),
        (2, created_cause),
        (3, updated_cause),
    ]
    assert [r.images for r in history] == [(old.image,), (new.image,), (new.image,)]
    assert_verdicts(analyses)
