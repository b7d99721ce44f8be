"""Pure helpers for the raw-API suites: requests the patch builders lack, answers as text, list views.

Nothing here does I/O. The suites send what these build through `RawApi`
(`raw_api` fixture) and judge the answers against `harness.expectations`.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from collections.abc import Mapping
from typing import Any

from .errors import ConfigError
from .expectations import expected
from .kube.patches import (
    CHANGE_CAUSE,
    JSON,
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_MERGE_PATCH,
    RawRequest,
    json_patch,
    merge_patch,
    set_env_ops,
    set_image_ops,
    strategic_merge_patch,
)
from .kubeversion import VersionLike

__all__ = [
    "DEMO_CONTAINER",
    "DEMO_VERSION_ENV",
    "ROLLOUT_CONTENT_TYPES",
    "post_object",
    "delete_object",
    "without_params",
    "with_content_type",
    "demo_update_ops",
    "desired_state",
    "rollout_patch",
    "status_message",
    "observed",
    "expect",
    "containers",
    "container_names",
    "env_names",
    "change_cause",
    "without_change_cause",
    "crd_manifest",
    "custom_object",
    "crd_established",
    "accepted_media_types",
    "managers_of",
    "LIST_EXTRA_ENV",
    "LIST_SIDECAR",
    "list_patch",
    "list_view",
]

DEMO_CONTAINER = "nginx"
"""The container of the demo Deployment (fixtures/manifests/deployment-demo.yaml)."""

DEMO_VERSION_ENV = "DEPLOYMENT_DEMO_VER"
"""The env var carrying the demo's version (v0.1, v0.2, ...)."""

ROLLOUT_CONTENT_TYPES = (STRATEGIC_MERGE_PATCH, MERGE_PATCH, JSON_PATCH)
"""The three PATCH flavours a rollout can be sent as, in the walkthrough's order of preference."""


# --------------------------------------------------------------------------- requests


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def post_object(collection_path: str, obj: Mapping[str, Any]) -> RawRequest:
    """POST of a whole object to its collection (what `kubectl create -f` sends)."""
    return RawRequest("POST", collection_path, JSON, _json_bytes(dict(obj)))


def delete_object(path: str) -> RawRequest:
    """DELETE of one object (foreground is not asked: the server's default propagation)."""
    return RawRequest("DELETE", path)


def without_params(req: RawRequest, *names: str) -> RawRequest:
    """The same request without the named query parameters (e.g. an apply without fieldManager)."""
    return dataclasses.replace(req, params=tuple((k, v) for k, v in req.params if k not in names))


def with_content_type(req: RawRequest, content_type: str) -> RawRequest:
    """The same request, body untouched, sent with another Content-Type."""
    return dataclasses.replace(req, content_type=content_type)


def demo_update_ops(current: Mapping[str, Any], image: str, version: str) -> list[dict[str, Any]]:
    """JSON-patch ops moving the demo container of `current` to `image` and DEPLOYMENT_DEMO_VER=`version`.

    `kubectl set image` then `kubectl set env` in one patch; every replace is
    guarded by a `test` of the container's (and the variable's) name."""
    return [
        *set_image_ops(current, DEMO_CONTAINER, image),
        *set_env_ops(current, DEMO_CONTAINER, DEMO_VERSION_ENV, version),
    ]


def rollout_patch(
    content_type: str, path: str, current: Mapping[str, Any], target: Mapping[str, Any], image: str, version: str
) -> RawRequest:
    """The PATCH that rolls `current` to `target` in one flavour.

    Strategic-merge and merge patches carry the whole `target` manifest (the
    walkthrough's `kubectl patch -p "$(cat v0.2.json)"`); a JSON patch carries
    operations on the image and the version variable only."""
    if content_type == STRATEGIC_MERGE_PATCH:
        return strategic_merge_patch(path, target)
    if content_type == MERGE_PATCH:
        return merge_patch(path, target)
    if content_type == JSON_PATCH:
        return json_patch(path, demo_update_ops(current, image, version))
    raise ConfigError(f"no rollout PATCH of content type {content_type!r}; use one of {ROLLOUT_CONTENT_TYPES}")


# --------------------------------------------------------------------------- answers


def status_message(body: Any) -> str:
    """The human part of an answer: a Status's message, else the text (or JSON) of the body."""
    if isinstance(body, Mapping):
        if body.get("kind") == "Status" and body.get("message") is not None:
            return str(body["message"])
        return json.dumps(body, sort_keys=True)
    return "" if body is None else str(body).strip()


_MAX_OBSERVED = 200


def observed(status: int, body: Any, *, hide: tuple[str, ...] = ()) -> str:
    """A short, stable text of an answer for `record.check`: "<status> <message>".

    Each string of `hide` (namespace, random names) is replaced by "…" so the
    same behaviour reads the same in every run of the behaviour matrix."""
    message = " ".join(status_message(body).split())
    if message.startswith(f"{status}:"):  # go-restful's "415: Unsupported Media Type"
        message = message[len(f"{status}:") :].strip()
    for text in hide:
        if text:
            message = message.replace(text, "…")
    if len(message) > _MAX_OBSERVED:
        message = message[: _MAX_OBSERVED - 1] + "…"
    return f"{status} {message}".strip()


def expect(check: str, version: VersionLike, status: int, body: Any) -> str:
    """Assert the answer against the expectation table; return the message it was judged on.

    Raises AssertionError with `Expectation.describe` (expected vs observed,
    with the version) and the full message when the answer differs."""
    expectation = expected(check, version)
    message = status_message(body)
    if not expectation.matches(status, message):
        raise AssertionError(
            f"{check}: {expectation.describe(version, status, message)}"
            f"\n  why expected: {expectation.why}\n  full message: {message[:600]!r}"
        )
    return message


# --------------------------------------------------------------------------- list views of live objects


def containers(obj: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list(((obj.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or [])


def container_names(obj: Mapping[str, Any]) -> list[str]:
    """Names of the pod template's containers, in the live order."""
    return [str(c.get("name")) for c in containers(obj)]


def env_names(obj: Mapping[str, Any], container: str = DEMO_CONTAINER) -> list[str]:
    """Names of one container's env vars, in the live order (ConfigError when there is no such container)."""
    for c in containers(obj):
        if c.get("name") == container:
            return [str(e.get("name")) for e in c.get("env") or []]
    raise ConfigError(f"no container {container!r} in the pod template (has: {container_names(obj)})")


def desired_state(obj: Mapping[str, Any]) -> dict[str, Any]:
    """What a refused write must leave alone: generation, labels, annotations and spec.

    Not the resourceVersion, nor the annotations controllers write
    (`deployment.kubernetes.io/...`): the Deployment controller moves those
    on its own right after creation."""
    meta = obj.get("metadata") or {}
    annotations = {
        k: v for k, v in (meta.get("annotations") or {}).items() if not k.startswith(_CONTROLLER_ANNOTATIONS)
    }
    return {
        "generation": meta.get("generation"),
        "labels": meta.get("labels") or {},
        "annotations": annotations,
        "spec": obj.get("spec"),
    }


_CONTROLLER_ANNOTATIONS = ("deployment.kubernetes.io/",)


def change_cause(obj: Mapping[str, Any]) -> str | None:
    return ((obj.get("metadata") or {}).get("annotations") or {}).get(CHANGE_CAUSE)


def without_change_cause(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """Deep copy of a manifest with no `kubernetes.io/change-cause` (a PATCH that leaves it alone)."""
    out = copy.deepcopy(dict(manifest))
    annotations = (out.get("metadata") or {}).get("annotations")
    if isinstance(annotations, dict):
        annotations.pop(CHANGE_CAUSE, None)
        if not annotations:
            out["metadata"].pop("annotations")
    return out


def managers_of(obj: Mapping[str, Any], field_path: str) -> list[str]:
    """Field managers whose managedFields entry owns `field_path` ("f:spec.f:replicas" style dotted path)."""
    out = []
    for entry in (obj.get("metadata") or {}).get("managedFields") or []:
        node: Any = entry.get("fieldsV1") or {}
        for part in field_path.split("."):
            node = node.get(part) if isinstance(node, Mapping) else None
            if node is None:
                break
        if node is not None:
            out.append(str(entry.get("manager")))
    return out


# --------------------------------------------------------------------------- a tiny custom resource


def crd_manifest(group: str, kind: str, plural: str) -> dict[str, Any]:
    """A namespaced CRD `<plural>.<group>`, version v1, with one free-form `spec` (structural schema)."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}", "labels": {"rollproof.io/test": "true"}},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": plural, "singular": kind.lower(), "kind": kind},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {
                                        "items": {
                                            "type": "array",
                                            "items": {
                                                "type": "object",
                                                "properties": {"name": {"type": "string"}, "value": {"type": "string"}},
                                            },
                                        }
                                    },
                                }
                            },
                        }
                    },
                }
            ],
        },
    }


def custom_object(group: str, kind: str, name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    return {"apiVersion": f"{group}/v1", "kind": kind, "metadata": {"name": name}, "spec": dict(spec)}


def crd_established(crd: Mapping[str, Any]) -> bool:
    """True once the CRD's Established condition is True (its REST endpoint serves)."""
    for cond in (crd.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Established" and cond.get("status") == "True":
            return True
    return False


_ACCEPTED = re.compile(r"accepted media types include:\s*(.+)$", re.IGNORECASE | re.DOTALL)


def accepted_media_types(message: str) -> list[str]:
    """The media types a 415 message lists ("... accepted media types include: a, b, c"); [] when none."""
    match = _ACCEPTED.search(message)
    if not match:
        return []
    return [t.strip().rstrip(".") for t in match[1].split(",") if t.strip()]


# --------------------------------------------------------------------------- list-merge probes

LIST_EXTRA_ENV = "RP_EXTRA"
"""The env var the list probes add to the demo container."""

LIST_SIDECAR = "sidecar"
"""The container the list probes add to the demo pod template."""


def list_patch(which: str, image: str) -> dict[str, Any]:
    """The one patch body sent both as merge-patch and as strategic-merge-patch to show their list rules.

    "containers": the list holds only a new container named `sidecar`;
    "env": the list holds the demo container (same name and image) whose env
    holds only RP_EXTRA. Merge patch (RFC 7386) replaces the whole list;
    strategic merge merges containers by `name` and env by `name`."""
    items: list[dict[str, Any]]
    if which == "containers":
        items = [{"name": LIST_SIDECAR, "image": image}]
    elif which == "env":
        items = [{"name": DEMO_CONTAINER, "image": image, "env": [{"name": LIST_EXTRA_ENV, "value": "added"}]}]
    else:
        raise ConfigError(f"no list probe for {which!r}; use 'containers' or 'env'")
    return {"spec": {"template": {"spec": {"containers": items}}}}


def list_view(obj: Mapping[str, Any], which: str) -> list[str]:
    """The names in the list a `list_patch` targets, as the live object has them."""
    if which == "containers":
        return container_names(obj)
    if which == "env":
        return env_names(obj, DEMO_CONTAINER)
    raise ConfigError(f"no list probe for {which!r}; use 'containers' or 'env'")
