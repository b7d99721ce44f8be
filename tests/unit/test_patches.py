"""Pure request builders: paths, every PATCH flavour, PUT, legacy rollback, op helpers."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import yaml

from harness.errors import ConfigError
from harness.kube import patches as p


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def apply_ops(doc: Any, ops: list[dict[str, Any]]) -> Any:
    """A small RFC 6902 applier (add/replace/remove/test) to check what ops do."""
    doc = copy.deepcopy(doc)
    for op in ops:
        tokens = [_unescape(t) for t in op["path"].split("/")[1:]]
        parent = doc
        for t in tokens[:-1]:
            parent = parent[int(t)] if isinstance(parent, list) else parent[t]
        last = tokens[-1]
        if op["op"] == "test":
            cur = parent[int(last)] if isinstance(parent, list) else parent[last]
            assert cur == op["value"], f"test failed at {op['path']}"
        elif op["op"] == "add":
            if isinstance(parent, list):
                parent.insert(len(parent) if last == "-" else int(last), op["value"])
            else:
                parent[last] = op["value"]
        elif op["op"] == "replace":
            if isinstance(parent, list):
                parent[int(last)] = op["value"]
            else:
                assert last in parent, f"replace of missing member {op['path']}"
                parent[last] = op["value"]
        elif op["op"] == "remove":
            del parent[int(last) if isinstance(parent, list) else last]
    return doc


def deployment(containers: list[dict[str, Any]], annotations: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "web", "namespace": "ns"}
    if annotations is not None:
        meta["annotations"] = annotations
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {"template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": containers}}},
    }


# --------------------------------------------------------------------------- paths and pointers


def test_paths() -> None:
    assert p.deployment_path("ns", "web") == "/apis/apps/v1/namespaces/ns/deployments/web"
    assert p.object_path("v1", "namespaces", "rp-dev-x") == "/api/v1/namespaces/rp-dev-x"
    assert p.object_path("apps/v1", "replicasets", None, "ns") == "/apis/apps/v1/namespaces/ns/replicasets"
    assert (
        p.object_path("apps/v1", "deployments/scale", "web", "ns")
        == "/apis/apps/v1/namespaces/ns/deployments/web/scale"
    )


@pytest.mark.parametrize("ns,name", [("NS", "web"), ("ns", "../x"), ("ns", "web?x=1"), ("a" * 64, "web"), ("ns", "")])
def test_paths_refuse_bad_names(ns: str, name: str) -> None:
    with pytest.raises(ConfigError):
        p.deployment_path(ns, name)


def test_pointer_escaping() -> None:
    assert p.escape_pointer("kubernetes.io/change-cause") == "kubernetes.io~1change-cause"
    assert p.escape_pointer("a~/b") == "a~0~1b"  # "~" first, so "/" never turns into "~01"
    assert p.pointer("metadata", "annotations", p.CHANGE_CAUSE) == "/metadata/annotations/kubernetes.io~1change-cause"
    assert p.pointer("spec", "containers", 2) == "/spec/containers/2"


def test_raw_request_refuses_urls_and_queries() -> None:
    with pytest.raises(ConfigError):
        p.RawRequest("GET", "https://evil/x")
    with pytest.raises(ConfigError):
        p.RawRequest("GET", "/api/v1?watch=1")
    with pytest.raises(ConfigError):
        p.RawRequest("GET", "api/v1")


# --------------------------------------------------------------------------- builders


def test_json_patch_request() -> None:
    ops = [p.op_test("/metadata/name", "web"), p.op_replace("/spec/replicas", 3)]
    req = p.json_patch("/apis/apps/v1/namespaces/ns/deployments/web", ops)
    assert req.method == "PATCH"
    assert req.content_type == "application/json-patch+json"
    assert json.loads(req.body) == ops
    assert req.json == ops
    assert req.params == (("fieldManager", "rollproof"),)
    dry = p.json_patch("/x", ops, field_manager=None, dry_run=True)
    assert dry.params == (("dryRun", "All"),)


@pytest.mark.parametrize("bad", [{"op": "frobnicate", "path": "/a"}, {"op": "add", "path": "a"}, {"path": "/a"}, "add"])
def test_json_patch_refuses_non_ops(bad: Any) -> None:
    with pytest.raises(ConfigError):
        p.json_patch("/x", [bad])


def test_merge_and_strategic_patches() -> None:
    m = p.merge_patch("/x", {"spec": {"paused": True}, "metadata": {"labels": {"gone": None}}})
    assert m.content_type == "application/merge-patch+json"
    assert m.json == {"spec": {"paused": True}, "metadata": {"labels": {"gone": None}}}
    s = p.strategic_merge_patch("/x", {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}})
    assert s.content_type == "application/strategic-merge-patch+json"
    assert s.json["spec"]["template"]["spec"]["containers"][0]["image"] == "i"
    assert m.method == s.method == "PATCH"


def test_apply_patch_is_yaml_with_manager_and_force() -> None:
    obj = deployment([{"name": "nginx", "image": "rollproof/nginx:1.22.1"}], {"note": "on"})
    req = p.apply_patch(p.deployment_path("ns", "web"), obj, field_manager="me", force=True)
    assert req.content_type == "application/apply-patch+yaml"
    assert dict(req.params) == {"fieldManager": "me", "force": "true"}
    assert yaml.safe_load(req.body) == obj  # "on" stays a string, not a YAML 1.1 bool
    assert req.body.decode().startswith("apiVersion: apps/v1\n")
    assert dict(p.apply_patch("/x", obj).params)["force"] == "false"
    with pytest.raises(ConfigError):
        p.apply_patch("/x", {"metadata": {"name": "x"}})
    with pytest.raises(ConfigError):
        p.apply_patch("/x", obj, field_manager="")


def test_put_object() -> None:
    obj = deployment([{"name": "c", "image": "i"}])
    obj["metadata"]["resourceVersion"] = "42"
    req = p.put_object(p.deployment_path("ns", "web"), obj)
    assert (req.method, req.content_type) == ("PUT", "application/json")
    assert req.json == obj


@pytest.mark.parametrize("gv", ["extensions/v1beta1", "apps/v1beta1"])
def test_legacy_rollback_post(gv: str) -> None:
    req = p.rollback_request("ns", "web", 3, group_version=gv)
    assert req.method == "POST"
    assert req.path == f"/apis/{gv}/namespaces/ns/deployments/web/rollback"
    assert req.content_type == "application/json"
    assert req.json == {"apiVersion": gv, "kind": "DeploymentRollback", "name": "web", "rollbackTo": {"revision": 3}}


def test_legacy_rollback_refuses_bad_input() -> None:
    assert p.rollback_request("ns", "web", 0).json["rollbackTo"] == {"revision": 0}  # 0 = previous
    with pytest.raises(ConfigError):
        p.rollback_request("ns", "web", 1, group_version="apps/v1")
    with pytest.raises(ConfigError):
        p.rollback_request("ns", "web", -1)
    with pytest.raises(ConfigError):
        p.rollback_request("ns", "web", True)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- op helpers


def test_set_image_ops_targets_the_named_container() -> None:
    dep = deployment([{"name": "sidecar", "image": "s:1"}, {"name": "nginx", "image": "rollproof/nginx:1.22.1"}])
    ops = p.set_image_ops(dep, "nginx", "rollproof/nginx:1.26.3")
    assert ops == [
        {"op": "test", "path": "/spec/template/spec/containers/1/name", "value": "nginx"},
        {"op": "replace", "path": "/spec/template/spec/containers/1/image", "value": "rollproof/nginx:1.26.3"},
    ]
    out = apply_ops(dep, ops)
    assert [c["image"] for c in out["spec"]["template"]["spec"]["containers"]] == ["s:1", "rollproof/nginx:1.26.3"]
    with pytest.raises(ConfigError, match="no container 'app'"):
        p.set_image_ops(dep, "app", "x")


def test_set_env_ops_add_append_replace() -> None:
    dep = deployment([{"name": "nginx", "image": "i"}])
    out = apply_ops(dep, p.set_env_ops(dep, "nginx", "A", "1"))
    assert out["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "A", "value": "1"}]
    out2 = apply_ops(out, p.set_env_ops(out, "nginx", "B", "2"))
    assert out2["spec"]["template"]["spec"]["containers"][0]["env"] == [
        {"name": "A", "value": "1"},
        {"name": "B", "value": "2"},
    ]
    out3 = apply_ops(out2, p.set_env_ops(out2, "nginx", "A", "9"))
    assert out3["spec"]["template"]["spec"]["containers"][0]["env"] == [
        {"name": "A", "value": "9"},
        {"name": "B", "value": "2"},
    ]


def test_change_cause_ops_with_and_without_annotations() -> None:
    bare = deployment([{"name": "c", "image": "i"}])
    ops = p.change_cause_ops(bare, "kubectl set image x")
    assert ops == [{"op": "add", "path": "/metadata/annotations", "value": {p.CHANGE_CAUSE: "kubectl set image x"}}]
    assert apply_ops(bare, ops)["metadata"]["annotations"] == {p.CHANGE_CAUSE: "kubectl set image x"}
    annotated = deployment([{"name": "c", "image": "i"}], {"a": "b", p.CHANGE_CAUSE: "old"})
    ops = p.change_cause_ops(annotated, "new")
    assert ops == [{"op": "add", "path": "/metadata/annotations/kubernetes.io~1change-cause", "value": "new"}]
    assert apply_ops(annotated, ops)["metadata"]["annotations"] == {"a": "b", p.CHANGE_CAUSE: "new"}


def test_strip_pod_template_hash_copies() -> None:
    tpl = {"metadata": {"labels": {"app": "web", "pod-template-hash": "abc"}}, "spec": {}}
    out = p.strip_pod_template_hash(tpl)
    assert out["metadata"]["labels"] == {"app": "web"}
    assert tpl["metadata"]["labels"]["pod-template-hash"] == "abc"  # input untouched


def test_undo_ops_shape() -> None:
    tpl = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": []}}
    ops = p.undo_ops(tpl, {"x": "y"})
    assert ops == [
        {"op": "replace", "path": "/spec/template", "value": tpl},
        {"op": "replace", "path": "/metadata/annotations", "value": {"x": "y"}},
    ]
    assert p.undo_ops(tpl, {}, annotations_present=False)[1]["op"] == "add"
