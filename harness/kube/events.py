"""ScalingReplicaSet events of a Deployment, as rollout steps on the harness clock."""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Any, Iterable

from ..samples import clock
from ..rolloutsteps import ScaleStep

__all__ = ["parse_scaling_message", "scaling_steps", "wall_to_clock"]

EVENT_RESOLUTION = 1.0  # core/v1 Event timestamps carry whole seconds
_SCALED = re.compile(r"Scaled (up|down) replica set (\S+) from (\d+) to (\d+)")


def wall_to_clock(when: datetime) -> float:
    """A wall-clock timestamp mapped onto the harness's monotonic clock (same machine)."""
    return clock() - (time.time() - when.timestamp())


def parse_scaling_message(message: str) -> tuple[str, str, int, int] | None:
    """("up"|"down", replica set, from, to) of a ScalingReplicaSet event message."""
    match = _SCALED.search(message or "")
    if not match:
        return None
    return match.group(1), match.group(2), int(match.group(3)), int(match.group(4))


def scaling_steps(events: Iterable[Any], deployment: str, since: float | None = None) -> list[ScaleStep]:
    """ScaleSteps from core/v1 Events (kubernetes client models) of one Deployment, oldest first.

    The Deployment controller stamps these with second precision: good for the
    picture and the report, not for bounds (use ReplicaSetWatcher points for those).
    """
    steps = []
    for event in events:
        if event.reason != "ScalingReplicaSet" or event.involved_object.name != deployment:
            continue
        parsed = parse_scaling_message(event.message)
        stamp = event.last_timestamp or event.event_time or event.first_timestamp
        if parsed is None or stamp is None:
            continue
        t = wall_to_clock(stamp)
        if since is not None and t < since - EVENT_RESOLUTION:
            continue
        direction, rs, before, after = parsed
        steps.append(
            ScaleStep(
                t,
                f"scale-{direction}",
                rs if direction == "down" else "",
                after if direction == "down" else 0,
                rs if direction == "up" else "",
                after if direction == "up" else 0,
                0,
            )
        )
    return sorted(steps, key=lambda s: s.t)
