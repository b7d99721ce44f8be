"""Every duration the harness uses, by name, in one object."""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = ["Timeouts", "DEFAULT_TIMEOUTS"]


@dataclass(frozen=True)
class Timeouts:
    """Named durations in seconds. Scale all of them with `scaled`."""

    cluster_create: float = 600.0
    cluster_ready: float = 300.0
    namespace_delete: float = 120.0
    pods_ready: float = 180.0
    rollout: float = 300.0
    rollout_progress_deadline: int = 10  # progressDeadlineSeconds where a scenario waits it out (pods start in ~2 s)
    rc_update_period: float = 1.0
    rc_poll_interval: float = 0.5
    rc_timeout: float = 180.0
    probe_settle: float = 2.0
    pod_exit: float = 60.0  # a pod seen terminating, to be seen exiting, before the samplers stop
    endpoint_propagation: float = 3.0
    completion_agreement: float = 3.0  # kubectl's watch vs the harness's poll, same completion
    probe_max_duration: float = 900.0  # a sampler that runs longer ends by itself; the verdict then fails
    probe_connect: float = 1.0  # a probe's TCP connect
    probe_read: float = 2.0  # a probe's whole response after connecting
    probe_interval: float = 0.001  # a sampler's pace where the run names none (--probe-interval)
    api_request: float = 30.0
    poll_interval: float = 0.5
    rollout_poll: float = 0.2  # how often a wait for a rollout's end looks: that instant ends its phase

    def scaled(self, factor: float) -> "Timeouts":
        """All waits multiplied by `factor` (slow machines); periods unchanged."""
        waits = {
            name: getattr(self, name) * factor
            for name in (
                "cluster_create",
                "cluster_ready",
                "namespace_delete",
                "pods_ready",
                "rollout",
                "rc_timeout",
                "api_request",
                "probe_max_duration",
                "pod_exit",
            )
        }
        deadline = max(1, round(self.rollout_progress_deadline * factor))
        return replace(self, rollout_progress_deadline=deadline, **waits)


DEFAULT_TIMEOUTS = Timeouts()
