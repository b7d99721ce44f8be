"""What the API server answers to each probe-able request, by Kubernetes version, as data.

Add a behaviour by adding rows to `TABLE` (and a line to `REQUESTS`); ranges of
one check must not overlap (`expected` refuses ambiguous rows).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

from .errors import ConfigError

__all__ = ["VersionRange", "Expectation", "REQUESTS", "TABLE", "parse_version", "expected", "checks"]

Version = tuple[int, int]

_OPS: dict[str, Callable[[Version, Version], bool]] = {
    ">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "==": operator.eq,
}
_CLAUSE = re.compile(r"(>=|<=|==|>|<|=)?\s*v?(\d+)\.(\d+)")
_VERSION = re.compile(r"v?(\d+)\.(\d+)")


def parse_version(version: str | Version) -> Version:
    """(major, minor) of "1.34", "v1.29.2", "1.30.0-rc.1+k3s1" or a (major, minor) pair."""
    if isinstance(version, tuple):
        return version
    match = _VERSION.match(version.strip())
    if not match:
        raise ConfigError(f"not a Kubernetes version: {version!r} (expected e.g. '1.34' or 'v1.34.1')")
    return int(match[1]), int(match[2])


@dataclass(frozen=True)
class VersionRange:
    """Comma-separated clauses that must all hold, e.g. ">=1.16,<1.22"; "*" is any version."""

    clauses: tuple[tuple[str, Version], ...] = ()

    @classmethod
    def parse(cls, text: str) -> VersionRange:
        text = text.strip()
        if text in ("", "*"):
            return cls()
        clauses = []
        for part in text.split(","):
            match = _CLAUSE.fullmatch(part.strip())
            if not match:
                raise ConfigError(f"bad version range {text!r}: cannot read {part.strip()!r}")
            op = {None: "==", "=": "=="}.get(match[1], match[1])
            clauses.append((op, (int(match[2]), int(match[3]))))
        return cls(tuple(clauses))

    def contains(self, major: int, minor: int) -> bool:
        return all(_OPS[op]((major, minor), bound) for op, bound in self.clauses)

    def __str__(self) -> str:
        return ",".join(f"{op}{a}.{b}" for op, (a, b) in self.clauses) or "*"


@dataclass(frozen=True)
class Expectation:
    """On `versions`, `check` answers `status` with a body containing `body` (case-insensitive)."""

    check: str
    versions: VersionRange
    status: int
    body: str | None = None
    why: str = ""

    def matches(self, status: int, body: str = "") -> bool:
        return status == self.status and (self.body is None or self.body.lower() in body.lower())

    def describe(self, version: str | Version, status: int, body: str = "") -> str:
        """One line for a mismatch, e.g. "1.34: expected 404, observed 200"."""
        major, minor = parse_version(version)
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
        "PATCH a custom resource with a Content-Type its handler does not accept (the patch handler answers)"),
    "patch-unsupported-content-type-builtin-route": (
        "PATCH a Deployment with Content-Type application/json: the API route's Consumes filter answers"),
    "apply-without-field-manager": "PATCH application/apply-patch+yaml without the fieldManager parameter",
    "apply-conflict-without-force": "server-side apply of a field owned by another manager, force unset",
    "apply-conflict-with-force": "server-side apply of a field owned by another manager with force=true",
    "strategic-merge-patch-custom-resource": "PATCH a custom resource as application/strategic-merge-patch+json",
}
"""What each check sends."""

_GONE_1_16 = "extensions/v1beta1 and apps/v1beta1 Deployments stopped being served in 1.16"

TABLE: tuple[Expectation, ...] = tuple(
    Expectation(check, VersionRange.parse(versions), status, body, why)
    for check, versions, status, body, why in (
        ("rollback-extensions-v1beta1", ">=1.16", 404, None, _GONE_1_16),
        ("rollback-extensions-v1beta1", "<1.16", 201, "Status", "same rollback handler as apps/v1beta1"),
        ("rollback-apps-v1beta1", ">=1.16", 404, None, _GONE_1_16),
        ("rollback-apps-v1beta1", "<1.16", 201, "Status", "the rollback takes place; the body is a Status"),
        ("json-patch-with-object", "*", 400, "json", "a JSON patch must be an array of operations"),
        ("patch-unsupported-content-type", "*", 415, "unknown format",
         "the patch handler's refusal, as custom resources show it (observed on 1.34 for strategic merge)"),
        ("patch-unsupported-content-type-builtin-route", "*", 415, "Unsupported Media Type",
         "built-in resources: go-restful refuses a type missing from the PATCH route's Consumes list before the "
         "patch handler (whose 'unknown format' message only custom resources show); observed on 1.34"),
        ("apply-without-field-manager", ">=1.18", 422, "fieldManager", "apply requires a field manager"),
        ("apply-conflict-without-force", ">=1.16", 409, "conflict", "server-side apply refuses to take fields"),
        ("apply-conflict-with-force", ">=1.16", 200, None, "force takes the field over from its owner"),
        ("strategic-merge-patch-custom-resource", "*", 415, "merge-patch",
         "custom resources have no strategic merge; the message lists the accepted types"),
    )
)
"""Every recorded behaviour: (check, version range) -> status and body fragment."""


def checks() -> tuple[str, ...]:
    """Names of all checks in the table, in table order."""
    return tuple(dict.fromkeys(e.check for e in TABLE))


def expected(check: str, version: str | Version) -> Expectation:
    """The one expectation of `check` on `version`; ConfigError when none or several apply."""
    major, minor = parse_version(version)
    rows = [e for e in TABLE if e.check == check]
    if not rows:
        raise ConfigError(f"unknown check {check!r}; known: {', '.join(checks())}")
    hits = [e for e in rows if e.versions.contains(major, minor)]
    if len(hits) != 1:
        ranges = ", ".join(str(e.versions) for e in (hits or rows))
        what = "no expectation" if not hits else "overlapping expectations"
        raise ConfigError(f"{what} for {check!r} on {major}.{minor} (ranges: {ranges})")
    return hits[0]
