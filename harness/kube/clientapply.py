"""kubectl's client-side apply, for API servers without server-side apply (before 1.16).

What `kubectl apply` did before server-side apply: create the object if it is absent, else
send a strategic merge patch made of the new manifest and a null for every field the last
apply set and this one leaves out, and keep the manifest in the
`kubectl.kubernetes.io/last-applied-configuration` annotation for the next apply to compare
with. One difference, said here: a list entry the last apply had and this one drops is not
deleted (kubectl sent a `$patch: delete` directive for it); the harness's manifests never
drop one between applies.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from .patches import create_object, get_object, object_path, strategic_merge_patch
from .raw import RawApi, RawResponse

__all__ = ["LAST_APPLIED", "client_apply", "client_apply_patch", "with_last_applied"]

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def with_last_applied(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `obj` whose annotations record `obj` itself (without that annotation) as last applied."""
    record = copy.deepcopy(dict(obj))
    meta = record.setdefault("metadata", {})
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k != LAST_APPLIED}
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    out = copy.deepcopy(record)
    text = json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n"
    out["metadata"]["annotations"] = {**annotations, LAST_APPLIED: text}
    return out


def client_apply_patch(last_applied: Mapping[str, Any] | None, new: Mapping[str, Any]) -> dict[str, Any]:
    """The strategic merge patch of a client-side apply: `new` (recording itself as last applied), with a
    null for every map key `last_applied` had and `new` leaves out."""
    patch = with_last_applied(new)
    if last_applied:
        _null_dropped(last_applied, patch)
    return patch


def _null_dropped(old: Mapping[str, Any], new: dict[str, Any]) -> None:
    for key, value in old.items():
        if key not in new:
            new[key] = None
        elif isinstance(value, Mapping) and isinstance(new[key], dict):
            _null_dropped(value, new[key])


def client_apply(
    raw: RawApi, group_version: str, resource: str, obj: Mapping[str, Any], namespace: str, *, field_manager: str
) -> RawResponse:
    """Create `obj` (POST) if the server has none of that name, else patch it as `kubectl apply` did;
    every exchange is recorded by `raw`. Returns the server's answer (201 created, 200 updated)."""
    path = object_path(group_version, resource, str(obj["metadata"]["name"]), namespace)
    current = raw.send(get_object(path))
    if current.status == 404:
        collection = object_path(group_version, resource, None, namespace)
        return raw.call(create_object(collection, with_last_applied(obj), field_manager=field_manager))
    raw.check(current)
    annotations = ((current.body or {}).get("metadata") or {}).get("annotations") or {}
    last = json.loads(annotations[LAST_APPLIED]) if LAST_APPLIED in annotations else None
    return raw.call(strategic_merge_patch(path, client_apply_patch(last, obj), field_manager=field_manager))
