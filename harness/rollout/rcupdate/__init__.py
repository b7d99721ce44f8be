"""Client-side ReplicationController rolling updates, as the removed `kubectl rolling-update` did them.

`plan` is the pure arithmetic and validation; `updater` drives a cluster
through the official kubernetes client (imported only when first used).
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
]

_LAZY = {"RollingUpdater", "UpdateResult"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from harness.rollout.rcupdate import updater

        return getattr(updater, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
