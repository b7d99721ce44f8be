"""Client-side ReplicationController rolling updates, as the removed `kubectl rolling-update` did them.

plan     pure: the surge/unavailable arithmetic, names, selectors, annotations
checks   pure: validation of manifests, images, labels, durations (what kubectl refused)
updater  RollingUpdater (with its Pacing and NewRcOptions): drives a cluster through the typed client
         (imported only when first used)
trace    RcRecorder: the RCs watched from outside, to compare two updaters
command  `rollproof rolling-update`, the CLI subcommand

May import: the standard library, the kubernetes client, yaml, `harness.kube`,
`harness.errors`, `harness.poll`, `harness.samples`, `harness.rolloutsteps`,
`harness.timeouts`; `plan` and `checks` only each other, the standard library, yaml and
`harness.errors`.
"""

from __future__ import annotations

from typing import Any

from harness.rollout.rcupdate.plan import (
    DEFAULT_DEPLOYMENT_KEY,
    DESIRED_REPLICAS_ANNOTATION,
    NEXT_CONTROLLER_ANNOTATION,
    ORIGINAL_REPLICAS_ANNOTATION,
    SOURCE_ID_ANNOTATION,
    PlannedStep,
    Simulation,
    UpdateConfig,
    derive_image_update,
    resolve_fenceposts,
    scale_down_target,
    scale_up_target,
    simulate,
    validate_new_name,
    validate_selectors,
)

__all__ = [
    "DEFAULT_DEPLOYMENT_KEY",
    "DESIRED_REPLICAS_ANNOTATION",
    "NEXT_CONTROLLER_ANNOTATION",
    "ORIGINAL_REPLICAS_ANNOTATION",
    "SOURCE_ID_ANNOTATION",
    "PlannedStep",
    "Simulation",
    "UpdateConfig",
    "derive_image_update",
    "resolve_fenceposts",
    "scale_down_target",
    "scale_up_target",
    "simulate",
    "validate_new_name",
    "validate_selectors",
    "RollingUpdater",
    "UpdateResult",
    "Pacing",
    "NewRcOptions",
]

_LAZY = {"RollingUpdater", "UpdateResult", "Pacing", "NewRcOptions"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from harness.rollout.rcupdate import updater

        return getattr(updater, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
