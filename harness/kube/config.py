"""Cluster access from a kubeconfig: parsing, private TLS files, the typed client.

`load_kubeconfig(path, context)` reads one kubeconfig file into a
`ClusterAccess` (server, CA, client certificate + key or bearer token) whose
repr and str never show a secret. `ClusterAccess.api_client()` builds a
`kubernetes.client.ApiClient` with TLS verification on;
`ClusterAccess.server_version()` asks `/version`.

`kube_errors` is the one boundary where the kubernetes client's `ApiException`
and its transport (urllib3) errors become `harness.errors`; `call_api` wraps a
typed-client call in it and returns the decoded JSON body. `transport_error`
names what failed below HTTP (refused, timed out, TLS, name, reset) with the
time it really took, for the typed client and `requests` alike; the typed
client does not retry, so a failure is reported after one attempt.

Credentials never reach the disk when avoidable: the TLS libraries want file
paths, so embedded CA, certificate and key data are written to anonymous
memory files (`memfd`, `/proc/self/fd/N`) that vanish with the process, even
when it is killed; elsewhere to the process's private `run_dir()`.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import json
import os
import re
import shutil
import ssl
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kubernetes.client
import urllib3.exceptions
import yaml
from kubernetes.client.exceptions import ApiException

from harness.errors import ConfigError, HarnessError, ProviderError, Unreachable, WaitTimeout, api_error
from harness.kubeversion import KubeVersion, parse_version
from harness.rundir import run_dir
from harness.timeouts import DEFAULT_TIMEOUTS, Timeouts

__all__ = [
    "Secret",
    "ClusterAccess",
    "ServerVersion",
    "TlsFiles",
    "load_kubeconfig",
    "parse_kubeconfig",
    "parse_kubeconfig_text",
    "parse_server_version",
    "kube_errors",
    "api_exception_error",
    "transport_error",
    "call_api",
    "decode_json",
]

_HIDDEN = "<hidden>"
_UNSUPPORTED_USER_KEYS = ("exec", "auth-provider", "username", "password")


class Secret:
    """A credential. Shows as `<hidden>` in repr, str and format; `reveal()` gives it."""

    __slots__ = ("_value",)

    def __init__(self, value: str | bytes) -> None:
        self._value = value

    def reveal(self) -> str | bytes:
        return self._value

    def reveal_text(self) -> str:
        v = self._value
        return v.decode("utf-8") if isinstance(v, bytes) else v

    def __repr__(self) -> str:
        return f"Secret({_HIDDEN})"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        a, b = self._value, other._value
        if type(a) is not type(b):
            return False
        return hmac.compare_digest(a, b)  # type: ignore[arg-type]

    def __hash__(self) -> int:
        return hash((Secret, self._value))


@dataclass(frozen=True)
class ServerVersion:
    """What `/version` says; `major`/`minor` as ints ("34+" → 34)."""

    major: int
    minor: int
    git_version: str

    def at_least(self, major: int, minor: int) -> bool:
        return (self.major, self.minor) >= (major, minor)

    def __str__(self) -> str:
        return self.git_version or f"v{self.major}.{self.minor}"


@dataclass
class TlsFiles:
    """Paths of the CA, client certificate and key; embedded data in memory files where possible.

    Data embedded in the kubeconfig goes to anonymous memory files (`memfd`,
    paths `/proc/self/fd/N`, valid in this process only), else to a fresh 0700
    directory inside the process's private `run_dir()` as 0600 files; paths
    named by the kubeconfig are used where they are. `close()` releases them
    (also done at garbage collection; the run directory goes at exit).
    """

    ca_file: str | None
    cert_file: str | None
    key_file: str | None
    directory: str | None = None
    descriptors: tuple[int, ...] = ()
    _finalizer: Any = field(default=None, repr=False, compare=False)

    def close(self) -> None:
        if self._finalizer is not None:
            self._finalizer()

    @property
    def closed(self) -> bool:
        if self._finalizer is not None:
            return not self._finalizer.alive
        return self.directory is None or not os.path.isdir(self.directory)

    def __enter__(self) -> TlsFiles:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _memory_file(name: str, data: bytes) -> int | None:
    """An anonymous memory file holding `data` (Linux memfd), or None where there is none."""
    create = getattr(os, "memfd_create", None)
    if create is None or not os.path.isdir("/proc/self/fd"):
        return None
    try:
        fd = create(f"rollproof-{name}", getattr(os, "MFD_CLOEXEC", 1))
    except OSError:
        return None
    os.fchmod(fd, 0o600)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    return fd


def _release(directory: str | None, descriptors: tuple[int, ...]) -> None:
    for fd in descriptors:
        with contextlib.suppress(OSError):
            os.close(fd)
    if directory is not None:
        shutil.rmtree(directory, ignore_errors=True)


def _write_private(directory: str, name: str, data: bytes) -> str:
    path = os.path.join(directory, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
    finally:
        os.close(fd)
    return path


@dataclass(frozen=True, repr=False)
class ClusterAccess:
    """How to reach one cluster as one user. Secrets are `Secret`s; repr hides them."""

    server: str
    context: str
    cluster: str
    user: str
    kubeconfig: str
    namespace: str | None = None
    ca_file: str | None = None
    ca_data: bytes | None = None
    client_cert_file: str | None = None
    client_cert_data: bytes | None = None
    client_key_file: str | None = None
    client_key_data: Secret | None = None
    token: Secret | None = None

    @property
    def auth(self) -> str:
        """How this user authenticates: "client-certificate", "token" or both."""
        cert = self.client_cert_file is not None or self.client_cert_data is not None
        kinds = (["client-certificate"] if cert else []) + (["token"] if self.token is not None else [])
        return "+".join(kinds) or "none"

    def __repr__(self) -> str:
        ca = "data" if self.ca_data else (self.ca_file or "system")
        return (
            f"ClusterAccess(context={self.context!r}, server={self.server!r}, "
            f"user={self.user!r}, auth={self.auth!r}, ca={ca!r})"
        )

    __str__ = __repr__

    def tls_files(self) -> TlsFiles:
        """CA / cert / key as file paths (the TLS libraries want files); caller closes."""
        blobs: dict[str, bytes] = {}
        if self.ca_data:
            blobs["ca.crt"] = self.ca_data
        if self.client_cert_data:
            blobs["client.crt"] = self.client_cert_data
        if self.client_key_data is not None:
            key = self.client_key_data.reveal()
            blobs["client.key"] = key if isinstance(key, bytes) else key.encode()
        directory: str | None = None
        descriptors: list[int] = []
        written: dict[str, str] = {}
        for name, data in blobs.items():
            fd = _memory_file(name, data)
            if fd is None:
                break
            descriptors.append(fd)
            written[name] = f"/proc/self/fd/{fd}"
        else:
            blobs = {}
        if blobs:  # no memory files here: a private directory instead
            _release(None, tuple(descriptors))
            descriptors, written = [], {}
            try:
                directory = os.path.join(run_dir(), f"tls-{os.urandom(4).hex()}")
                os.mkdir(directory, 0o700)
                for name, data in blobs.items():
                    written[name] = _write_private(directory, name, data)
            except OSError as exc:
                _release(directory, ())
                raise ProviderError(f"cannot write TLS files to {directory}: {exc.strerror}") from exc
        files = TlsFiles(
            ca_file=written.get("ca.crt", self.ca_file),
            cert_file=written.get("client.crt", self.client_cert_file),
            key_file=written.get("client.key", self.client_key_file),
            directory=directory,
            descriptors=tuple(descriptors),
        )
        if directory is not None or descriptors:
            files._finalizer = weakref.finalize(files, _release, directory, tuple(descriptors))
        return files

    def api_client(self) -> kubernetes.client.ApiClient:
        """A typed-client `ApiClient` for this cluster; `close()` it to remove its TLS files."""
        files = self.tls_files()
        cfg = kubernetes.client.Configuration()
        cfg.host = self.server
        cfg.verify_ssl = True
        cfg.ssl_ca_cert = files.ca_file
        cfg.cert_file = files.cert_file
        cfg.key_file = files.key_file
        cfg.retries = 0  # one attempt: a refused or silent server is reported as such, at once
        client = _ClusterApiClient(cfg, files)
        client.user_agent = "rollproof"
        if self.token is not None:
            bearer = f"Bearer {self.token.reveal_text()}"
            client.set_default_header("Authorization", bearer)  # type: ignore[no-untyped-call]
        return client

    def server_version(self, timeouts: Timeouts = DEFAULT_TIMEOUTS) -> ServerVersion:
        """`GET /version`, parsed."""
        client = self.api_client()
        try:
            body = call_api(
                kubernetes.client.VersionApi(client).get_code,
                method="GET",
                path="/version",
                timeout=timeouts.api_request,
                server=self.server,
            )
        finally:
            client.close()  # type: ignore[no-untyped-call]
        return parse_server_version(body)


class _ClusterApiClient(kubernetes.client.ApiClient):
    """ApiClient that also removes its private TLS files on close."""

    def __init__(self, configuration: kubernetes.client.Configuration, files: TlsFiles) -> None:
        super().__init__(configuration)
        self._rollproof_files = files

    def close(self) -> None:
        try:
            super().close()  # type: ignore[no-untyped-call]
        finally:
            self._rollproof_files.close()


# --------------------------------------------------------------------------- parsing


def _named(items: Any, kind: str, name: str, source: str) -> Mapping[str, Any]:
    if not isinstance(items, list):
        items = []
    for item in items:
        if isinstance(item, Mapping) and item.get("name") == name:
            body = item.get(kind)
            if not isinstance(body, Mapping):
                raise ConfigError(
                    f"kubeconfig {source}: {kind} {name!r} has no '{kind}' section; regenerate the kubeconfig"
                )
            return body
    names = sorted(str(i.get("name")) for i in items if isinstance(i, Mapping))
    raise ConfigError(
        f"kubeconfig {source}: no {kind} named {name!r} (has: {', '.join(names) or 'none'}); "
        f"fix the context's {kind} reference or pick another context"
    )


def _b64(value: Any, what: str, source: str) -> bytes:
    try:
        return base64.b64decode("".join(str(value).split()), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"kubeconfig {source}: {what} is not valid base64; re-export the kubeconfig") from None


def _pem(data: bytes, what: str, source: str) -> bytes:
    if b"-----BEGIN " not in data:
        raise ConfigError(f"kubeconfig {source}: {what} is not PEM; put a PEM certificate/key there")
    return data


def _file(value: Any, base: Path, what: str, source: str) -> str:
    path = Path(str(value)).expanduser()
    if not path.is_absolute():
        path = base / path  # kubectl resolves relative paths against the kubeconfig's folder
    if not path.is_file():
        raise ConfigError(f"kubeconfig {source}: {what} file {path} does not exist; fix the path")
    return str(path)


def parse_kubeconfig(
    doc: Any, *, source: str = "<kubeconfig>", base_dir: str | Path = ".", context: str | None = None
) -> ClusterAccess:
    """Pure part of `load_kubeconfig`: a parsed kubeconfig document → `ClusterAccess`.

    Supports what kind writes and its common variants: embedded or file CA,
    client certificate + key (embedded or files), bearer token or tokenFile.
    Refused with a `ConfigError`: plain http servers, insecure-skip-tls-verify,
    exec / auth-provider / basic-auth users, tls-server-name.
    """
    base = Path(base_dir)
    if not isinstance(doc, Mapping):
        raise ConfigError(f"kubeconfig {source} is not a kubeconfig mapping; point at a file written by kind/kubectl")
    ctx_name = context or doc.get("current-context")
    if not ctx_name:
        names = [str(c.get("name")) for c in doc.get("contexts") or [] if isinstance(c, Mapping)]
        raise ConfigError(
            f"kubeconfig {source} has no current-context; pass a context (one of: {', '.join(names) or 'none'})"
        )
    ctx = _named(doc.get("contexts"), "context", str(ctx_name), source)
    cluster_name = str(ctx.get("cluster") or "")
    user_name = str(ctx.get("user") or "")
    if not cluster_name:
        raise ConfigError(f"kubeconfig {source}: context {ctx_name!r} names no cluster; set contexts[].context.cluster")
    cluster = _named(doc.get("clusters"), "cluster", cluster_name, source)
    user = _named(doc.get("users"), "user", user_name, source) if user_name else {}

    server = str(cluster.get("server") or "").rstrip("/")
    if not server:
        raise ConfigError(f"kubeconfig {source}: cluster {cluster_name!r} has no server; set clusters[].cluster.server")
    if not server.startswith("https://"):
        raise ConfigError(
            f"kubeconfig {source}: server {server!r} is not https; rollproof only talks TLS to the API server"
        )
    if cluster.get("insecure-skip-tls-verify"):
        raise ConfigError(
            f"kubeconfig {source}: cluster {cluster_name!r} sets insecure-skip-tls-verify; "
            "remove it and give certificate-authority-data (TLS verification stays on)"
        )
    if cluster.get("tls-server-name"):
        raise ConfigError(
            f"kubeconfig {source}: tls-server-name is not supported; use a server address the certificate names"
        )

    ca_file = ca_data = None
    if cluster.get("certificate-authority-data"):
        ca_data = _pem(
            _b64(cluster["certificate-authority-data"], "certificate-authority-data", source),
            "certificate-authority-data",
            source,
        )
    elif cluster.get("certificate-authority"):
        ca_file = _file(cluster["certificate-authority"], base, "certificate-authority", source)

    for key in _UNSUPPORTED_USER_KEYS:
        if user.get(key):
            raise ConfigError(
                f"kubeconfig {source}: user {user_name!r} uses '{key}', which rollproof does not support; "
                "use a client certificate or a token"
            )
    cert_file = cert_data = key_file = None
    key_data: Secret | None = None
    token: Secret | None = None
    if user.get("client-certificate-data"):
        cert_data = _pem(
            _b64(user["client-certificate-data"], "client-certificate-data", source), "client-certificate-data", source
        )
    elif user.get("client-certificate"):
        cert_file = _file(user["client-certificate"], base, "client-certificate", source)
    if user.get("client-key-data"):
        key_data = Secret(_pem(_b64(user["client-key-data"], "client-key-data", source), "client-key-data", source))
    elif user.get("client-key"):
        key_file = _file(user["client-key"], base, "client-key", source)
    if user.get("token"):
        token = Secret(str(user["token"]).strip())
    elif user.get("tokenFile"):
        token_path = _file(user["tokenFile"], base, "tokenFile", source)
        try:
            token = Secret(Path(token_path).read_text().strip())
        except (OSError, UnicodeDecodeError):
            raise ConfigError(
                f"kubeconfig {source}: tokenFile {token_path} cannot be read; check its permissions"
            ) from None

    has_cert = bool(cert_file or cert_data)
    has_key = bool(key_file or key_data is not None)
    if has_cert != has_key:
        raise ConfigError(
            f"kubeconfig {source}: user {user_name!r} has a client certificate without its key (or the reverse); "
            "give both"
        )
    if not has_cert and token is None:
        raise ConfigError(
            f"kubeconfig {source}: user {user_name!r} has no client certificate or token; give one of them"
        )
    ns = ctx.get("namespace")
    return ClusterAccess(
        server=server,
        context=str(ctx_name),
        cluster=cluster_name,
        user=user_name,
        kubeconfig=source,
        namespace=str(ns) if ns else None,
        ca_file=ca_file,
        ca_data=ca_data,
        client_cert_file=cert_file,
        client_cert_data=cert_data,
        client_key_file=key_file,
        client_key_data=key_data,
        token=token,
    )


def load_kubeconfig(path: str | os.PathLike[str], context: str | None = None) -> ClusterAccess:
    """Read the kubeconfig file at `path` (one file, no merging) for `context` (default: current)."""
    p = Path(path).expanduser()
    if p.is_dir():
        raise ConfigError(f"kubeconfig {p} is a directory; point at the kubeconfig file inside it")
    if not p.is_file():
        raise ConfigError(
            f"kubeconfig {p} does not exist; create the cluster or point at its kubeconfig "
            "(e.g. `kind get kubeconfig --name NAME > FILE`)"
        )
    try:
        text = p.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"kubeconfig {p} cannot be read ({exc.__class__.__name__}); check its permissions") from None
    return parse_kubeconfig_text(text, source=str(p), base_dir=p.parent, context=context)


def parse_kubeconfig_text(
    text: str, *, source: str, base_dir: str | Path = ".", context: str | None = None
) -> ClusterAccess:
    """A kubeconfig's text (a file's, or `kind get kubeconfig`'s output) → `ClusterAccess`; never echoes it."""
    p = source
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        # never chained or quoted: YAML errors show the offending line, which may hold a token
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"kubeconfig {p} is not valid YAML{where}; regenerate it") from None
    return parse_kubeconfig(doc, source=source, base_dir=base_dir, context=context)


_LEADING_INT = re.compile(r"\d+")


def parse_server_version(body: Mapping[str, Any]) -> ServerVersion:
    """`/version` JSON → `ServerVersion`; tolerates "34+" and falls back to gitVersion."""
    git = str(body.get("gitVersion") or "")
    try:
        from_git: KubeVersion | None = parse_version(git)
    except ConfigError:
        from_git = None

    def num(key: str, fallback: int | None) -> int:
        m = _LEADING_INT.match(str(body.get(key) or ""))
        if m:
            return int(m.group())
        if fallback is not None:
            return fallback
        raise ConfigError(
            f"API server /version has no usable {key!r} ({dict(body)!r}); is this a Kubernetes API server?"
        )

    return ServerVersion(
        major=num("major", from_git.major if from_git else None),
        minor=num("minor", from_git.minor if from_git else None),
        git_version=git,
    )


# --------------------------------------------------------------------------- the boundary


def decode_json(data: bytes | str | None) -> Any:
    """Body bytes → JSON value, or the text when it is not JSON."""
    if data is None:
        return {}
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    if not text:
        return {}
    try:
        return json.loads(text)
    except ValueError:
        return text


_VERIFY = re.compile(r"certificate verify failed: ([^(]+?)\s*(?:\(|$)")


def _root_cause(exc: BaseException) -> BaseException:
    """The transport error under `requests`' and urllib3's wrappers."""
    seen = 0
    while seen < 5:
        seen += 1
        inner = getattr(exc, "reason", None)  # urllib3 MaxRetryError
        if isinstance(inner, BaseException):
            exc = inner
            continue
        args = getattr(exc, "args", ())
        if args and isinstance(args[0], BaseException) and type(exc).__module__.startswith("requests"):
            exc = args[0]
            continue
        break
    return exc


def _tls_problem(exc: BaseException) -> str:
    text = str(exc)
    m = _VERIFY.search(text)
    why = (m.group(1).strip() if m else "").lower()
    if "mismatch" in why:
        return "certificate verify failed: the server's certificate does not name the address in the kubeconfig"
    if "expired" in why:
        return "certificate verify failed: the server's certificate has expired"
    if m or "CERTIFICATE_VERIFY_FAILED" in text:
        return "certificate verify failed: the kubeconfig's CA does not match the server"
    if "PEM lib" in text or "NO_CERTIFICATE" in text or "no start line" in text.lower():
        return (
            "the kubeconfig's certificate-authority or client certificate/key is not valid PEM data; "
            "re-export the kubeconfig"
        )
    if "alert" in text.lower() or "certificate" in text.lower():
        return "TLS handshake refused: the server did not accept the kubeconfig's client certificate"
    return "TLS handshake failed; check the server address and the kubeconfig's certificate-authority"


def transport_error(
    exc: BaseException, method: str, path: str, server: str, timeout: float, elapsed: float
) -> HarnessError:
    """One line for a request that got no HTTP answer: what failed, where, after how long."""
    cause = _root_cause(exc)
    where = f"{method} {path} to {server}" if server else f"{method} {path}"
    took = f"after {elapsed:.1f}s"
    text = f"{cause!s} {cause.__context__!s} {cause.__cause__!s}".lower()
    if isinstance(cause, (urllib3.exceptions.SSLError, ssl.SSLError)) or "ssl" in type(cause).__name__.lower():
        return Unreachable(f"{_tls_problem(cause)} ({where}, {took})", "tls", elapsed)
    if (
        isinstance(cause, urllib3.exceptions.NameResolutionError)
        or "name or service not known" in text
        or "nodename nor servname" in text
        or "name resolution" in text
    ):
        return Unreachable(
            f"cannot resolve the API server's host name ({where}, {took}); fix the kubeconfig's server", "dns", elapsed
        )
    if (
        isinstance(cause, (ConnectionRefusedError, urllib3.exceptions.NewConnectionError))
        and "refused" in text
        or isinstance(cause, ConnectionRefusedError)
    ):
        return Unreachable(
            f"connection refused ({where}, {took}): nothing listens there; "
            "is the cluster running and the kubeconfig's server right?",
            "refused",
            elapsed,
        )
    if isinstance(cause, urllib3.exceptions.NewConnectionError):
        return Unreachable(
            f"cannot connect ({where}, {took}): {_errno_text(cause)}; check the kubeconfig's server", "connect", elapsed
        )
    if isinstance(cause, urllib3.exceptions.ReadTimeoutError) or "read timed out" in text:
        return WaitTimeout(
            f"the API server to answer {where}",
            elapsed or timeout,
            f"the connection was accepted but no response came in {elapsed:.1f}s (request timeout {timeout:.0f}s)",
        )
    if isinstance(cause, (urllib3.exceptions.TimeoutError, TimeoutError)) or "timed out" in text:
        return WaitTimeout(
            f"a TCP connection to the API server ({where})",
            elapsed or timeout,
            f"no answer to connect in {elapsed:.1f}s (request timeout {timeout:.0f}s): "
            "a firewall, or an address nothing answers at",
        )
    if (
        isinstance(cause, (urllib3.exceptions.ProtocolError, ConnectionError))
        or "aborted" in text
        or "reset" in text
        or "disconnected" in text
    ):
        return Unreachable(
            f"cannot reach the API server: it closed the connection without an answer ({where}, "
            f"{took}); is it still starting, or is this port something else?",
            "reset",
            elapsed,
        )
    return Unreachable(f"no answer from the API server ({where}, {took}): {type(cause).__name__}", "other", elapsed)


def _errno_text(exc: BaseException) -> str:
    for inner in (exc.__context__, exc.__cause__):
        if isinstance(inner, OSError) and inner.strerror:
            return inner.strerror.lower()
    return type(exc).__name__


def api_exception_error(exc: ApiException, method: str = "", path: str = "", elapsed: float = 0.0) -> HarnessError:
    """The harness error for the client's `ApiException`: the `ApiError` of its status, with the
    parsed Status body, or `Unreachable` when the client got no response at all."""
    if exc.status in (None, 0):  # the client's own error without a response
        where = f"{method} {path}: " if method else ""
        return Unreachable(f"{where}{exc.reason or 'no response'}", "other", elapsed)
    return api_error(int(exc.status), decode_json(exc.body), method, path)


@contextlib.contextmanager
def kube_errors(method: str, path: str, timeout: float, server: str = "") -> Iterator[None]:
    """The one place typed-client errors become `harness.errors` (`raise ... from exc`).

    `method` and `path` label the error; `timeout` is the request's, named when it ran out."""
    started = time.monotonic()
    try:
        yield
    except ApiException as exc:
        raise api_exception_error(exc, method, path, time.monotonic() - started) from exc
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise transport_error(exc, method, path, server, timeout, time.monotonic() - started) from exc


def call_api(
    fn: Callable[..., Any],
    *args: Any,
    method: str,
    path: str,
    timeout: float,
    server: str = "",
    with_status: bool = False,
    **kwargs: Any,
) -> Any:
    """Call a typed-client method with `_preload_content=False`; return its decoded JSON body.

    The body is the server's JSON exactly (no model round trip). `method` and
    `path` only label errors. `with_status=True` returns `(status, body)`."""
    with kube_errors(method, path, timeout, server):
        resp = fn(*args, _preload_content=False, _request_timeout=timeout, **kwargs)
        try:
            body = decode_json(resp.data)
            return (int(resp.status), body) if with_status else body
        finally:
            with contextlib.suppress(Exception):
                resp.release_conn()
