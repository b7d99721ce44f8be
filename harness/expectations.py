"""What the API server answers to each probe-able request, by Kubernetes version, as data.

Add a behaviour by adding rows to `TABLE` (and a line to `REQUESTS`); ranges of
one check must not overlap (`expected` refuses ambiguous rows).

A row whose status is `NOT_APPLICABLE` says the request (or the API a scenario
needs) does not exist on those versions; a suite asks `not_applicable` first and
reports the row's reason as that version's matrix cell instead of running.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .errors import ConfigError
from .kubeversion import Release, VersionLike, parse_version, release

__all__ = [
    "VersionRange",
    "Expectation",
    "REQUESTS",
    "TABLE",
    "NOT_APPLICABLE",
    "expected",
    "checks",
    "not_applicable",
    "not_applicable_rows",
]

_OPS: dict[str, Callable[[Release, Release], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
}
_CLAUSE = re.compile(r"(>=|<=|==|>|<|=)?\s*(.*)")


def _minor_bound(text: str) -> Release | None:
    """(major, minor) of a range's bound; None unless it is MAJOR.MINOR (ranges compare minors)."""
    try:
        version = parse_version(text)
    except ConfigError:
        return None
    return version.release if version.patch is None else None


@dataclass(frozen=True)
class VersionRange:
    """Comma-separated clauses that must all hold, e.g. ">=1.16,<1.22"; "*" is any version."""

    clauses: tuple[tuple[str, Release], ...] = ()

    @classmethod
    def parse(cls, text: str) -> VersionRange:
        text = text.strip()
        if text in ("", "*"):
            return cls()
        clauses = []
        for part in text.split(","):
            match = _CLAUSE.fullmatch(part.strip())
            bound = _minor_bound(match[2]) if match else None
            if match is None or bound is None:
                raise ConfigError(
                    f"bad version range {text!r}: cannot read {part.strip()!r} (write e.g. '>=1.16,<1.22')"
                )
            op = {None: "==", "=": "=="}.get(match[1], match[1])
            clauses.append((op, bound))
        return cls(tuple(clauses))

    def contains(self, major: int, minor: int) -> bool:
        return all(_OPS[op]((major, minor), bound) for op, bound in self.clauses)

    def __str__(self) -> str:
        return ",".join(f"{op}{a}.{b}" for op, (a, b) in self.clauses) or "*"


NOT_APPLICABLE = None
"""The status of a row whose request or API does not exist on its versions."""


@dataclass(frozen=True)
class Expectation:
    """On `versions`, `check` answers `status` with a body containing `body` (case-insensitive).

    `status` NOT_APPLICABLE: nothing to send on those versions; `why` says which API is missing."""

    check: str
    versions: VersionRange
    status: int | None
    body: str | None = None
    why: str = ""

    @property
    def applicable(self) -> bool:
        return self.status is not NOT_APPLICABLE

    def matches(self, status: int, body: str = "") -> bool:
        return self.applicable and status == self.status and (self.body is None or self.body.lower() in body.lower())

    def describe(self, version: VersionLike, status: int, body: str = "") -> str:
        """One line for a mismatch, e.g. "1.34: expected 404, observed 200"."""
        major, minor = release(version)
        if not self.applicable:
            return f"{major}.{minor}: expected no such request ({self.why}), observed {status}"
        want = f"{self.status}" + (f" with body containing {self.body!r}" if self.body else "")
        seen = f"{status}"
        if self.body and status == self.status:
            seen += f" (body: {body[:120]!r})"
        return f"{major}.{minor}: expected {want}, observed {seen}"


REQUESTS: dict[str, str] = {
    "rollback-extensions-v1beta1": "POST /apis/extensions/v1beta1/namespaces/NS/deployments/NAME/rollback",
    "rollback-apps-v1beta1": "POST /apis/apps/v1beta1/namespaces/NS/deployments/NAME/rollback",
    "json-patch-with-object": "PATCH a Deployment, Content-Type application/json-patch+json, body a JSON object",
    "patch-unsupported-content-type": (
        "PATCH a custom resource with a Content-Type its handler does not accept (the patch handler answers)"
    ),
    "patch-unsupported-content-type-builtin-route": (
        "PATCH a Deployment with Content-Type application/json: the API route's Consumes filter answers"
    ),
    "apply-without-field-manager": "PATCH application/apply-patch+yaml without the fieldManager parameter",
    "apply-conflict-without-force": "server-side apply of a field owned by another manager, force unset",
    "apply-conflict-with-force": "server-side apply of a field owned by another manager with force=true",
    "strategic-merge-patch-custom-resource": "PATCH a custom resource as application/strategic-merge-patch+json",
    "walkthrough-patch-strategic-merge": (
        "the walkthrough's rollout: PATCH /apis/extensions/v1beta1/namespaces/NS/deployments/deployment-demo, "
        "application/strategic-merge-patch+json, body its whole v0.2 manifest"
    ),
    "walkthrough-patch-merge": "the same PATCH as application/merge-patch+json",
    "walkthrough-patch-json-patch": "the same PATCH as application/json-patch+json (a JSON object, no operation list)",
    "walkthrough-rollback": (
        'the walkthrough\'s POST /apis/extensions/v1beta1/namespaces/NS/deployments/deployment-demo/rollback, '
        'body {"name": "deployment-demo", "rollbackTo": {"revision": 0}}'
    ),
    "server-side-apply": (
        "PATCH application/apply-patch+yaml: how the harness creates and updates Deployments, StatefulSets and "
        "DaemonSets where it is served; elsewhere it applies them client-side, as kubectl did"
    ),
    "custom-resource-definition-v1": "POST /apis/apiextensions.k8s.io/v1/customresourcedefinitions "
    "(custom resource scenarios)",
    "daemonset-max-surge": "a DaemonSet rolling update with rollingUpdate.maxSurge (the DaemonSet surge scenario)",
    "endpointslices-v1": "the Service's EndpointSlices (discovery.k8s.io/v1), which the data-path recorder watches",
    "legacy-rollback-removed": "the rollback subresource answering 404 (the scenario that shows it gone)",
    "legacy-rollback-served": "the rollback subresource served (the scenario that records its answers)",
}
"""What each check sends."""

_GONE_1_16 = "extensions/v1beta1 and apps/v1beta1 Deployments stopped being served in 1.16"
_NO_SSA = (
    "server-side apply is alpha before 1.16 (ServerSideApply gate off by default): the server refuses "
    "application/apply-patch+yaml"
)
_NA = NOT_APPLICABLE
_ROLLBACK_SERVED = (
    "the rollback takes place; the answer is a Status (code 200 in its body) written by the create handler, so HTTP 201"
)

TABLE: tuple[Expectation, ...] = tuple(
    Expectation(check, VersionRange.parse(versions), status, body, why)
    for check, versions, status, body, why in (
        ("rollback-extensions-v1beta1", ">=1.16", 404, None, _GONE_1_16),
        ("rollback-extensions-v1beta1", "<1.16", 201, "rollback request for deployment", _ROLLBACK_SERVED),
        ("rollback-apps-v1beta1", ">=1.16", 404, None, _GONE_1_16),
        ("rollback-apps-v1beta1", "<1.16", 201, "rollback request for deployment", _ROLLBACK_SERVED),
        ("json-patch-with-object", "*", 400, "json", "a JSON patch must be an array of operations"),
        (
            "patch-unsupported-content-type",
            "*",
            415,
            "unknown format",
            "the patch handler's refusal, as custom resources show it (observed on 1.34 for strategic merge)",
        ),
        (
            "patch-unsupported-content-type-builtin-route",
            "*",
            415,
            "Unsupported Media Type",
            "built-in resources: go-restful refuses a type missing from the PATCH route's Consumes list before the "
            "patch handler (whose 'unknown format' message only custom resources show); observed on 1.34",
        ),
        ("apply-without-field-manager", ">=1.18", 422, "fieldManager", "apply requires a field manager"),
        ("apply-conflict-without-force", ">=1.16", 409, "conflict", "server-side apply refuses to take fields"),
        ("apply-conflict-with-force", ">=1.16", 200, None, "force takes the field over from its owner"),
        (
            "strategic-merge-patch-custom-resource",
            "*",
            415,
            "merge-patch",
            "custom resources have no strategic merge; the message lists the accepted types",
        ),
        ("apply-without-field-manager", "<1.16", _NA, None, _NO_SSA),
        ("apply-conflict-without-force", "<1.16", _NA, None, _NO_SSA),
        ("apply-conflict-with-force", "<1.16", _NA, None, _NO_SSA),
        # The walkthrough's own requests, byte for byte its API group and bodies.
        ("walkthrough-patch-strategic-merge", ">=1.16", 404, None, _GONE_1_16),
        ("walkthrough-patch-strategic-merge", "<1.16", 200, None, "extensions/v1beta1 served the walkthrough's PATCH"),
        ("walkthrough-patch-merge", ">=1.16", 404, None, _GONE_1_16),
        ("walkthrough-patch-merge", "<1.16", 200, None, "extensions/v1beta1 served the walkthrough's PATCH"),
        ("walkthrough-patch-json-patch", ">=1.16", 404, None, _GONE_1_16),
        (
            "walkthrough-patch-json-patch",
            "<1.16",
            400,
            "cannot unmarshal object into Go value of type jsonpatch.Patch",
            "the JSON patch decoder's error as a BadRequest (1.15's patch handler); the walkthrough (early 2017) got "
            "the same message as a 500",
        ),
        ("walkthrough-rollback", ">=1.16", 404, None, _GONE_1_16),
        (
            "walkthrough-rollback",
            "<1.16",
            201,
            'rollback request for deployment "deployment-demo" succeeded',
            _ROLLBACK_SERVED + '; the walkthrough quoted the same message with "code": 200 in its body',
        ),
        # APIs a whole scenario needs.
        ("server-side-apply", "<1.16", _NA, None, _NO_SSA),
        (
            "custom-resource-definition-v1",
            "<1.16",
            _NA,
            None,
            "apiextensions.k8s.io/v1 CustomResourceDefinitions are served from 1.16 (v1beta1 before)",
        ),
        (
            "endpointslices-v1",
            "<1.21",
            _NA,
            None,
            "discovery.k8s.io/v1 EndpointSlices are served from 1.21: the data path is recorded without endpoint "
            "events",
        ),
        (
            "legacy-rollback-removed",
            "<1.16",
            _NA,
            None,
            "the rollback subresource is still served before 1.16 (its answers: walkthrough-rollback, rollback-*)",
        ),
        ("legacy-rollback-served", ">=1.16", _NA, None, "the rollback subresource was removed in 1.16 (404)"),
        (
            "daemonset-max-surge",
            "<1.22",
            _NA,
            None,
            "DaemonSet rollingUpdate.maxSurge is alpha in 1.21 (DaemonSetUpdateSurge off by default) and absent "
            "before; on by default from 1.22",
        ),
    )
)
"""Every recorded behaviour: (check, version range) -> status and body fragment."""


def checks() -> tuple[str, ...]:
    """Names of all checks in the table, in table order."""
    return tuple(dict.fromkeys(e.check for e in TABLE))


def expected(check: str, version: VersionLike) -> Expectation:
    """The one expectation of `check` on `version`; ConfigError when none or several apply."""
    major, minor = release(version)
    rows = [e for e in TABLE if e.check == check]
    if not rows:
        raise ConfigError(f"unknown check {check!r}; known: {', '.join(checks())}")
    hits = [e for e in rows if e.versions.contains(major, minor)]
    if len(hits) != 1:
        ranges = ", ".join(str(e.versions) for e in (hits or rows))
        what = "no expectation" if not hits else "overlapping expectations"
        raise ConfigError(f"{what} for {check!r} on {major}.{minor} (ranges: {ranges})")
    return hits[0]


def not_applicable(check: str, version: VersionLike) -> Expectation | None:
    """The table's NOT_APPLICABLE row for `check` on `version`, or None when the check applies there."""
    major, minor = release(version)
    rows = [e for e in TABLE if e.check == check]
    if not rows:
        raise ConfigError(f"unknown check {check!r}; known: {', '.join(checks())}")
    hit = next((e for e in rows if e.versions.contains(major, minor)), None)
    return hit if hit is not None and not hit.applicable else None


def not_applicable_rows(needed: Iterable[str], version: VersionLike) -> list[Expectation]:
    """The NOT_APPLICABLE rows among the checks a scenario `needed`, on `version` (empty: it applies)."""
    return [row for row in (not_applicable(check, version) for check in needed) if row is not None]
