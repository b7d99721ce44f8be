"""A raw API client over `requests`, recording every exchange without credentials.

`RawApi(access)` sends `RawRequest`s (built by `harness.kube.patches`) with TLS
verification against the cluster CA and either a client certificate (written
to a private 0600 temp file, removed by `close()`) or a bearer token (added
per request by an auth hook whose repr hides it). Each exchange is appended
to `RawApi.exchanges` with excerpts of both bodies and no header at all.
`requests` exceptions become `harness.errors` here, in `send`, and nowhere else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import requests
import requests.auth

from harness import __version__
from harness.errors import ProviderError, api_error
from harness.kube.config import ClusterAccess, Secret, TlsFiles, decode_json, transport_error
from harness.kube.patches import RawRequest
from harness.samples import clock
from harness.timeouts import DEFAULT_TIMEOUTS, Timeouts

__all__ = ["RawApi", "RawRequest", "RawResponse", "Exchange", "EXCERPT_LIMIT", "excerpt"]

EXCERPT_LIMIT = 2048
"""Most bytes of a request or response body kept in an `Exchange`."""

_KEPT_HEADERS = ("Content-Type", "Audit-Id", "Warning", "Retry-After", "X-Kubernetes-Pf-Flowschema-Uid")
_REDACTED_PATHS = re.compile(r"(/secrets(/|$))|(/token$)|(/tokenreviews(/|$))|(/certificatesigningrequests(/|$))")


@dataclass(frozen=True)
class RawResponse:
    """What came back: status, a few headers, the JSON (or text) body, how long it took."""

    method: str
    path: str
    status: int
    headers: dict[str, str]
    body: Any
    elapsed: float

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass(frozen=True)
class Exchange:
    """One recorded request/response. `status` is None when no response came."""

    t: float
    method: str
    path: str
    content_type: str | None
    status: int | None
    request_excerpt: str = ""
    response_excerpt: str = ""
    elapsed: float = 0.0
    params: tuple[tuple[str, str], ...] = ()
    error: str | None = None


def excerpt(data: bytes | str | None, limit: int = EXCERPT_LIMIT) -> str:
    """At most `limit` bytes of a body as text, marked when cut."""
    if not data:
        return ""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if len(raw) <= limit:
        return raw.decode("utf-8", "replace")
    marker = f"…[{len(raw)} bytes]".encode()
    return raw[: limit - len(marker)].decode("utf-8", "ignore") + marker.decode()


class _BearerAuth(requests.auth.AuthBase):
    """Adds the bearer token per request; never shows it."""

    def __init__(self, token: Secret) -> None:
        self._token = token

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self._token.reveal_text()}"
        return r

    def __repr__(self) -> str:
        return "_BearerAuth(<hidden>)"


class RawApi:
    """Sends `RawRequest`s to one cluster and records each exchange."""

    def __init__(
        self, access: ClusterAccess, timeouts: Timeouts = DEFAULT_TIMEOUTS, *, server_side_apply: bool = True
    ) -> None:
        self.access = access
        self.timeouts = timeouts
        self.server_side_apply = server_side_apply  # False: the harness's writes apply client-side (before 1.16)
        self.exchanges: list[Exchange] = []
        self._files: TlsFiles = access.tls_files()
        session = requests.Session()
        session.trust_env = False  # no proxy / netrc / CA-bundle surprises from the environment
        session.verify = self._files.ca_file or True  # never False
        if self._files.cert_file and self._files.key_file:
            session.cert = (self._files.cert_file, self._files.key_file)
        if access.token is not None:
            session.auth = _BearerAuth(access.token)
        session.headers.update({"Accept": "application/json", "User-Agent": f"rollproof/{__version__}"})
        self._session: requests.Session | None = session

    def __repr__(self) -> str:
        return f"RawApi(server={self.access.server!r}, exchanges={len(self.exchanges)})"

    def __enter__(self) -> RawApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return self._session is None

    def close(self) -> None:
        """Close the session and remove the private TLS files."""
        session, self._session = self._session, None
        try:
            if session is not None:
                session.close()
        finally:
            self._files.close()

    def send(self, req: RawRequest) -> RawResponse:
        """Send one request; any HTTP status comes back as a `RawResponse` (see `check`)."""
        if self._session is None:
            raise ProviderError(f"{req.method} {req.path}: RawApi is closed")
        redact = bool(_REDACTED_PATHS.search(req.path))
        headers = {"Content-Type": req.content_type} if req.content_type else {}
        timeout = self.timeouts.api_request
        t0 = clock()
        try:
            r = self._session.request(
                req.method,
                self.access.server + req.path,
                params=list(req.params),
                data=req.body or None,
                headers=headers,
                timeout=timeout,
                allow_redirects=False,
            )
            content = r.content
        except requests.RequestException as exc:
            elapsed = clock() - t0
            self._record(req, t0, None, b"", elapsed, redact, error=type(exc).__name__)
            raise transport_error(exc, req.method, req.path, self.access.server, timeout, elapsed) from exc
        elapsed = clock() - t0
        self._record(req, t0, r.status_code, content, elapsed, redact)
        ctype = r.headers.get("Content-Type", "")
        body = decode_json(content) if "json" in ctype else content.decode("utf-8", "replace")
        kept = {k: r.headers[k] for k in _KEPT_HEADERS if k in r.headers}
        return RawResponse(req.method, req.path, r.status_code, kept, body, elapsed)

    def check(self, resp: RawResponse) -> RawResponse:
        """Raise the `ApiError` subclass for a status ≥ 400; return `resp` otherwise."""
        if resp.status >= 400:
            raise api_error(resp.status, resp.body, resp.method, resp.path)
        return resp

    def call(self, req: RawRequest) -> RawResponse:
        """`send` then `check`."""
        return self.check(self.send(req))

    def _record(
        self,
        req: RawRequest,
        t0: float,
        status: int | None,
        content: bytes,
        elapsed: float,
        redact: bool,
        error: str | None = None,
    ) -> None:
        hidden = "<redacted: credential-bearing resource>"
        self.exchanges.append(
            Exchange(
                t=t0,
                method=req.method,
                path=req.path,
                content_type=req.content_type,
                status=status,
                request_excerpt=hidden if redact and req.body else excerpt(req.body),
                response_excerpt=hidden if redact and content else excerpt(content),
                elapsed=elapsed,
                params=req.params,
                error=error,
            )
        )
