"""The harness's exceptions, one tree.

    HarnessError                 anything the harness reports to the user
    ├── ConfigError              bad input: option, manifest, kubeconfig; says what to fix
    ├── ProviderError            a cluster or kit step failed (docker, kind, go, debootstrap)
    │   └── Unreachable          no HTTP answer: refused, name unknown, TLS failure, reset
    ├── ApiError                 the API server answered with a failure Status
    │   ├── NotFound (404)
    │   ├── Conflict (409)
    │   ├── Unauthorized (401)   the credentials were not accepted
    │   └── Forbidden (403)      one line: who may not do which verb on what, where
    ├── WaitTimeout              a wait ran out; says what it waited for and what it last saw
    └── InvariantViolation       a bound checked during a wait broke (surge, unavailable, budget)

Third-party exceptions are translated at one boundary each (`raise ... from exc`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "HarnessError",
    "ConfigError",
    "ProviderError",
    "Unreachable",
    "ApiError",
    "NotFound",
    "Conflict",
    "Forbidden",
    "Unauthorized",
    "Denied",
    "WaitTimeout",
    "InvariantViolation",
    "api_error",
]


class HarnessError(Exception):
    """Base of every error the harness raises on purpose."""


class ConfigError(HarnessError):
    """Bad input; the message names what to change."""


class ProviderError(HarnessError):
    """A cluster, engine or image-build step failed."""


class Unreachable(ProviderError):
    """No HTTP answer from the API server; `kind` says why ("refused", "tls", "dns", "reset", ...)."""

    def __init__(self, message: str, kind: str = "", elapsed: float = 0.0) -> None:
        super().__init__(message)
        self.kind = kind
        self.elapsed = elapsed


@dataclass
class ApiError(HarnessError):
    """The API server refused a request; carries the parsed `Status` body."""

    status: int
    reason: str = ""
    message: str = ""
    body: dict[str, Any] = field(default_factory=dict)
    method: str = ""
    path: str = ""

    def __str__(self) -> str:
        where = f"{self.method} {self.path}: " if self.method else ""
        return f"{where}{self.status} {self.reason}: {self.message}".rstrip(": ")


class NotFound(ApiError):
    """404 from the API server."""


class Conflict(ApiError):
    """409 from the API server."""


_DENIED = re.compile(
    r'User "(?P<user>[^"]*)" cannot (?P<verb>[\w-]+) resource "(?P<resource>[^"]+)"'
    r'(?: in API group "(?P<group>[^"]*)")?'
    r'(?: in the namespace "(?P<namespace>[^"]+)"| at the cluster scope)?'
)
_PATH = re.compile(r"^/apis?/(?:(?P<group>[^/]+)/)?v[^/]+(?:/namespaces/(?P<namespace>[^/]+))?/(?P<resource>[^/?]+)")
_VERBS = {"GET": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


@dataclass(frozen=True)
class Denied:
    """What a 403 refused: who, which verb, which resource (with its API group), where."""

    user: str
    verb: str
    resource: str
    namespace: str | None  # None: cluster-wide

    def describe(self) -> str:
        where = f"in namespace {self.namespace}" if self.namespace else "cluster-wide"
        return f"{self.user or 'this user'} may not {self.verb} {self.resource} {where}"


class Forbidden(ApiError):
    """403 from the API server; its one line names the user, verb, resource and namespace."""

    hint: str = ""

    @property
    def denied(self) -> Denied:
        m = _DENIED.search(self.message or "")
        if m:
            group = m.group("group")
            resource = m.group("resource") + (f".{group}" if group else "")
            return Denied(m.group("user"), m.group("verb"), resource, m.group("namespace"))
        p = _PATH.match(self.path or "")
        verb = _VERBS.get(self.method.upper(), self.method.lower() or "use")
        if p:
            group = p.group("group") if self.path.startswith("/apis/") else None
            resource = p.group("resource") + (f".{group}" if group else "")
            return Denied("", verb, resource, p.group("namespace"))
        return Denied("", verb, self.path or "this resource", None)

    def __str__(self) -> str:
        return f"forbidden: {self.denied.describe()}" + (f"; {self.hint}" if self.hint else "")


class Unauthorized(ApiError):
    """401: the API server did not accept the credentials."""

    def __str__(self) -> str:
        return (
            "unauthorized: the API server did not accept the kubeconfig's credentials "
            "(expired token or certificate?); regenerate the kubeconfig"
        )


_BY_STATUS: dict[int, type[ApiError]] = {404: NotFound, 409: Conflict, 403: Forbidden, 401: Unauthorized}


def api_error(status: int, body: Any, method: str = "", path: str = "") -> ApiError:
    """Build the right ApiError subclass from a status code and a (parsed) body."""
    parsed = body if isinstance(body, dict) else {}
    cls = _BY_STATUS.get(status, ApiError)
    message = parsed.get("message") or (body if isinstance(body, str) else "")
    return cls(
        status=status,
        reason=parsed.get("reason", ""),
        message=str(message)[:500],
        body=parsed,
        method=method,
        path=path,
    )


class WaitTimeout(HarnessError):
    """A wait ran out of time: says what it waited for and what it last saw."""

    def __init__(self, waited_for: str, timeout: float, last_seen: str, dump: str = "") -> None:
        self.waited_for = waited_for
        self.timeout = timeout
        self.last_seen = last_seen
        self.dump = dump
        super().__init__(f"timed out after {timeout:.0f}s waiting for {waited_for}; last saw: {last_seen}")


class InvariantViolation(HarnessError):
    """A bound that must hold during a rollout was broken: says which, what was seen, and during what wait."""

    def __init__(self, violated: str, observed: str, dump: str = "", *, waited_for: str = "") -> None:
        self.violated = violated
        self.observed = observed
        self.dump = dump
        self.waited_for = waited_for
        during = f" while waiting for {waited_for}" if waited_for else ""
        super().__init__(f"{violated}{during}; observed: {observed}")
