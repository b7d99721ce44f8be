"""`kubectl rollout history` and `rollout undo`'s rules, as pure functions over API JSON.

A Deployment's revisions are its owned ReplicaSets (`parse_history`), and
`plan_undo` is `rollout undo`'s patch back to one of them; a StatefulSet's or
DaemonSet's revisions are its ControllerRevisions (`set_revisions`).
Objects are API JSON (camelCase dicts), exactly as the server sent them.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.errors import ConfigError
from harness.kube.patches import CHANGE_CAUSE, strip_pod_template_hash, undo_ops

__all__ = [
    "REVISION",
    "REVISION_HISTORY",
    "LAST_APPLIED",
    "UNDO_KEEPS_FROM_DEPLOYMENT",
    "Revision",
    "UndoPlan",
    "controller_ref",
    "owned_replicasets",
    "parse_history",
    "plan_undo",
    "with_change_cause",
    "SetRevision",
    "set_revisions",
]


REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
UNDO_KEEPS_FROM_DEPLOYMENT = frozenset(
    {
        LAST_APPLIED,
        REVISION,
        REVISION_HISTORY,
        "deployment.kubernetes.io/desired-replicas",
        "deployment.kubernetes.io/max-replicas",
        "deprecated.deployment.rollback.to",
    }
)
"""Annotations `rollout undo` keeps from the Deployment; every other one comes from the ReplicaSet."""


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _annotations(obj: Mapping[str, Any]) -> dict[str, str]:
    return dict(_meta(obj).get("annotations") or {})


@dataclass(frozen=True)
class Revision:
    """One row of `kubectl rollout history`, from one owned ReplicaSet."""

    revision: int
    replicaset: str
    change_cause: str | None
    images: tuple[str, ...]
    replicas: int
    ready: int = 0
    available: int = 0
    revision_history: tuple[int, ...] = ()
    template: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    annotations: dict[str, str] = field(default_factory=dict, repr=False, compare=False)


def controller_ref(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The owner reference that marks `obj`'s controller (None: it has none)."""
    for ref in _meta(obj).get("ownerReferences") or []:
        if isinstance(ref, Mapping) and ref.get("controller"):
            return ref
    return None


def owned_replicasets(dep: Mapping[str, Any], replicasets: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The ReplicaSets whose controller is this Deployment (by uid when known, else kind+name)."""
    uid = _meta(dep).get("uid")
    name = _meta(dep).get("name")
    out = []
    for rs in replicasets:
        ref = controller_ref(rs)
        if ref is None or ref.get("kind") != "Deployment":
            continue
        if (uid and ref.get("uid") == uid) or (not uid and ref.get("name") == name):
            out.append(rs)
    return out


def _revision_of(rs: Mapping[str, Any]) -> int | None:
    value = _annotations(rs).get(REVISION)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _ints(csv: str | None) -> tuple[int, ...]:
    out = []
    for part in (csv or "").split(","):
        if part.strip().isdigit():
            out.append(int(part))
    return tuple(out)


def parse_history(dep: Mapping[str, Any], replicasets: Iterable[Mapping[str, Any]]) -> list[Revision]:
    """Revisions of the Deployment from its owned ReplicaSets, sorted by revision.

    A ReplicaSet without a parseable revision annotation is left out."""
    rows = []
    for rs in owned_replicasets(dep, replicasets):
        rev = _revision_of(rs)
        if rev is None:
            continue
        template = (rs.get("spec") or {}).get("template") or {}
        containers = (template.get("spec") or {}).get("containers") or []
        st = rs.get("status") or {}
        ann = _annotations(rs)
        rows.append(
            Revision(
                revision=rev,
                replicaset=_meta(rs).get("name", ""),
                change_cause=ann.get(CHANGE_CAUSE),
                images=tuple(str(c.get("image", "")) for c in containers),
                replicas=int((rs.get("spec") or {}).get("replicas") or 0),
                ready=int(st.get("readyReplicas") or 0),
                available=int(st.get("availableReplicas") or 0),
                revision_history=_ints(ann.get(REVISION_HISTORY)),
                template=copy.deepcopy(template),
                annotations=ann,
            )
        )
    return sorted(rows, key=lambda r: r.revision)


@dataclass(frozen=True)
class UndoPlan:
    """What `rollout undo` will do: target revision, and the JSON patch (unless skipped)."""

    name: str
    revision: int
    replicaset: str
    skipped: bool
    message: str
    ops: list[dict[str, Any]] = field(default_factory=list, repr=False, compare=False)
    annotations: dict[str, str] = field(default_factory=dict, repr=False, compare=False)


def plan_undo(
    dep: Mapping[str, Any], replicasets: Iterable[Mapping[str, Any]], to_revision: int | None = None
) -> UndoPlan:
    """Build `kubectl rollout undo`'s change for a Deployment, from its ReplicaSets.

    What kubectl does today, and what this does:
    - a paused Deployment is refused ("resume it first");
    - the target is the ReplicaSet whose `deployment.kubernetes.io/revision`
      equals `to_revision`, or by default the second-highest revision (the
      previous one); none → error;
    - if that ReplicaSet's pod template equals the Deployment's, ignoring the
      `pod-template-hash` label, nothing is sent ("skipped rollback");
    - otherwise one JSON patch with two ops: replace `/spec/template` with the
      ReplicaSet's template minus the `pod-template-hash` label, and replace
      `/metadata/annotations` with: the Deployment's own values of the
      annotations in `UNDO_KEEPS_FROM_DEPLOYMENT` (last-applied-configuration,
      revision, revision-history, desired-replicas, max-replicas,
      deprecated.deployment.rollback.to), plus every other annotation of the
      ReplicaSet (which the controller copied from the Deployment when that
      revision was current, notably `kubernetes.io/change-cause`).
      So the change-cause goes back to that revision's, and a Deployment
      annotation that is neither kept nor on the ReplicaSet is dropped —
      as kubectl drops it. (Only difference: when the Deployment has no
      annotations at all, the second op is an "add", since JSON-patch
      "replace" needs an existing member.)
    The controller then reuses the old ReplicaSet, giving it the next revision
    number and recording its old number in `revision-history`.
    """
    name = _meta(dep).get("name", "")
    if (dep.get("spec") or {}).get("paused"):
        raise ConfigError(f'deployment "{name}" is paused; resume it first, then undo (kubectl refuses too)')
    if to_revision is not None and (
        isinstance(to_revision, bool) or not isinstance(to_revision, int) or to_revision < 0
    ):
        raise ConfigError(f"undo revision must be an int ≥ 1 (or None for the previous one), not {to_revision!r}")
    by_rev: dict[int, Mapping[str, Any]] = {}
    for rs in owned_replicasets(dep, replicasets):
        rev = _revision_of(rs)
        if rev is not None:
            by_rev[rev] = rs
    revisions = sorted(by_rev)
    if not to_revision:  # None or 0: the previous revision, as kubectl's default
        if len(revisions) < 2:
            raise ConfigError(
                f'deployment "{name}" has no previous revision to undo to (revisions: {revisions}); roll out a change '
                'first'
            )
        target = revisions[-2]
    else:
        if to_revision not in by_rev:
            raise ConfigError(
                f'deployment "{name}" has no revision {to_revision} (has: {revisions}); pick one of those'
            )
        target = to_revision
    rs = by_rev[target]
    rs_name = _meta(rs).get("name", "")
    template = strip_pod_template_hash((rs.get("spec") or {}).get("template") or {})
    current = strip_pod_template_hash((dep.get("spec") or {}).get("template") or {})
    if template == current:
        return UndoPlan(
            name, target, rs_name, True, f"skipped rollback (current template already matches revision {target})"
        )
    dep_ann = _annotations(dep)
    annotations = {k: v for k, v in dep_ann.items() if k in UNDO_KEEPS_FROM_DEPLOYMENT}
    annotations.update({k: v for k, v in _annotations(rs).items() if k not in UNDO_KEEPS_FROM_DEPLOYMENT})
    present = _meta(dep).get("annotations") is not None
    ops = undo_ops(template, annotations, annotations_present=present)
    return UndoPlan(name, target, rs_name, False, f"deployment.apps/{name} rolled back", ops, annotations)


def with_change_cause(manifest: Mapping[str, Any], cause: str | None) -> dict[str, Any]:
    """Deep copy of a manifest with `kubernetes.io/change-cause` set (None: copy unchanged)."""
    out = copy.deepcopy(dict(manifest))
    if cause is not None:
        meta = out.setdefault("metadata", {})
        meta["annotations"] = dict(meta.get("annotations") or {})
        meta["annotations"][CHANGE_CAUSE] = str(cause)
    return out


@dataclass(frozen=True)
class SetRevision:
    """One ControllerRevision of a StatefulSet or DaemonSet: its number, name and image."""

    revision: int
    name: str
    image: str | None


def set_revisions(revisions: Iterable[Mapping[str, Any]], kind: str, owner: str) -> list[SetRevision]:
    """The ControllerRevisions whose controller is `kind` `owner`, by revision number."""
    out = []
    for rev in revisions:
        refs = [r for r in _meta(rev).get("ownerReferences") or [] if r.get("controller")]
        if not refs or refs[0].get("kind") != kind or refs[0].get("name") != owner:
            continue
        template = (((rev.get("data") or {}).get("spec") or {}).get("template") or {}).get("spec") or {}
        containers = template.get("containers") or [{}]
        out.append(
            SetRevision(int(rev.get("revision") or 0), str(_meta(rev).get("name", "")), containers[0].get("image"))
        )
    return sorted(out, key=lambda r: r.revision)
