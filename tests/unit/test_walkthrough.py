"""The walkthrough's raw requests are built as it sent them."""

import json

import pytest

from harness.kube.patches import JSON, JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH
from harness.walkthrough import PATCH_CHECKS, demo_manifest, walkthrough_patch, walkthrough_rollback


def test_rollback_is_the_walkthroughs_post_byte_for_byte() -> None:
    request = walkthrough_rollback("default")
    assert (request.method, request.path, request.content_type, request.params) == (
        "POST",
        "/apis/extensions/v1beta1/namespaces/default/deployments/deployment-demo/rollback",
        JSON,
        (),
    )
    assert json.loads(request.body) == {"name": "deployment-demo", "rollbackTo": {"revision": 0}}


@pytest.mark.parametrize("content_type", [STRATEGIC_MERGE_PATCH, MERGE_PATCH, JSON_PATCH])
def test_each_patch_sends_the_whole_v0_2_manifest_to_extensions_v1beta1(content_type) -> None:
    manifest = demo_manifest("nginx:new", "v0.2")
    request = walkthrough_patch("default", content_type, manifest)
    assert request.path == "/apis/extensions/v1beta1/namespaces/default/deployments/deployment-demo"
    assert (request.method, request.content_type, request.params) == ("PATCH", content_type, ())
    body = json.loads(request.body)
    assert body["apiVersion"] == "extensions/v1beta1" and body["metadata"]["name"] == "deployment-demo"
    env = body["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "DEPLOYMENT_DEMO_VER", "value": "v0.2"} in env


def test_json_patch_body_is_an_object_as_the_walkthrough_sent_it() -> None:
    body = json.loads(walkthrough_patch("ns", JSON_PATCH, demo_manifest("i", "v0.2")).body)
    assert isinstance(body, dict)  # not a list of operations: the refusal is the point


def test_patch_checks_are_in_the_walkthroughs_order() -> None:
    assert list(PATCH_CHECKS) == [STRATEGIC_MERGE_PATCH, MERGE_PATCH, JSON_PATCH]
    with pytest.raises(ValueError, match="PATCHed as"):
        walkthrough_patch("ns", JSON, {})
