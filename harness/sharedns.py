"""Running in one namespace the user names, with namespace-scoped rights only.

With `--namespace NAME` (or, for an existing cluster, the kubeconfig context's
namespace) nothing cluster-wide is created: every test runs in that namespace.
One run at a time holds it through a ConfigMap (`rollproof-run`) that names the
owner and lists (by uid) what the namespace held before the run: its baseline.
After each test what was made since is deleted and waited for (an object is
"made since" when it is not in the baseline and neither is the first object of
its ownership chain: a new pod of the user's own Deployment is the user's), so
the next test starts from the same state. Do not change the namespace by hand
while a run holds it. A run
killed before it could clean up leaves its ConfigMap; the next run finds its
owner gone, removes what is not in that baseline, says so, and takes over.
A namespace held by a live run (or by one on another host) is refused.

`RIGHTS` is what such a run needs in its namespace (the README's table and the
Role of the cluster test are made from it); `missing_rights` checks them up
front with SelfSubjectAccessReviews.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

from kubernetes import client

from .errors import ConfigError, Conflict, Forbidden, NotFound
from .kube.config import call_api
from .leftovers import OWNER, STARTED, owner_annotations, owner_labels
from .owner import Owner
from .poll import poll
from .timeouts import Timeouts

__all__ = ["Right", "RIGHTS", "LEASE", "missing_rights", "describe_missing", "SharedNamespace", "role_rules"]

LEASE = "rollproof-run"
_ALL = ("get", "list", "watch", "create", "update", "patch", "delete")


@dataclass(frozen=True)
class Right:
    """Verbs on resources of one API group, in the run's namespace."""

    group: str
    resources: tuple[str, ...]
    verbs: tuple[str, ...]

    def describe(self) -> str:
        names = ", ".join(_display(r.partition("/")[0], self.group, r.partition("/")[2]) for r in self.resources)
        return f"{', '.join(self.verbs)} on {names}"


RIGHTS: tuple[Right, ...] = (
    Right("", ("pods", "services", "replicationcontrollers", "configmaps"), _ALL),
    Right("", ("pods/log", "pods/proxy"), ("get",)),
    Right("", ("events",), ("get", "list", "watch")),
    Right("discovery.k8s.io", ("endpointslices",), ("get", "list", "watch")),
    Right("apps", ("deployments", "replicasets", "statefulsets", "daemonsets", "controllerrevisions"), _ALL),
    Right("apps", ("deployments/scale",), ("get", "update", "patch")),
)


def role_rules(rights: tuple[Right, ...] = RIGHTS) -> list[dict[str, Any]]:
    """`rules` of a Role granting `rights` (what the cluster test gives its ServiceAccount)."""
    return [{"apiGroups": [r.group], "resources": list(r.resources), "verbs": list(r.verbs)} for r in rights]


def missing_rights(
    api: client.ApiClient, namespace: str, timeouts: Timeouts, rights: tuple[Right, ...] = RIGHTS
) -> list[str]:
    """Each right this user lacks in `namespace`, as `verb resource[.group]` (empty when it has all)."""
    authz = client.AuthorizationV1Api(api)
    missing = []
    for right in rights:
        for resource in right.resources:
            res, _, sub = resource.partition("/")
            for verb in right.verbs:
                body = {
                    "apiVersion": "authorization.k8s.io/v1",
                    "kind": "SelfSubjectAccessReview",
                    "spec": {
                        "resourceAttributes": {
                            "namespace": namespace,
                            "verb": verb,
                            "group": right.group,
                            "resource": res,
                            "subresource": sub,
                        }
                    },
                }
                review = call_api(
                    authz.create_self_subject_access_review,
                    body,
                    method="POST",
                    path="/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                    timeout=timeouts.api_request,
                )
                if not (review.get("status") or {}).get("allowed"):
                    missing.append(f"{verb} {_display(res, right.group, sub)}")
    return missing


def _display(resource: str, group: str, sub: str = "") -> str:
    return resource + (f".{group}" if group else "") + (f"/{sub}" if sub else "")


def describe_missing(missing: list[str]) -> str:
    """`verb resource` entries grouped per resource: "services (create, delete), pods/log (get)"."""
    verbs: dict[str, list[str]] = {}
    for entry in missing:
        verb, _, resource = entry.partition(" ")
        verbs.setdefault(resource, []).append(verb)
    return ", ".join(f"{resource} ({', '.join(v)})" for resource, v in verbs.items())


@dataclass(frozen=True)
class _Kind:
    name: str
    path: str  # collection path, {ns} for the namespace
    lister: str  # method of the typed client
    deleter: str
    api: str  # "core" or "apps"


_KINDS: tuple[_Kind, ...] = (
    _Kind(
        "deployment",
        "/apis/apps/v1/namespaces/{ns}/deployments",
        "list_namespaced_deployment",
        "delete_namespaced_deployment",
        "apps",
    ),
    _Kind(
        "statefulset",
        "/apis/apps/v1/namespaces/{ns}/statefulsets",
        "list_namespaced_stateful_set",
        "delete_namespaced_stateful_set",
        "apps",
    ),
    _Kind(
        "daemonset",
        "/apis/apps/v1/namespaces/{ns}/daemonsets",
        "list_namespaced_daemon_set",
        "delete_namespaced_daemon_set",
        "apps",
    ),
    _Kind(
        "replicaset",
        "/apis/apps/v1/namespaces/{ns}/replicasets",
        "list_namespaced_replica_set",
        "delete_namespaced_replica_set",
        "apps",
    ),
    _Kind(
        "controllerrevision",
        "/apis/apps/v1/namespaces/{ns}/controllerrevisions",
        "list_namespaced_controller_revision",
        "delete_namespaced_controller_revision",
        "apps",
    ),
    _Kind(
        "replicationcontroller",
        "/api/v1/namespaces/{ns}/replicationcontrollers",
        "list_namespaced_replication_controller",
        "delete_namespaced_replication_controller",
        "core",
    ),
    _Kind(
        "service", "/api/v1/namespaces/{ns}/services", "list_namespaced_service", "delete_namespaced_service", "core"
    ),
    _Kind("pod", "/api/v1/namespaces/{ns}/pods", "list_namespaced_pod", "delete_namespaced_pod", "core"),
    _Kind(
        "configmap",
        "/api/v1/namespaces/{ns}/configmaps",
        "list_namespaced_config_map",
        "delete_namespaced_config_map",
        "core",
    ),
)


@dataclass(frozen=True)
class _Object:
    kind: _Kind
    name: str
    uid: str
    owners: tuple[str, ...]

    def describe(self) -> str:
        return f"{self.kind.name}/{self.name}"


class SharedNamespace:
    """One named namespace held by this run: baseline, cleanup after each test, release at the end."""

    def __init__(
        self, api: client.ApiClient, namespace: str, timeouts: Timeouts, announce: Callable[[str], None] = print
    ) -> None:
        self.namespace = namespace
        self.timeouts = timeouts
        self.announce = announce
        self._apis = {"core": client.CoreV1Api(api), "apps": client.AppsV1Api(api)}
        self.baseline: frozenset[str] = frozenset()
        self.held = False

    # -- what the namespace holds

    def _call(self, api: str, method: str, http: str, path: str, *args: Any, **kwargs: Any) -> Any:
        fn = getattr(self._apis[api], method)
        return call_api(fn, *args, method=http, path=path, timeout=self.timeouts.api_request, **kwargs)

    def objects(self) -> dict[str, _Object]:
        """Every object of the tracked kinds in the namespace (not the lease), by uid."""
        found: dict[str, _Object] = {}
        for kind in _KINDS:
            body = self._call(kind.api, kind.lister, "GET", kind.path.format(ns=self.namespace), self.namespace)
            for item in body.get("items", []):
                meta = item.get("metadata", {})
                if kind.name == "configmap" and meta.get("name") == LEASE:
                    continue
                owners = tuple(ref.get("uid", "") for ref in meta.get("ownerReferences") or [])
                found[meta.get("uid", "")] = _Object(kind, meta.get("name", ""), meta.get("uid", ""), owners)
        return found

    def snapshot(self) -> frozenset[str]:
        """The uids of what the namespace holds now (a baseline)."""
        return frozenset(self.objects())

    @staticmethod
    def _made_since(objects: dict[str, _Object], keep: frozenset[str]) -> list[_Object]:
        """Objects not in `keep` whose ownership chain starts at an object not in `keep` either.

        A pod of a ReplicaSet of a Deployment in the baseline is the user's, even if it was created
        since (a restart); an object whose owner is not among the tracked kinds is left alone.
        """

        def made(obj: _Object, depth: int = 0) -> bool:
            if obj.uid in keep:
                return False
            if not obj.owners:
                return True
            owner = objects.get(obj.owners[0])
            return owner is not None and depth < 8 and made(owner, depth + 1)

        return sorted((o for o in objects.values() if made(o)), key=lambda o: (o.kind.name, o.name))

    def clean(self, baseline: frozenset[str] | None = None) -> list[str]:
        """Delete what was made since `baseline` (default: this run's) and wait until it is gone.

        Top-level objects are deleted in the foreground, so each stays listed until what it
        owns is gone; returns `kind/name` of what was deleted.
        """
        keep = self.baseline if baseline is None else baseline
        made = self._made_since(self.objects(), keep)
        for obj in made:
            if obj.owners:
                continue  # goes with its owner
            try:
                self._call(
                    obj.kind.api,
                    obj.kind.deleter,
                    "DELETE",
                    f"{obj.kind.path.format(ns=self.namespace)}/{obj.name}",
                    obj.name,
                    self.namespace,
                    propagation_policy="Foreground",
                    grace_period_seconds=0,
                )
            except NotFound:
                pass

        def deleted() -> tuple[bool, list[_Object]]:
            left = self._made_since(self.objects(), keep)
            return not left, left

        poll(
            deleted,
            waited_for=f"the objects the test made in namespace {self.namespace} to be deleted",
            timeout=self.timeouts.namespace_delete,
            interval=self.timeouts.poll_interval,
            describe=lambda left: ", ".join(o.describe() for o in left[:10]) + " still there",
        )
        return [o.describe() for o in made]

    # -- holding it

    def _lease_body(self, baseline: frozenset[str], resource_version: str | None = None) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": LEASE, "labels": owner_labels(), "annotations": owner_annotations()}
        if resource_version:
            meta["resourceVersion"] = resource_version
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": meta,
            "data": {"baseline": json.dumps(sorted(baseline))},
        }

    def acquire(self) -> None:
        """Hold the namespace for this run, cleaning up after a dead previous holder; ConfigError if in use."""
        path = f"/api/v1/namespaces/{self.namespace}/configmaps"
        try:
            self._call("core", "read_namespace", "GET", f"/api/v1/namespaces/{self.namespace}", self.namespace)
        except NotFound:
            raise ConfigError(self._no_such_namespace()) from None
        except Forbidden:
            pass  # reading the namespace object is not among the rights needed; creating the lease tells
        self.baseline = self.snapshot()
        try:
            self._call(
                "core", "create_namespaced_config_map", "POST", path, self.namespace, self._lease_body(self.baseline)
            )
            self.held = True
            return
        except NotFound:
            raise ConfigError(self._no_such_namespace()) from None
        except Conflict:
            pass
        lease = self._call("core", "read_namespaced_config_map", "GET", f"{path}/{LEASE}", LEASE, self.namespace)
        meta = lease.get("metadata", {})
        annotations = meta.get("annotations") or {}
        owner = Owner.parse(annotations.get(OWNER))
        alive = owner.alive() if owner is not None else None
        if alive is not False:
            who = owner.describe() if owner is not None else "a run that left no owner"
            how = (
                "wait for it to finish"
                if alive
                else f"once it is over: kubectl -n {self.namespace} delete configmap {LEASE}"
            )
            raise ConfigError(
                f"namespace {self.namespace} is in use by another rollproof run ({who}, started "
                f"{annotations.get(STARTED, '?')}); {how}, or name another namespace"
            )
        try:
            previous = frozenset(json.loads((lease.get("data") or {}).get("baseline", "[]")))
        except ValueError:
            previous = self.baseline
        removed = self.clean(previous)
        self.baseline = self.snapshot()
        try:
            self._call(
                "core",
                "replace_namespaced_config_map",
                "PUT",
                f"{path}/{LEASE}",
                LEASE,
                self.namespace,
                self._lease_body(self.baseline, meta.get("resourceVersion")),
            )
        except Conflict:
            raise ConfigError(
                f"namespace {self.namespace} was taken by another rollproof run just now; "
                "wait for it to finish, or name another namespace"
            ) from None
        self.held = True
        what = ", ".join(removed) if removed else "nothing"
        self.announce(
            f"rollproof: namespace {self.namespace} was held by {owner.describe() if owner else '?'}, "
            f"which is gone; removed what it left: {what}"
        )

    def _no_such_namespace(self) -> str:
        return (
            f"namespace {self.namespace} does not exist: create it, or name another "
            "(--namespace, or the kubeconfig context's namespace)"
        )

    def release(self) -> None:
        """Give the namespace back (the lease goes; the baseline objects stay as they were)."""
        if not self.held:
            return
        try:
            self._call(
                "core",
                "delete_namespaced_config_map",
                "DELETE",
                f"/api/v1/namespaces/{self.namespace}/configmaps/{LEASE}",
                LEASE,
                self.namespace,
            )
        except NotFound:
            pass
        self.held = False
