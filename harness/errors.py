"""The harness's exceptions, one tree.

    HarnessError                 anything the harness reports to the user
    ├── ConfigError              bad input: option, manifest, kubeconfig; says what to fix
    ├── ProviderError            a cluster or kit step failed (docker, kind, go, debootstrap)
    ├── ApiError                 the API server answered with a failure Status
    │   ├── NotFound (404)
    │   ├── Conflict (409)
    │   └── Forbidden (403)
    ├── WaitTimeout              a wait ran out; says what it waited for and what it last saw
    └── InvariantViolation       a bound checked during a wait broke (surge, unavailable, budget)

Third-party exceptions are translated at one boundary each (`raise ... from exc`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "HarnessError",
    "ConfigError",
    "ProviderError",
    "ApiError",
    "NotFound",
    "Conflict",
    "Forbidden",
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


class Forbidden(ApiError):
    """403 from the API server."""


_BY_STATUS: dict[int, type[ApiError]] = {404: NotFound, 409: Conflict, 403: Forbidden}


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
    """A bound that must hold during a rollout was broken."""
