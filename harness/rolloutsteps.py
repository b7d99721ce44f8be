"""Rollout steps and replica points: what a rollout engine records, on the harness clock."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ReplicaPoint", "ScaleStep"]


@dataclass(frozen=True)
class ReplicaPoint:
    """Observed replicas of one ReplicaSet / ReplicationController at time `t`."""

    t: float
    owner: str
    replicas: int
    ready: int = 0
    available: int = 0
    revision: str | None = None


@dataclass(frozen=True)
class ScaleStep:
    """One step of a rolling update: what was scaled, and how many pods of the new
    controller were available when it was taken (kubectl's `newAvailable`)."""

    t: float
    action: str  # "scale-up", "scale-down", "rename", "rollback", "cleanup", ...
    old: str
    old_replicas: int
    new: str
    new_replicas: int
    available: int
