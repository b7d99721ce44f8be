"""Pure arithmetic and validation of a client-side ReplicationController rolling update.

Reproduces the rules of the removed `kubectl rolling-update` (kubectl 1.17):

* fenceposts: surge percentages round up, unavailable percentages round down;
  if both resolve to 0 only because of rounding, unavailable becomes 1;
* one round = scale the new RC up as far as the surge allows, wait the update
  period, scale the old RC down as far as minimum availability allows;
* the new RC's `desired-replicas` annotation, not its spec, is the goal;
* a desired count of 0 means "everything may go": unavailable = old replicas.

Nothing here does I/O; manifests are plain dicts in the API's camelCase form.
"""

from __future__ import annotations

import copy
import json
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.errors import ConfigError
from harness.rollout.rcupdate.checks import check_rc_manifest

__all__ = [
    "ANNOTATION_PREFIX",
    "SOURCE_ID_ANNOTATION",
    "DESIRED_REPLICAS_ANNOTATION",
    "ORIGINAL_REPLICAS_ANNOTATION",
    "NEXT_CONTROLLER_ANNOTATION",
    "PROGRESS_ANNOTATIONS",
    "DEFAULT_DEPLOYMENT_KEY",
    "IntOrPercent",
    "ReadinessModel",
    "UpdateConfig",
    "PlannedStep",
    "Simulation",
    "resolve_int_or_percent",
    "resolve_fenceposts",
    "scale_up_target",
    "scale_down_target",
    "simulate",
    "instant_readiness",
    "validate_new_name",
    "validate_selectors",
    "template_hash",
    "old_deployment_value",
    "derive_image_update",
    "prepare_manifest",
    "strip_progress_annotations",
    "source_id",
]

ANNOTATION_PREFIX = "kubectl.kubernetes.io/"
SOURCE_ID_ANNOTATION = ANNOTATION_PREFIX + "update-source-id"
DESIRED_REPLICAS_ANNOTATION = ANNOTATION_PREFIX + "desired-replicas"
ORIGINAL_REPLICAS_ANNOTATION = ANNOTATION_PREFIX + "original-replicas"
NEXT_CONTROLLER_ANNOTATION = ANNOTATION_PREFIX + "next-controller-id"
PROGRESS_ANNOTATIONS = (
    SOURCE_ID_ANNOTATION,
    DESIRED_REPLICAS_ANNOTATION,
    ORIGINAL_REPLICAS_ANNOTATION,
    NEXT_CONTROLLER_ANNOTATION,
)
DEFAULT_DEPLOYMENT_KEY = "deployment"

IntOrPercent = int | str
ReadinessModel = Callable[[int], int]
"""Maps the new RC's replica count to how many of its pods are available."""


# --------------------------------------------------------------------------- fenceposts


def _parse_int_or_percent(value: IntOrPercent, name: str) -> tuple[int, bool]:
    """(number, is_percent); rejects negatives, bools and malformed strings."""
    if isinstance(value, bool):
        raise ConfigError(f"{name} must be an integer or a percentage such as '25%', not {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ConfigError(f"{name} must not be negative, got {value}")
        return value, False
    if isinstance(value, str):
        text = value.strip()
        digits = text[:-1] if text.endswith("%") else ""
        if not digits.isdigit():
            raise ConfigError(f"{name} must be an integer or a percentage such as '25%', not {value!r}")
        return int(digits), True
    raise ConfigError(f"{name} must be an integer or a percentage such as '25%', not {value!r}")


def resolve_int_or_percent(value: IntOrPercent, total: int, *, round_up: bool, name: str = "value") -> int:
    """An int as is; 'N%' of `total`, rounded up or down (integer arithmetic, no float error)."""
    number, is_percent = _parse_int_or_percent(value, name)
    if not is_percent:
        return number
    scaled = number * max(total, 0)
    return -(-scaled // 100) if round_up else scaled // 100


def resolve_fenceposts(max_surge: IntOrPercent, max_unavailable: IntOrPercent, desired: int) -> tuple[int, int]:
    """(surge, unavailable) for `desired` replicas, as kubectl resolved them.

    Surge rounds up, unavailable rounds down. Both given as zero ("0", 0 or
    "0%") is a ConfigError: nothing could ever move. Both resolving to zero
    only through rounding gives unavailable = 1, as kubectl did.
    """
    surge_n, _ = _parse_int_or_percent(max_surge, "max_surge")
    unavailable_n, _ = _parse_int_or_percent(max_unavailable, "max_unavailable")
    if surge_n == 0 and unavailable_n == 0:
        raise ConfigError("max_surge and max_unavailable are both 0: one of them must allow progress")
    surge = resolve_int_or_percent(max_surge, desired, round_up=True, name="max_surge")
    unavailable = resolve_int_or_percent(max_unavailable, desired, round_up=False, name="max_unavailable")
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


@dataclass(frozen=True)
class UpdateConfig:
    """The resolved limits of one rolling update.

    `desired` comes from the new RC (its desired-replicas annotation);
    `old_replicas` is the old RC's replica count when the update (re)starts and
    only matters when `desired` is 0 (then every old pod may go at once).
    """

    desired: int
    max_surge: IntOrPercent = 1
    max_unavailable: IntOrPercent = 0
    old_replicas: int = 0
    surge: int = field(init=False)
    unavailable: int = field(init=False)
    min_available: int = field(init=False)

    def __post_init__(self) -> None:
        if isinstance(self.desired, bool) or not isinstance(self.desired, int) or self.desired < 0:
            raise ConfigError(f"desired replicas must be a non-negative integer, got {self.desired!r}")
        surge, unavailable = resolve_fenceposts(self.max_surge, self.max_unavailable, self.desired)
        min_available = max(0, self.desired - unavailable)
        if self.desired == 0:
            unavailable = max(0, self.old_replicas)
            min_available = 0
        object.__setattr__(self, "surge", surge)
        object.__setattr__(self, "unavailable", unavailable)
        object.__setattr__(self, "min_available", min_available)

    @property
    def max_total(self) -> int:
        """The most pods (old + new) the update may have at once."""
        return self.desired + self.surge


# --------------------------------------------------------------------------- one round


def scale_up_target(old: int, new: int, desired: int, surge: int) -> int:
    """The new RC's next replica count (== `new` when it must not move).

    Fill up to desired + surge counting both RCs; once the old RC is at 0,
    go straight to desired. Never above desired; never scales the new RC down.
    """
    if new == desired:
        return new
    increment = (desired + surge) - (old + new)
    if old == 0:
        increment = desired - new
    if increment <= 0:
        return new
    return min(new + increment, desired)


def scale_down_target(old: int, new: int, desired: int, available_new: int, min_available: int) -> int:
    """The old RC's next replica count (== `old` when it must not move).

    Every old pod counts as available (the old RC is trusted), every new pod
    that is not yet available counts against the budget: remove what keeps
    old + available new >= min_available. When the new RC is complete and
    fully available, the old one goes straight to 0.
    """
    if old == 0:
        return old
    new_unavailable = new - available_new
    decrement = (old + new) - min_available - new_unavailable
    if decrement <= 0:
        return old
    target = max(0, old - decrement)
    if new == desired and available_new == desired:
        target = 0
    return target


# --------------------------------------------------------------------------- simulator


def instant_readiness(new_replicas: int) -> int:
    """Every pod of the new RC is available as soon as it exists."""
    return new_replicas


@dataclass(frozen=True)
class PlannedStep:
    """One scale the algorithm would make: counts after it."""

    action: str  # "scale-up" (new RC) or "scale-down" (old RC)
    old: int
    new: int
    available: int


@dataclass(frozen=True)
class Simulation:
    """The steps of a simulated update and whether it reached (0, desired)."""

    config: UpdateConfig
    steps: tuple[PlannedStep, ...]
    completed: bool
    rounds: int

    @property
    def pairs(self) -> list[tuple[int, int]]:
        """(old, new) after each step."""
        return [(s.old, s.new) for s in self.steps]


def simulate(
    config: UpdateConfig,
    old_replicas: int,
    readiness_model: ReadinessModel | None = None,
    *,
    new_replicas: int = 0,
    max_rounds: int = 10_000,
    max_idle_rounds: int = 3,
) -> Simulation:
    """Step the update loop with a readiness model (default: instant readiness).

    A round is: scale-up, (update period), scale-down. The model's answer is
    clamped to [0, new replicas]. Stops when old == 0 and new == desired
    (completed), or after `max_idle_rounds` rounds in a row without a scale
    (stuck: the live updater would run into its progress timeout), or after
    `max_rounds`.
    """
    if config.desired == 0 and config.old_replicas != old_replicas:
        config = UpdateConfig(config.desired, config.max_surge, config.max_unavailable, old_replicas)
    model = readiness_model or instant_readiness
    old, new, desired = old_replicas, new_replicas, config.desired
    steps: list[PlannedStep] = []
    rounds = idle = 0

    def available() -> int:
        return max(0, min(new, model(new)))

    while new != desired or old != 0:
        if rounds >= max_rounds or idle >= max_idle_rounds:
            return Simulation(config, tuple(steps), False, rounds)
        rounds += 1
        before = (old, new)
        target = scale_up_target(old, new, desired, config.surge)
        if target != new:
            new = target
            steps.append(PlannedStep("scale-up", old, new, available()))
        if old != 0:
            avail = available()
            target = scale_down_target(old, new, desired, avail, config.min_available)
            if target != old:
                old = target
                steps.append(PlannedStep("scale-down", old, new, avail))
        idle = idle + 1 if (old, new) == before else 0
    return Simulation(config, tuple(steps), True, rounds)


# --------------------------------------------------------------------------- validation


def validate_new_name(old_name: str, new_name: str) -> None:
    """The new RC needs its own name: both exist side by side during the update."""
    if not new_name:
        raise ConfigError(f"the new ReplicationController for {old_name!r} has no name")
    if new_name == old_name:
        raise ConfigError(
            f"the new ReplicationController is named {new_name!r}, like the one it replaces; "
            "give it another name (or update by image, which picks one)"
        )


def validate_selectors(old_name: str, old_selector: Mapping[str, str], new_selector: Mapping[str, str]) -> None:
    """Some key of the old selector must appear in the new one with another value.

    Otherwise the old RC would count (and fight over) the new RC's pods.
    """
    for key, old_value in (old_selector or {}).items():
        if key in (new_selector or {}) and new_selector[key] != old_value:
            return
    raise ConfigError(
        f"the new selector {dict(new_selector or {})} must give one of the keys of {old_name!r}'s "
        f"selector {dict(old_selector or {})} a different value, so that old and new pods are told apart"
    )


# --------------------------------------------------------------------------- derived controllers


def _template_without_key(template: Mapping[str, Any], deployment_key: str) -> dict[str, Any]:
    body = copy.deepcopy(dict(template))
    labels = dict((body.get("metadata") or {}).get("labels") or {})
    labels.pop(deployment_key, None)
    body.setdefault("metadata", {})
    body["metadata"] = dict(body["metadata"] or {}, labels=labels)
    return body


def template_hash(template: Mapping[str, Any], deployment_key: str = DEFAULT_DEPLOYMENT_KEY) -> str:
    """Short hex digest of a pod template, ignoring its own deployment-key label."""
    body = _template_without_key(template, deployment_key)
    encoded = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()
    return format(zlib.adler32(encoded), "x")


def old_deployment_value(old_rc: Mapping[str, Any], deployment_key: str = DEFAULT_DEPLOYMENT_KEY) -> str:
    """The deployment-key value given to an old RC that lacks one (suffixed: may equal the new hash)."""
    return template_hash((old_rc.get("spec") or {}).get("template") or {}, deployment_key) + "-orig"


def strip_progress_annotations(annotations: Mapping[str, str] | None) -> dict[str, str]:
    """A copy of `annotations` without the rolling-update progress keys."""
    return {k: v for k, v in (annotations or {}).items() if k not in PROGRESS_ANNOTATIONS}


def source_id(rc: Mapping[str, Any]) -> str:
    """`<name>:<uid>` of an RC, the value of the update-source-id annotation."""
    meta = rc.get("metadata") or {}
    return f"{meta.get('name', '')}:{meta.get('uid', '')}"


def derive_image_update(
    old_rc: Mapping[str, Any],
    image: str,
    *,
    container: str | None = None,
    image_pull_policy: str | None = None,
    deployment_key: str = DEFAULT_DEPLOYMENT_KEY,
    new_name: str | None = None,
) -> dict[str, Any]:
    """The new RC of an image-only update: the old one with `image`, keyed by template hash.

    Its template and selector get `deployment_key` = hash of the new template;
    its name is `new_name` or `<old name>-<hash>`; its replicas are the old
    RC's. Same image as now needs a (different) `image_pull_policy`.
    """
    if not image:
        raise ConfigError("image must not be empty")
    if not deployment_key:
        raise ConfigError("deployment_key must not be empty")
    meta = old_rc.get("metadata") or {}
    old_name = meta.get("name", "")
    spec = old_rc.get("spec") or {}
    template = copy.deepcopy(spec.get("template") or {})
    containers = ((template.get("spec") or {}).get("containers")) or []
    if not containers:
        raise ConfigError(f"ReplicationController {old_name!r} has no containers in its pod template")
    index = 0
    if container:
        names = [c.get("name") for c in containers]
        if container not in names:
            raise ConfigError(f"container {container!r} not found in {old_name!r}; it has {names}")
        index = names.index(container)
    elif len(containers) > 1:
        raise ConfigError(
            f"{old_name!r} runs {len(containers)} containers: name the one whose image changes (container=...)"
        )
    target = containers[index]
    if target.get("image") == image and not image_pull_policy:
        raise ConfigError(
            f"{old_name!r} already runs {image!r} (an update to it may have finished already): "
            "to roll it anyway, also give image_pull_policy (Always, Never or IfNotPresent)"
        )
    target["image"] = image
    if image_pull_policy:
        target["imagePullPolicy"] = image_pull_policy
    digest = template_hash(template, deployment_key)
    labels = dict((template.get("metadata") or {}).get("labels") or {})
    labels[deployment_key] = digest
    template["metadata"] = dict(template.get("metadata") or {}, labels=labels)
    selector = dict(spec.get("selector") or {})
    selector[deployment_key] = digest
    new_spec: dict[str, Any] = {"replicas": spec.get("replicas", 1), "selector": selector, "template": template}
    if spec.get("minReadySeconds"):
        new_spec["minReadySeconds"] = spec["minReadySeconds"]
    new_meta: dict[str, Any] = {"name": new_name or f"{old_name}-{digest}"}
    if meta.get("namespace"):
        new_meta["namespace"] = meta["namespace"]
    if meta.get("labels"):
        new_meta["labels"] = dict(meta["labels"])
    annotations = strip_progress_annotations(meta.get("annotations"))
    if annotations:
        new_meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "ReplicationController", "metadata": new_meta, "spec": new_spec}


def prepare_manifest(
    new_rc: Mapping[str, Any], old_rc: Mapping[str, Any], source: str = "the new ReplicationController"
) -> dict[str, Any]:
    """A clean copy of a user-given new RC manifest, checked on its own (`checks.check_rc_manifest`,
    errors naming `source`) and against the old RC.

    Replicas default to the old RC's; the selector defaults to the template's
    labels (as the API server does); server-owned fields are dropped.
    """
    body = copy.deepcopy(check_rc_manifest(new_rc, source))
    body.pop("status", None)
    meta = dict(body.get("metadata") or {})
    for server_field in (
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "generation",
        "managedFields",
        "selfLink",
        "deletionTimestamp",
        "ownerReferences",
    ):
        meta.pop(server_field, None)
    old_meta = old_rc.get("metadata") or {}
    old_name = old_meta.get("name", "")
    validate_new_name(old_name, meta.get("name", ""))
    if old_meta.get("namespace") and meta.get("namespace") not in (None, "", old_meta["namespace"]):
        raise ConfigError(f"the new RC is in namespace {meta['namespace']!r}, the old one in {old_meta['namespace']!r}")
    body["metadata"] = meta
    spec = dict(body.get("spec") or {})
    template = spec.get("template") or {}
    if not ((template.get("spec") or {}).get("containers")):
        raise ConfigError(f"the new RC {meta['name']!r} has no containers in its pod template")
    if spec.get("replicas") is None:
        spec["replicas"] = (old_rc.get("spec") or {}).get("replicas", 1)
    if not spec.get("selector"):
        spec["selector"] = dict((template.get("metadata") or {}).get("labels") or {})
    body["spec"] = spec
    validate_selectors(old_name, (old_rc.get("spec") or {}).get("selector") or {}, spec["selector"])
    return body
