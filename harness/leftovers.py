"""What interrupted runs left on a cluster: recognised by label, removed only when their run is gone.

Everything the harness creates on a cluster carries

    label       rollproof.io/owned=true
    annotation  rollproof.io/owner=HOST/PID/START   (see `harness.owner`)
    annotation  rollproof.io/started=ISO-8601 time the run started

(test namespaces also keep their `rollproof.io/test=true` label). A leftover
is such an object whose owner process is gone; one whose owner still runs is
another live run's and is never touched; one made on another host (or with no
owner at all) cannot be judged from here and is listed, not removed.

`find_leftovers` lists them, `remove_leftovers` deletes them and waits until
they are gone, `sweep` does both and says so in one line per object. Every
pytest session sweeps once its cluster is up; `rollproof cluster sweep NAME`
does it on demand.
"""

from __future__ import annotations

import datetime as _dt
import functools
from dataclasses import dataclass
from typing import Any, Callable

from kubernetes import client

from .errors import NotFound
from .kube.config import call_api
from .poll import poll
from .owner import Owner, current_owner
from .timeouts import Timeouts

__all__ = [
    "OWNED",
    "OWNER",
    "STARTED",
    "owner_labels",
    "owner_annotations",
    "Leftover",
    "find_leftovers",
    "remove_leftovers",
    "sweep",
    "run_started",
    "live_runs",
]

OWNED = "rollproof.io/owned"
OWNER = "rollproof.io/owner"
STARTED = "rollproof.io/started"
TEST_LABEL = "rollproof.io/test"


@functools.lru_cache(maxsize=1)
def run_started() -> str:
    """When this process's run started (the first time anything asked), ISO-8601 UTC."""
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def owner_labels() -> dict[str, str]:
    return {OWNED: "true"}


def owner_annotations() -> dict[str, str]:
    return {OWNER: current_owner().token(), STARTED: run_started()}


@dataclass(frozen=True)
class Leftover:
    """A labelled object of a run that is not (known to be) running."""

    kind: str  # "namespace" or "service"
    name: str
    namespace: str | None
    owner: Owner | None
    started: str
    removable: bool  # its run is known to be gone

    def describe(self) -> str:
        what = f"namespace {self.name}" if self.kind == "namespace" else f"Service {self.namespace}/{self.name}"
        return what

    def whose(self) -> str:
        if self.owner is None:
            return "made by a run that left no owner"
        when = f", started {self.started}" if self.started else ""
        return f"made by {self.owner.describe()}{when}"

    def delete_command(self) -> str:
        if self.kind == "namespace":
            return f"kubectl delete namespace {self.name}"
        return f"kubectl -n {self.namespace} delete service {self.name}"


def _judge(kind: str, meta: dict[str, Any]) -> Leftover | None:
    annotations = meta.get("annotations") or {}
    owner = Owner.parse(annotations.get(OWNER))
    alive = owner.alive() if owner is not None else None
    if alive:
        return None  # a live run's: never touched
    return Leftover(
        kind=kind,
        name=meta.get("name", ""),
        namespace=meta.get("namespace"),
        owner=owner,
        started=str(annotations.get(STARTED) or ""),
        removable=alive is False,
    )


def find_leftovers(core: client.CoreV1Api, timeouts: Timeouts, namespace: str | None = None) -> list[Leftover]:
    """Labelled namespaces and Services of runs that are not running; in `namespace` only when given.

    Without `namespace` this lists cluster-wide (namespaces and Services in every namespace).
    """
    found: list[Leftover] = []
    gone_namespaces: set[str] = set()
    if namespace is None:
        for item in _test_namespaces(core, timeouts):
            meta = item.get("metadata", {})
            if (meta.get("labels") or {}).get(TEST_LABEL) is None:
                continue
            left = _judge("namespace", meta)
            if left is not None:
                found.append(left)
                gone_namespaces.add(left.name)
        services = _labelled(core.list_service_for_all_namespaces, "/api/v1/services", OWNED, timeouts)
    else:
        path = f"/api/v1/namespaces/{namespace}/services"
        services = _labelled(core.list_namespaced_service, path, OWNED, timeouts, namespace)
    for item in services:
        meta = item.get("metadata", {})
        if meta.get("namespace") in gone_namespaces:
            continue  # goes with its namespace
        left = _judge("service", meta)
        if left is not None:
            found.append(left)
    return found


def live_runs(core: client.CoreV1Api, timeouts: Timeouts) -> list[tuple[Owner, str]]:
    """(owner, namespace) of every test namespace whose run still runs on this host."""
    found = []
    for item in _test_namespaces(core, timeouts):
        meta = item.get("metadata", {})
        owner = Owner.parse((meta.get("annotations") or {}).get(OWNER))
        if owner is not None and owner.alive():
            found.append((owner, meta.get("name", "")))
    return found


def _labelled(
    list_call: Callable[..., Any], path: str, label: str, timeouts: Timeouts, *args: Any
) -> list[dict[str, Any]]:
    """The items a typed-client list call returns for the objects carrying `label`."""
    body = call_api(list_call, *args, method="GET", path=path, timeout=timeouts.api_request, label_selector=label)
    return list(body.get("items", []))


def _test_namespaces(core: client.CoreV1Api, timeouts: Timeouts) -> list[dict[str, Any]]:
    return _labelled(core.list_namespace, "/api/v1/namespaces", TEST_LABEL, timeouts)


def _drop_own_finalizers(core: client.CoreV1Api, namespace: str, timeouts: Timeouts) -> None:
    from .namespaces import drop_own_finalizers

    drop_own_finalizers(core, namespace, timeouts)


def _call(core: client.CoreV1Api, left: Leftover, method: str, timeouts: Timeouts, **kwargs: Any) -> Any:
    """GET (read) or DELETE leftover `left` through the typed client; `kwargs` go to the call."""
    if left.kind == "namespace":
        fn: Callable[..., Any] = core.read_namespace if method == "GET" else core.delete_namespace
        args: tuple[Any, ...] = (left.name,)
        path = f"/api/v1/namespaces/{left.name}"
    else:
        fn = core.read_namespaced_service if method == "GET" else core.delete_namespaced_service
        args = (left.name, left.namespace)
        path = f"/api/v1/namespaces/{left.namespace}/services/{left.name}"
    return call_api(fn, *args, method=method, path=path, timeout=timeouts.api_request, **kwargs)


def _exists(core: client.CoreV1Api, left: Leftover, timeouts: Timeouts) -> bool:
    """Whether leftover `left` can still be read."""
    try:
        _call(core, left, "GET", timeouts)
    except NotFound:
        return False
    return True


def remove_leftovers(core: client.CoreV1Api, leftovers: list[Leftover], timeouts: Timeouts) -> None:
    """Delete the removable leftovers and wait until every one is gone."""
    pending: list[Leftover] = []
    for left in leftovers:
        if not left.removable:
            continue
        try:
            if left.kind == "namespace":
                _drop_own_finalizers(core, left.name, timeouts)
                _call(core, left, "DELETE", timeouts, grace_period_seconds=0)
            else:
                _call(core, left, "DELETE", timeouts)
        except NotFound:
            continue
        pending.append(left)

    def deleted() -> tuple[bool, list[Leftover]]:
        pending[:] = [left for left in pending if _exists(core, left, timeouts)]
        return not pending, pending

    poll(
        deleted,
        waited_for="leftovers of earlier runs to be deleted",
        timeout=timeouts.namespace_delete,
        interval=timeouts.poll_interval,
        describe=lambda pending: ", ".join(left.describe() for left in pending) + " still there",
    )


def sweep(
    core: client.CoreV1Api,
    timeouts: Timeouts,
    announce: Callable[[str], None],
    namespace: str | None = None,
    where: str = "",
) -> list[Leftover]:
    """Find, report (one line each) and remove the leftovers of runs that are gone."""
    leftovers = find_leftovers(core, timeouts, namespace)
    remove_leftovers(core, leftovers, timeouts)
    on = f" on {where}" if where else ""
    for left in leftovers:
        if left.removable:
            announce(f"rollproof: removed leftover {left.describe()}{on} ({left.whose()}, which is gone)")
        else:
            cause = (
                "which cannot be checked from this host"
                if left.owner is not None
                else "so it cannot be told whether a run still uses it"
            )
            announce(
                f"rollproof: kept leftover {left.describe()}{on} ({left.whose()}, {cause}); "
                f"once no run uses it: {left.delete_command()}"
            )
    return leftovers
