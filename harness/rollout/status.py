"""`kubectl rollout status`'s rules, as pure functions over API JSON, for the three
kinds that roll out: Deployment, StatefulSet and DaemonSet; and a dump of a
Deployment's rollout for a failed wait.

Each verdict carries the counts it used, so a wait that times out can say what it
last saw. Objects are API JSON (camelCase dicts), exactly as the server sent them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from harness.errors import ConfigError
from harness.rollout.history import LAST_APPLIED, REVISION

__all__ = [
    "RolloutStatus",
    "rollout_status",
    "condition",
    "describe_rollout",
    "SetRolloutStatus",
    "statefulset_rollout_status",
    "daemonset_rollout_status",
]

_PROGRESS_DEADLINE = "ProgressDeadlineExceeded"
ROLLBACK_REQUEST = "deprecated.deployment.rollback.to"  # apps/v1's form of a pending `spec.rollbackTo`


@dataclass(frozen=True)
class RolloutStatus:
    """`kubectl rollout status`'s verdict on one Deployment object, with the counts it used."""

    done: bool
    message: str
    failed: bool = False
    generation: int = 0
    observed_generation: int = 0
    spec_replicas: int | None = None
    replicas: int = 0
    updated: int = 0
    ready: int = 0
    available: int = 0

    def summary(self) -> str:
        return (
            f"{self.message} [generation {self.generation}, observed {self.observed_generation}; "
            f"spec {self.spec_replicas}, replicas {self.replicas}, updated {self.updated}, "
            f"ready {self.ready}, available {self.available}]"
        )


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _annotations(obj: Mapping[str, Any]) -> dict[str, str]:
    return dict(_meta(obj).get("annotations") or {})


def condition(dep: Mapping[str, Any], ctype: str) -> Mapping[str, Any] | None:
    """The status condition of type `ctype` of a Deployment (None: not reported)."""
    for cond in (dep.get("status") or {}).get("conditions") or []:
        if isinstance(cond, Mapping) and cond.get("type") == ctype:
            return cond
    return None


def rollout_status(dep: Mapping[str, Any]) -> RolloutStatus:
    """The rules of `kubectl rollout status` for a Deployment, in kubectl's order, after one of our own.

    0. a legacy rollback request not yet taken (`spec.rollbackTo`, or in apps/v1 its annotation
       `deprecated.deployment.rollback.to`) → waiting for the controller to take it. Before 1.16 the
       `/rollback` POST writes the request straight to storage without bumping `generation`, so
       kubectl's rules read the rollout before the rollback as done; the controller clears the
       request in every outcome (rolled back, template unchanged, revision not found) with an
       update that bumps `generation`. (1.15 nightly: the harness saw the rollback complete
       0.03 s after the POST and the old version answered only 3.4 s later; README finding 19.)
    1. generation > status.observedGeneration → waiting for the spec update to be observed;
    2. a Progressing condition with reason ProgressDeadlineExceeded → failed;
    3. updatedReplicas < spec.replicas → waiting for new replicas to be updated;
    4. replicas > updatedReplicas → old replicas pending termination;
    5. availableReplicas < updatedReplicas → updated replicas not yet available;
    otherwise done. (kubectl tests 3 as "<", so more updated than desired,
    e.g. during a scale-down, does not keep it waiting.)
    """
    name = _meta(dep).get("name", "")
    st = dep.get("status") or {}
    raw_wanted = (dep.get("spec") or {}).get("replicas")
    wanted = None if raw_wanted is None else int(raw_wanted)
    generation = int(_meta(dep).get("generation") or 0)
    observed = int(st.get("observedGeneration") or 0)
    replicas = int(st.get("replicas") or 0)
    updated = int(st.get("updatedReplicas") or 0)
    available = int(st.get("availableReplicas") or 0)

    def verdict(done: bool, message: str, failed: bool = False) -> RolloutStatus:
        return RolloutStatus(
            done=done,
            message=message,
            failed=failed,
            generation=generation,
            observed_generation=observed,
            spec_replicas=wanted,
            replicas=replicas,
            updated=updated,
            ready=int(st.get("readyReplicas") or 0),
            available=available,
        )

    pending = _annotations(dep).get(ROLLBACK_REQUEST) or (dep.get("spec") or {}).get("rollbackTo")
    if pending:
        return verdict(False, f'Waiting for deployment "{name}" to take its rollback request ({pending})...')
    if generation > observed:
        return verdict(False, "Waiting for deployment spec update to be observed...")
    cond = condition(dep, "Progressing")
    if cond is not None and cond.get("reason") == _PROGRESS_DEADLINE:
        return verdict(False, f'deployment "{name}" exceeded its progress deadline', failed=True)
    waiting = f'Waiting for deployment "{name}" rollout to finish: '
    if wanted is not None and updated < wanted:
        return verdict(False, f"{waiting}{updated} out of {wanted} new replicas have been updated...")
    if replicas > updated:
        return verdict(False, f"{waiting}{replicas - updated} old replicas are pending termination...")
    if available < updated:
        return verdict(False, f"{waiting}{available} of {updated} updated replicas are available...")
    return verdict(True, f'deployment "{name}" successfully rolled out')


def describe_rollout(dep: Mapping[str, Any] | None, replicasets: Iterable[Mapping[str, Any]] = ()) -> str:
    """A YAML dump of what matters for a rollout: Deployment spec/status/conditions and its ReplicaSets."""
    doc: dict[str, Any] = {}
    if dep is not None:
        spec = dep.get("spec") or {}
        doc["deployment"] = {
            "name": _meta(dep).get("name"),
            "generation": _meta(dep).get("generation"),
            "annotations": {k: v for k, v in _annotations(dep).items() if k != LAST_APPLIED},
            "replicas": spec.get("replicas"),
            "paused": spec.get("paused", False),
            "strategy": spec.get("strategy"),
            "minReadySeconds": spec.get("minReadySeconds", 0),
            "progressDeadlineSeconds": spec.get("progressDeadlineSeconds"),
            "status": {k: v for k, v in (dep.get("status") or {}).items() if k != "conditions"},
            "conditions": [
                {k: c.get(k) for k in ("type", "status", "reason", "message")}
                for c in (dep.get("status") or {}).get("conditions") or []
            ],
        }
    doc["replicasets"] = [
        {
            "name": _meta(rs).get("name"),
            "revision": _annotations(rs).get(REVISION),
            "spec": (rs.get("spec") or {}).get("replicas"),
            "status": {k: v for k, v in (rs.get("status") or {}).items() if k != "conditions"},
            "images": [
                c.get("image")
                for c in (((rs.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
            ],
        }
        for rs in replicasets
    ]
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)


@dataclass(frozen=True)
class SetRolloutStatus:
    """`kubectl rollout status`'s verdict on one StatefulSet or DaemonSet, with the counts it used."""

    done: bool
    message: str
    counts: tuple[tuple[str, object], ...] = ()

    def summary(self) -> str:
        return f"{self.message} [{', '.join(f'{k} {v}' for k, v in self.counts)}]"


def statefulset_rollout_status(sts: Mapping[str, Any]) -> SetRolloutStatus:
    """kubectl's StatefulSet rules, in its order, plus one for partition 0.

    1. not RollingUpdate → error (kubectl refuses too);
    2. observedGeneration unset or behind generation → waiting for the spec update;
    3. readyReplicas < spec.replicas → waiting for pods to be ready;
    4. updatedReplicas < replicas - partition → partitioned roll out not finished;
    5. (stricter than kubectl, whose rule 4 ends it since the API defaults the
       partition to 0) with partition 0, currentRevision != updateRevision or
       availableReplicas < replicas (readyReplicas before 1.22, which has no
       availableReplicas) → rolling update not complete.
    """
    name = _meta(sts).get("name", "")
    spec = sts.get("spec") or {}
    st = sts.get("status") or {}
    strategy = spec.get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        raise ConfigError(
            f'statefulset "{name}" uses updateStrategy {strategy.get("type")!r}: rollout status needs RollingUpdate'
        )
    replicas = int(spec["replicas"]) if spec.get("replicas") is not None else 1
    partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0)
    generation = int(_meta(sts).get("generation") or 0)
    observed = int(st.get("observedGeneration") or 0)
    ready = int(st.get("readyReplicas") or 0)
    # availableReplicas came with 1.22 (always written from then on); before it, ready is what counted
    available = int(st.get("availableReplicas") or 0) if "availableReplicas" in st else ready
    updated = int(st.get("updatedReplicas") or 0)
    current_rev, update_rev = st.get("currentRevision"), st.get("updateRevision")
    counts = (
        ("generation", generation),
        ("observed", observed),
        ("spec", replicas),
        ("partition", partition),
        ("ready", ready),
        ("available", available),
        ("updated", updated),
        ("currentRevision", current_rev),
        ("updateRevision", update_rev),
    )

    def verdict(done: bool, message: str) -> SetRolloutStatus:
        return SetRolloutStatus(done, message, counts)

    if observed == 0 or generation > observed:
        return verdict(False, "Waiting for statefulset spec update to be observed...")
    if ready < replicas:
        return verdict(False, f"Waiting for {replicas - ready} pods to be ready...")
    if updated < replicas - partition:
        return verdict(
            False,
            f"Waiting for partitioned roll out to finish: {updated} out of "
            f"{replicas - partition} new pods have been updated...",
        )
    if partition == 0 and (current_rev != update_rev or available < replicas):
        return verdict(
            False,
            f"waiting for statefulset rolling update to complete {updated} pods at revision "
            f"{update_rev} (current {current_rev}, {available} available)...",
        )
    if partition:
        return verdict(True, f"partitioned roll out complete: {updated} new pods have been updated...")
    return verdict(True, f"statefulset rolling update complete {updated} pods at revision {update_rev}...")


def daemonset_rollout_status(ds: Mapping[str, Any]) -> SetRolloutStatus:
    """kubectl's DaemonSet rules, in its order.

    1. not RollingUpdate → error (kubectl refuses too);
    2. generation > observedGeneration → waiting for the spec update;
    3. updatedNumberScheduled < desiredNumberScheduled → new pods not all scheduled;
    4. numberAvailable < desiredNumberScheduled → updated pods not all available;
    otherwise done.
    """
    name = _meta(ds).get("name", "")
    strategy = (ds.get("spec") or {}).get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        raise ConfigError(
            f'daemon set "{name}" uses updateStrategy {strategy.get("type")!r}: rollout status needs RollingUpdate'
        )
    st = ds.get("status") or {}
    generation = int(_meta(ds).get("generation") or 0)
    observed = int(st.get("observedGeneration") or 0)
    desired = int(st.get("desiredNumberScheduled") or 0)
    updated = int(st.get("updatedNumberScheduled") or 0)
    available = int(st.get("numberAvailable") or 0)
    counts = (
        ("generation", generation),
        ("observed", observed),
        ("desired", desired),
        ("updated", updated),
        ("available", available),
        ("current", int(st.get("currentNumberScheduled") or 0)),
        ("misscheduled", int(st.get("numberMisscheduled") or 0)),
    )
    if generation > observed:
        return SetRolloutStatus(False, "Waiting for daemon set spec update to be observed...", counts)
    if updated < desired:
        return SetRolloutStatus(
            False,
            f'Waiting for daemon set "{name}" rollout to finish: {updated} out of '
            f"{desired} new pods have been updated...",
            counts,
        )
    if available < desired:
        return SetRolloutStatus(
            False,
            f'Waiting for daemon set "{name}" rollout to finish: {available} of '
            f"{desired} updated pods are available...",
            counts,
        )
    return SetRolloutStatus(True, f'daemon set "{name}" successfully rolled out', counts)
