"""kubectl's client-side apply as the harness does it before 1.16: the patch it sends."""

from __future__ import annotations

import json

from harness.kube.clientapply import LAST_APPLIED, client_apply_patch, with_last_applied

V1 = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "annotations": {"kubernetes.io/change-cause": "create web v0.1"}},
    "spec": {"replicas": 4, "paused": False, "template": {"spec": {"containers": [{"name": "nginx", "image": "a"}]}}},
}
V2 = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web"},
    "spec": {"replicas": 4, "template": {"spec": {"containers": [{"name": "nginx", "image": "b"}]}}},
}


def test_the_object_records_itself_as_last_applied_without_that_annotation() -> None:
    out = with_last_applied(V1)
    recorded = json.loads(out["metadata"]["annotations"][LAST_APPLIED])
    assert recorded == V1
    again = with_last_applied(out)["metadata"]["annotations"][LAST_APPLIED]
    assert again == out["metadata"]["annotations"][LAST_APPLIED]
    assert "annotations" not in V2["metadata"]  # the input is not changed


def test_a_field_the_last_apply_set_and_this_one_leaves_out_is_nulled() -> None:
    patch = client_apply_patch(V1, V2)
    assert patch["spec"]["paused"] is None
    assert patch["metadata"]["annotations"]["kubernetes.io/change-cause"] is None  # as server-side apply removes it
    assert patch["spec"]["template"]["spec"]["containers"] == [{"name": "nginx", "image": "b"}]
    assert json.loads(patch["metadata"]["annotations"][LAST_APPLIED]) == V2


def test_without_a_last_apply_the_patch_is_the_manifest() -> None:
    patch = client_apply_patch(None, V2)
    assert {k: v for k, v in patch.items() if k != "metadata"} == {k: v for k, v in V2.items() if k != "metadata"}
