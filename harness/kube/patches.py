"""Pure builders of raw API requests: every PATCH flavour, PUT, the legacy rollback POST.

Nothing here does I/O. Each builder returns a `RawRequest` (method, path,
content type, body bytes, query params) that `harness.kube.raw.RawApi.send`
puts on the wire. JSON-patch helpers build the op lists that kubectl's
`set image`, `set env`, `--record` and `rollout undo` amount to.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from harness.errors import ConfigError

__all__ = [
    "RawRequest",
    "JSON",
    "JSON_PATCH",
    "MERGE_PATCH",
    "STRATEGIC_MERGE_PATCH",
    "APPLY_PATCH_YAML",
    "CHANGE_CAUSE",
    "POD_TEMPLATE_HASH",
    "FIELD_MANAGER",
    "ROLLBACK_GROUP_VERSIONS",
    "object_path",
    "deployment_path",
    "escape_pointer",
    "pointer",
    "op_add",
    "op_replace",
    "op_remove",
    "op_test",
    "json_patch",
    "merge_patch",
    "strategic_merge_patch",
    "apply_patch",
    "put_object",
    "get_object",
    "create_object",
    "rollback_request",
    "container_index",
    "set_image_ops",
    "set_env_ops",
    "change_cause_ops",
    "undo_ops",
    "strip_pod_template_hash",
]

JSON = "application/json"
JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH_YAML = "application/apply-patch+yaml"

CHANGE_CAUSE = "kubernetes.io/change-cause"
POD_TEMPLATE_HASH = "pod-template-hash"
FIELD_MANAGER = "rollproof"
ROLLBACK_GROUP_VERSIONS = ("extensions/v1beta1", "apps/v1beta1")

_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_GROUP_VERSION = re.compile(r"^([a-z0-9.-]+/)?v[0-9]+((alpha|beta)[0-9]+)?$")
_RESOURCE = re.compile(r"^[a-z0-9]+(/[a-z0-9]+)?$")


@dataclass(frozen=True)
class RawRequest:
    """One API request as data: what `RawApi.send` puts on the wire."""

    method: str
    path: str
    content_type: str | None = None
    body: bytes = b""
    params: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not self.path.startswith("/") or "://" in self.path or "?" in self.path:
            raise ConfigError(f"raw request path {self.path!r} must be an absolute API path without query; use params")

    @property
    def json(self) -> Any:
        """The body decoded (JSON, or YAML for apply patches); None when empty."""
        if not self.body:
            return None
        if self.content_type == APPLY_PATCH_YAML:
            return yaml.safe_load(self.body)
        return json.loads(self.body)


def _check_name(value: str, what: str, pattern: re.Pattern[str], limit: int) -> str:
    if not isinstance(value, str) or len(value) > limit or not pattern.match(value):
        raise ConfigError(f"{what} {value!r} is not a valid Kubernetes name (lower-case DNS name, ≤{limit} chars)")
    return value


def object_path(group_version: str, resource: str, name: str | None = None, namespace: str | None = None) -> str:
    """API path of a resource collection or object ("v1" → /api/v1, others → /apis/GV).

    `resource` may carry a subresource only when `name` is given ("deployments/scale")."""
    if not _GROUP_VERSION.match(group_version):
        raise ConfigError(f"group/version {group_version!r} is not like 'apps/v1' or 'v1'")
    if not _RESOURCE.match(resource) or ("/" in resource and name is None):
        raise ConfigError(f"resource {resource!r} is not a plural resource name like 'deployments'")
    base = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
    if namespace is not None:
        base += f"/namespaces/{_check_name(namespace, 'namespace', _LABEL, 63)}"
    plural, _, sub = resource.partition("/")
    path = f"{base}/{plural}"
    if name is not None:
        path += f"/{_check_name(name, 'name', _SUBDOMAIN, 253)}"
        if sub:
            path += f"/{sub}"
    return path


def deployment_path(namespace: str, name: str, group_version: str = "apps/v1") -> str:
    return object_path(group_version, "deployments", name, namespace)


# --------------------------------------------------------------------------- JSON pointer / ops


def escape_pointer(token: str) -> str:
    """RFC 6901 escaping of one reference token: "~" → "~0", "/" → "~1"."""
    return str(token).replace("~", "~0").replace("/", "~1")


def pointer(*tokens: str | int) -> str:
    """JSON pointer from unescaped tokens: pointer("metadata", "annotations", "a/b")."""
    return "".join("/" + escape_pointer(str(t)) for t in tokens)


def op_add(path: str, value: Any) -> dict[str, Any]:
    return {"op": "add", "path": path, "value": value}


def op_replace(path: str, value: Any) -> dict[str, Any]:
    return {"op": "replace", "path": path, "value": value}


def op_remove(path: str) -> dict[str, Any]:
    return {"op": "remove", "path": path}


def op_test(path: str, value: Any) -> dict[str, Any]:
    return {"op": "test", "path": path, "value": value}


# --------------------------------------------------------------------------- request builders


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _params(field_manager: str | None, dry_run: bool, force: bool | None = None) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    if field_manager is not None:
        out.append(("fieldManager", field_manager))
    if force is not None:
        out.append(("force", "true" if force else "false"))
    if dry_run:
        out.append(("dryRun", "All"))
    return tuple(out)


_VALID_OPS = {"add", "remove", "replace", "move", "copy", "test"}


def json_patch(
    path: str, ops: Sequence[Mapping[str, Any]], *, field_manager: str | None = FIELD_MANAGER, dry_run: bool = False
) -> RawRequest:
    """PATCH application/json-patch+json with a list of RFC 6902 ops."""
    ops = list(ops)
    for op in ops:
        where = op.get("path") if isinstance(op, Mapping) else None
        valid_path = isinstance(where, str) and (where == "" or where.startswith("/"))
        if not isinstance(op, Mapping) or op.get("op") not in _VALID_OPS or not valid_path:
            raise ConfigError(f"json-patch op {op!r} is not an RFC 6902 op with an 'op' and a '/'-pointer 'path'")
    return RawRequest("PATCH", path, JSON_PATCH, _json_bytes([dict(o) for o in ops]), _params(field_manager, dry_run))


def merge_patch(
    path: str, patch: Mapping[str, Any], *, field_manager: str | None = FIELD_MANAGER, dry_run: bool = False
) -> RawRequest:
    """PATCH application/merge-patch+json (RFC 7386: null deletes, lists replace)."""
    return RawRequest("PATCH", path, MERGE_PATCH, _json_bytes(dict(patch)), _params(field_manager, dry_run))


def strategic_merge_patch(
    path: str, patch: Mapping[str, Any], *, field_manager: str | None = FIELD_MANAGER, dry_run: bool = False
) -> RawRequest:
    """PATCH application/strategic-merge-patch+json (lists merge by their patch keys)."""
    return RawRequest("PATCH", path, STRATEGIC_MERGE_PATCH, _json_bytes(dict(patch)), _params(field_manager, dry_run))


def apply_patch(
    path: str, obj: Mapping[str, Any], *, field_manager: str = FIELD_MANAGER, force: bool = False, dry_run: bool = False
) -> RawRequest:
    """Server-side apply: PATCH application/apply-patch+yaml with fieldManager (required) and force."""
    if not field_manager:
        raise ConfigError("server-side apply needs a field manager name")
    for key in ("apiVersion", "kind"):
        if not obj.get(key):
            raise ConfigError(f"server-side apply object needs {key!r}")
    body = yaml.safe_dump(dict(obj), sort_keys=False, default_flow_style=False).encode("utf-8")
    return RawRequest("PATCH", path, APPLY_PATCH_YAML, body, _params(field_manager, dry_run, force))


def put_object(
    path: str, obj: Mapping[str, Any], *, field_manager: str | None = FIELD_MANAGER, dry_run: bool = False
) -> RawRequest:
    """PUT of a whole object (send the resourceVersion you read to get optimistic locking)."""
    return RawRequest("PUT", path, JSON, _json_bytes(dict(obj)), _params(field_manager, dry_run))


def get_object(path: str) -> RawRequest:
    return RawRequest("GET", path)


def create_object(
    collection: str, obj: Mapping[str, Any], *, field_manager: str | None = FIELD_MANAGER, dry_run: bool = False
) -> RawRequest:
    """POST of a new object to its collection's path."""
    return RawRequest("POST", collection, JSON, _json_bytes(dict(obj)), _params(field_manager, dry_run))


def rollback_request(
    namespace: str, name: str, revision: int, *, group_version: str = "extensions/v1beta1"
) -> RawRequest:
    """The legacy `POST .../deployments/NAME/rollback` (removed in Kubernetes 1.16).

    `revision` 0 meant "the previous revision" to the old server."""
    if group_version not in ROLLBACK_GROUP_VERSIONS:
        raise ConfigError(
            f"rollback subresource exists only in {', '.join(ROLLBACK_GROUP_VERSIONS)}, not {group_version!r}"
        )
    if isinstance(revision, bool) or not isinstance(revision, int) or revision < 0:
        raise ConfigError(f"rollback revision must be an int ≥ 0, not {revision!r}")
    body = {
        "apiVersion": group_version,
        "kind": "DeploymentRollback",
        "name": name,
        "rollbackTo": {"revision": revision},
    }
    path = object_path(group_version, "deployments/rollback", name, namespace)
    return RawRequest("POST", path, JSON, _json_bytes(body))


# --------------------------------------------------------------------------- op-list helpers


def container_index(obj: Mapping[str, Any], container: str, *, init: bool = False) -> int:
    """Index of the named container in a Deployment (or pod template holder)."""
    key = "initContainers" if init else "containers"
    containers = ((obj.get("spec") or {}).get("template") or {}).get("spec", {}).get(key) or []
    for i, c in enumerate(containers):
        if c.get("name") == container:
            return i
    names = [c.get("name") for c in containers]
    raise ConfigError(f"no container {container!r} in the pod template (has: {names}); name one of those")


def set_image_ops(obj: Mapping[str, Any], container: str, image: str) -> list[dict[str, Any]]:
    """`kubectl set image` as ops: test the container's name at its index, replace its image."""
    i = container_index(obj, container)
    base = pointer("spec", "template", "spec", "containers", i)
    return [op_test(base + "/name", container), op_replace(base + "/image", image)]


def set_env_ops(obj: Mapping[str, Any], container: str, name: str, value: str) -> list[dict[str, Any]]:
    """`kubectl set env NAME=VALUE` for one container as ops (adds or replaces the var)."""
    i = container_index(obj, container)
    c = obj["spec"]["template"]["spec"]["containers"][i]
    base = pointer("spec", "template", "spec", "containers", i)
    ops = [op_test(base + "/name", container)]
    env = c.get("env")
    if not env:
        ops.append(op_add(base + "/env", [{"name": name, "value": str(value)}]))
        return ops
    for j, var in enumerate(env):
        if var.get("name") == name:
            at = f"{base}/env/{j}"
            ops.append(op_test(at + "/name", name))
            ops.append(op_replace(at, {"name": name, "value": str(value)}))
            return ops
    ops.append(op_add(base + "/env/-", {"name": name, "value": str(value)}))
    return ops


def change_cause_ops(obj: Mapping[str, Any], cause: str) -> list[dict[str, Any]]:
    """Ops that set `kubernetes.io/change-cause` (what `--record` wrote)."""
    annotations = (obj.get("metadata") or {}).get("annotations")
    if annotations is None:
        return [op_add("/metadata/annotations", {CHANGE_CAUSE: cause})]
    return [op_add(pointer("metadata", "annotations", CHANGE_CAUSE), cause)]


def strip_pod_template_hash(template: Mapping[str, Any]) -> dict[str, Any]:
    """Deep copy of a pod template without the controller's `pod-template-hash` label."""
    out = copy.deepcopy(dict(template))
    labels = (out.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(POD_TEMPLATE_HASH, None)
    return out


def undo_ops(
    template: Mapping[str, Any], annotations: Mapping[str, str], *, annotations_present: bool = True
) -> list[dict[str, Any]]:
    """The two ops of `kubectl rollout undo`: replace /spec/template and /metadata/annotations.

    `annotations_present=False` uses "add" for annotations (a "replace" of a
    missing member fails)."""
    set_annotations = op_replace if annotations_present else op_add
    return [
        op_replace("/spec/template", copy.deepcopy(dict(template))),
        set_annotations("/metadata/annotations", dict(annotations)),
    ]
