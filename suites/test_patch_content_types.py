"""How the live API server answers each PATCH content type: refusals by version, and the list rules of each merge."""

from __future__ import annotations

import logging
import secrets

import pytest

from harness.errors import NotFound
from harness.kube.patches import (
    JSON,
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_MERGE_PATCH,
    apply_patch,
    deployment_path,
    get_object,
    merge_patch,
    object_path,
    strategic_merge_patch,
)
from harness.manifests import deployment
from harness.poll import poll
from harness.rawscenarios import (
    DEMO_CONTAINER,
    DEMO_VERSION_ENV,
    LIST_EXTRA_ENV,
    LIST_SIDECAR,
    accepted_media_types,
    crd_established,
    crd_manifest,
    custom_object,
    delete_object,
    desired_state,
    env_names,
    expect,
    list_patch,
    list_view,
    managers_of,
    observed,
    post_object,
    with_content_type,
    without_params,
)

log = logging.getLogger("rollproof.suites")

OWNER, CHALLENGER = "rp-owner", "rp-challenger"


def _target(raw_api, namespace, name, image, *, manager=None):
    """A demo Deployment with 0 replicas (a live object to patch, no pods).

    Created by server-side apply as field `manager` when one is given (the apply
    scenarios), else by POST (what `kubectl create` sends: every version has it)."""
    path = deployment_path(namespace, name)
    manifest = deployment(name, image, "v0.1", replicas=0)
    if manager is None:
        log.info("POST %s (0 replicas)", name)
        raw_api.call(post_object(object_path("apps/v1", "deployments", None, namespace), manifest))
    else:
        log.info("apply %s (0 replicas) as field manager %s", name, manager)
        raw_api.call(apply_patch(path, manifest, field_manager=manager))
    return path


def _send_refused(raw_api, path, request):
    """Send a request meant to be refused; return the answer and whether the object kept its desired state."""
    before = desired_state(raw_api.call(get_object(path)).body)
    answer = raw_api.send(request)
    after = desired_state(raw_api.call(get_object(path)).body)
    return answer, after == before


def test_json_patch_with_an_object_is_refused(server_version, namespace, raw_api, app_images, record):
    """A JSON object sent as application/json-patch+json is refused with the decode error.

    MUST hold: the answer is the table's for this version (400, message naming
    the JSON decode error: a JSON patch is an array of operations) and the
    Deployment is unchanged.
    """
    name = "ct-jsonpatch-object"
    path = _target(raw_api, namespace, name, app_images["old"].image)
    body = {"spec": {"revisionHistoryLimit": 3}}
    log.info("PATCH %s as %s with a JSON object %s", name, JSON_PATCH, body)
    answer, unchanged = _send_refused(raw_api, path, with_content_type(merge_patch(path, body), JSON_PATCH))
    record.check("json-patch-with-object", observed(answer.status, answer.body, hide=(namespace,)))
    expect("json-patch-with-object", server_version, answer.status, answer.body)
    assert unchanged, "the refused PATCH changed the Deployment"


def test_patch_with_an_unsupported_content_type_is_refused(server_version, namespace, raw_api, app_images, record):
    """A PATCH whose Content-Type is no patch type (application/json) is refused as unsupported media.

    MUST hold: the table's answer for this version and the Deployment is
    unchanged. For a built-in resource the API route's Consumes filter answers
    (415 "Unsupported Media Type", check patch-unsupported-content-type-builtin-route)
    before the patch handler could say "unknown format" (the table's
    patch-unsupported-content-type row, which a Deployment does not show on 1.34).
    """
    name = "ct-unsupported"
    path = _target(raw_api, namespace, name, app_images["old"].image)
    log.info("PATCH %s with Content-Type %s", name, JSON)
    request = with_content_type(merge_patch(path, {"spec": {"revisionHistoryLimit": 3}}), JSON)
    answer, unchanged = _send_refused(raw_api, path, request)
    check = "patch-unsupported-content-type-builtin-route"
    record.check(check, observed(answer.status, answer.body, hide=(namespace,)))
    expect(check, server_version, answer.status, answer.body)
    assert unchanged, "the refused PATCH changed the Deployment"


@pytest.mark.needs("apply-without-field-manager")
def test_apply_without_field_manager_is_refused(server_version, namespace, raw_api, app_images, record):
    """Server-side apply (application/apply-patch+yaml) without ?fieldManager= is refused.

    MUST hold: the table's answer for this version (422 naming fieldManager
    from 1.18 on) and the Deployment is unchanged.
    """
    name = "ct-apply-no-manager"
    path = _target(raw_api, namespace, name, app_images["old"].image, manager=OWNER)
    request = without_params(
        apply_patch(path, deployment(name, app_images["new"].image, "v0.2", replicas=0)), "fieldManager"
    )
    log.info("PATCH %s as apply-patch+yaml with params %s (no fieldManager)", name, request.params)
    answer, unchanged = _send_refused(raw_api, path, request)
    record.check("apply-without-field-manager", observed(answer.status, answer.body, hide=(namespace,)))
    expect("apply-without-field-manager", server_version, answer.status, answer.body)
    assert unchanged, "the refused apply changed the Deployment"


@pytest.mark.needs("apply-conflict-without-force", "apply-conflict-with-force")
def test_conflicting_apply_needs_force(server_version, namespace, raw_api, app_images, record):
    """A server-side apply of a field another manager owns conflicts, unless forced.

    MUST hold: rp-owner applies the Deployment (revisionHistoryLimit 10);
    rp-challenger applying revisionHistoryLimit 3 gets the table's answer
    (409 naming the conflict) and changes nothing; the same apply with
    force=true gets the table's answer (200), the live value is 3 and
    rp-challenger alone owns the field.
    """
    name = "ct-apply-conflict"
    version = server_version
    path = _target(raw_api, namespace, name, app_images["old"].image, manager=OWNER)
    before = raw_api.call(get_object(path)).body
    field = "f:spec.f:revisionHistoryLimit"
    log.info("%s owns %s: %s", OWNER, field, managers_of(before, field))
    partial = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {"revisionHistoryLimit": 3},
    }

    log.info("apply revisionHistoryLimit=3 as %s without force", CHALLENGER)
    answer, unchanged = _send_refused(raw_api, path, apply_patch(path, partial, field_manager=CHALLENGER))
    record.check("apply-conflict-without-force", observed(answer.status, answer.body, hide=(namespace,)))
    expect("apply-conflict-without-force", version, answer.status, answer.body)
    assert unchanged, "the conflicting apply changed the Deployment"

    log.info("apply revisionHistoryLimit=3 as %s with force=true", CHALLENGER)
    forced = raw_api.send(apply_patch(path, partial, field_manager=CHALLENGER, force=True))
    live = raw_api.call(get_object(path)).body
    owners = managers_of(live, field)
    record.check(
        "apply-conflict-with-force",
        f"{forced.status}; revisionHistoryLimit {live['spec'].get('revisionHistoryLimit')}, owned by {owners}",
    )
    expect("apply-conflict-with-force", version, forced.status, forced.body)
    assert managers_of(before, field) == [OWNER]
    assert (live["spec"]["revisionHistoryLimit"], owners) == (3, [CHALLENGER])


@pytest.mark.parametrize("which", ["containers", "env"])
def test_merge_patch_replaces_lists_strategic_merge_merges_by_name(namespace, raw_api, app_images, record, which):
    """Merge patch replaces a whole list; strategic merge merges it by name (checked on the live objects).

    MUST hold: the same body sent to two identical Deployments — as
    application/merge-patch+json it leaves only the patch's items in the list
    (containers: only "sidecar"; env of nginx: only RP_EXTRA, and the rest of
    the nginx container gone with it); as application/strategic-merge-patch+json
    it merges by `name` (containers: nginx and sidecar; env of nginx:
    DEPLOYMENT_DEMO_VER and RP_EXTRA, the readiness probe kept).
    """
    record.scenario += f" [{which}]"  # one matrix row per list
    old = app_images["old"].image
    body = list_patch(which, old)
    seen = {}
    lives = {}
    for content_type, build in ((MERGE_PATCH, merge_patch), (STRATEGIC_MERGE_PATCH, strategic_merge_patch)):
        name = f"ct-{which}-{'merge' if content_type == MERGE_PATCH else 'smp'}"
        path = _target(raw_api, namespace, name, old)
        before = list_view(raw_api.call(get_object(path)).body, which)
        log.info("PATCH %s as %s: %s (list before: %s)", name, content_type, body, before)
        raw_api.call(build(path, body))
        live = raw_api.call(get_object(path)).body  # the LIVE object, not the PATCH answer
        lives[content_type] = live
        seen[content_type] = list_view(live, which)
        log.info("live %s after %s: %s", which, content_type, seen[content_type])
        record.check(f"{which} list after {content_type}", f"{before} -> {seen[content_type]}")

    nginx_after_merge = next(
        (c for c in lives[MERGE_PATCH]["spec"]["template"]["spec"]["containers"] if c["name"] == DEMO_CONTAINER), None
    )
    nginx_after_smp = next(
        c for c in lives[STRATEGIC_MERGE_PATCH]["spec"]["template"]["spec"]["containers"] if c["name"] == DEMO_CONTAINER
    )
    if which == "containers":
        assert seen[MERGE_PATCH] == [LIST_SIDECAR], "merge patch must replace the whole containers list"
        assert sorted(seen[STRATEGIC_MERGE_PATCH]) == sorted([DEMO_CONTAINER, LIST_SIDECAR]), (
            "strategic merge must merge containers by name"
        )
        assert nginx_after_merge is None
    else:
        assert seen[MERGE_PATCH] == [LIST_EXTRA_ENV], "merge patch must replace the whole env list"
        assert "readinessProbe" not in nginx_after_merge, "merge patch replaced the whole container too"
        assert sorted(seen[STRATEGIC_MERGE_PATCH]) == sorted([DEMO_VERSION_ENV, LIST_EXTRA_ENV]), (
            "strategic merge must merge env by name"
        )
        assert env_names(lives[STRATEGIC_MERGE_PATCH]).count(DEMO_VERSION_ENV) == 1
    assert "readinessProbe" in nginx_after_smp, "strategic merge must keep the rest of the merged container"


# --------------------------------------------------------------------------- a custom resource

KIND, PLURAL = "Widget", "widgets"


def _wait_gone(raw_api, path, timeout, interval):
    def gone():
        status = raw_api.send(get_object(path)).status
        return status == 404, status

    poll(
        gone,
        waited_for=f"{path} to be deleted",
        timeout=timeout,
        interval=interval,
        describe=lambda status: f"still answers {status}",
    )


@pytest.fixture
def widget_crd(raw_api, timeouts):
    """A namespaced CRD with a unique group, established; deleted (and waited for) at the end, even on failure."""
    group = f"rp{secrets.token_hex(4)}.rollproof.io"
    manifest = crd_manifest(group, KIND, PLURAL)
    path = object_path("apiextensions.k8s.io/v1", "customresourcedefinitions", manifest["metadata"]["name"])
    try:
        log.info("create CRD %s", manifest["metadata"]["name"])
        raw_api.call(post_object(object_path("apiextensions.k8s.io/v1", "customresourcedefinitions"), manifest))
        poll(
            lambda: (crd_established(raw_api.call(get_object(path)).body), "condition Established not True"),
            waited_for=f"CRD {manifest['metadata']['name']} to be Established",
            timeout=timeouts.api_request,
            interval=timeouts.poll_interval,
        )
        yield group
    finally:
        log.info("delete CRD %s", manifest["metadata"]["name"])
        answer = raw_api.send(delete_object(path))
        if answer.status != 404:
            raw_api.check(answer)
            _wait_gone(raw_api, path, timeouts.namespace_delete, timeouts.poll_interval)


def _create_custom(raw_api, namespace, group, name, spec, timeouts):
    """POST a Widget, retrying while the fresh CRD's endpoint still answers 404."""
    collection = object_path(f"{group}/v1", PLURAL, None, namespace)

    def created():
        try:
            return True, raw_api.call(post_object(collection, custom_object(group, KIND, name, spec))).body
        except NotFound as exc:
            return False, exc

    return poll(
        created,
        waited_for=f"{collection} to accept a POST",
        timeout=timeouts.api_request,
        interval=timeouts.poll_interval,
    )


@pytest.mark.needs("custom-resource-definition-v1")
def test_custom_resource_refuses_strategic_merge_patch(
    server_version, namespace, raw_api, widget_crd, record, timeouts
):
    """A custom resource refuses application/strategic-merge-patch+json and lists the types it accepts.

    MUST hold: the table's answer for this version (415, message listing the
    accepted media types, merge-patch among them); the listed types include
    application/json-patch+json and application/merge-patch+json and not
    strategic merge; the object is unchanged; the same body as merge-patch+json
    is accepted (200) and replaces the list.
    """
    group = widget_crd
    name = "w-demo"
    _create_custom(raw_api, namespace, group, name, {"items": [{"name": "a", "value": "1"}]}, timeouts)
    path = object_path(f"{group}/v1", PLURAL, name, namespace)
    body = {"spec": {"items": [{"name": "b", "value": "2"}]}}

    log.info("PATCH %s/%s as %s", PLURAL, name, STRATEGIC_MERGE_PATCH)
    answer, unchanged = _send_refused(raw_api, path, strategic_merge_patch(path, body))
    record.check("strategic-merge-patch-custom-resource", observed(answer.status, answer.body, hide=(namespace, group)))
    message = expect("strategic-merge-patch-custom-resource", server_version, answer.status, answer.body)
    accepted = accepted_media_types(message)
    log.info("accepted media types: %s", accepted)
    assert unchanged, "the refused PATCH changed the custom resource"

    log.info("the same body as %s", MERGE_PATCH)
    merged = raw_api.call(merge_patch(path, body)).body
    record.check("merge-patch custom resource", f"200; items {[i['name'] for i in merged['spec']['items']]}")

    assert {JSON_PATCH, MERGE_PATCH} <= set(accepted), f"415 message must list the accepted types: {message!r}"
    assert STRATEGIC_MERGE_PATCH not in accepted
    assert merged["spec"]["items"] == [{"name": "b", "value": "2"}]
