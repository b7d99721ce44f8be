"""Host prober: request one HTTP target back to back from a thread, one ProbeSample per request.

A new TCP connection per request by default (that is what a rollout breaks);
`keep_alive=True` reuses one connection and reconnects after a failure. The
client is a plain socket and a minimal HTTP/1.1 response parser, fast enough for
well over 500 requests/s from one thread. Traffic only goes to loopback or to
container IPs the caller whitelists with `allowed_networks`.

Error classes recorded in `ProbeSample.error` are listed in `ERROR_CLASSES`.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
import struct
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from harness.errors import ConfigError, HarnessError
from harness.samples import ProbeSample, clock
from harness.timeouts import DEFAULT_TIMEOUTS

__all__ = ["ERROR_CLASSES", "ProbeTarget", "HostProber", "check_probe_host"]

ERROR_CLASSES = (
    "connect-refused",  # RST to the SYN: nothing listens
    "connect-timeout",  # no SYN-ACK within connect_timeout
    "connect-error",  # any other connect failure (unreachable, no local port left)
    "reset",  # connection reset / broken pipe while sending or reading
    "read-timeout",  # the full response did not arrive within read_timeout
    "closed",  # the server closed the connection before sending a byte
    "bad-response",  # malformed or truncated HTTP response
    "io-error",  # any other socket error after connecting
    "http-4xx",
    "http-5xx",
)

_MAX_HEAD = 64 * 1024  # bytes of status line + headers before "bad-response"
_MARKER_WINDOW = 64 * 1024  # bytes of body searched for the marker
_LINGER_ABORT = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close sends RST, no TIME_WAIT
_LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
_MIN_PREFIX = {4: 16, 6: 64}  # broader allowed_networks entries are refused


@dataclass(frozen=True)
class ProbeTarget:
    """Where to send `GET path`; `host` is an IP address (or "localhost")."""

    host: str
    port: int
    path: str = "/"
    host_header: str | None = None

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ConfigError(f"probe port {self.port} is out of range; give 1-65535")
        if not self.path.startswith("/") or any(c in self.path for c in " \r\n\t"):
            raise ConfigError(f"probe path {self.path!r} must start with '/' and hold no whitespace")
        if self.host_header is not None and any(c in self.host_header for c in " \r\n\t"):
            raise ConfigError(f"host header {self.host_header!r} must hold no whitespace")

    def request(self, keep_alive: bool) -> bytes:
        """The request bytes sent for every probe."""
        host = self.host_header
        if host is None:
            name = f"[{self.host}]" if ":" in self.host else self.host
            host = name if self.port == 80 else f"{name}:{self.port}"
        connection = "keep-alive" if keep_alive else "close"
        return (
            f"GET {self.path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: rollproof-prober\r\n"
            f"Accept: */*\r\nConnection: {connection}\r\n\r\n"
        ).encode("latin-1")


def check_probe_host(
    host: str,
    allowed_networks: Iterable[str | ipaddress.IPv4Network | ipaddress.IPv6Network] = (),
) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The address to probe, if it is loopback or inside `allowed_networks`; else ConfigError."""
    try:
        address = ipaddress.ip_address("127.0.0.1" if host == "localhost" else host)
    except ValueError:
        raise ConfigError(
            f"probe host {host!r} is not an IP address; names are not resolved: give 127.0.0.1 "
            "or the IP of a container this project started"
        ) from None
    networks = list(_LOOPBACK)
    for entry in allowed_networks:
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ConfigError(f"allowed_networks entry {entry!r} is not a network like 172.18.0.2/32") from None
        if network.prefixlen < _MIN_PREFIX[network.version]:
            raise ConfigError(
                f"allowed_networks entry {network} is too broad; list the container IPs this project "
                f"started (e.g. {network.network_address}/32 or at most a /{_MIN_PREFIX[network.version]})"
            )
        networks.append(network)
    if not any(address in network for network in networks):
        raise ConfigError(
            f"probe host {address} is neither loopback (127.0.0.0/8, ::1) nor in allowed_networks; "
            f"if it is a container this project started, pass allowed_networks=['{address}/"
            f"{address.max_prefixlen}'], else probe from inside the cluster with harness.podprober.PodProber"
        )
    return address


class _Failure(Exception):
    """Internal: the request failed with error class `args[0]`."""


@dataclass
class _Response:
    status: int
    server: str | None
    marker: str | None
    reusable: bool
    at_eof: bool


class _Reader:
    """Buffered reads from one socket against one absolute deadline on `clock`."""

    __slots__ = ("sock", "deadline", "buf", "pos", "eof")

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline
        self.buf = b""
        self.pos = 0
        self.eof = False

    def fill(self) -> bool:
        """Read more bytes; False at end of stream."""
        if self.eof:
            return False
        remaining = self.deadline - clock()
        if remaining <= 0:
            raise _Failure("read-timeout")
        self.sock.settimeout(remaining)
        chunk = self.sock.recv(65536)
        if not chunk:
            self.eof = True
            return False
        self.buf = self.buf[self.pos:] + chunk if self.pos else self.buf + chunk
        self.pos = 0
        return True

    def until(self, delimiter: bytes, limit: int) -> bytes:
        """Bytes up to and without `delimiter`, consumed; bad-response past `limit`."""
        while True:
            end = self.buf.find(delimiter, self.pos)
            if end >= 0:
                data = self.buf[self.pos:end]
                self.pos = end + len(delimiter)
                return data
            if len(self.buf) - self.pos > limit:
                raise _Failure("bad-response")
            if not self.fill():
                raise _Failure("closed" if not self.buf and self.pos == 0 else "bad-response")

    def take(self, n: int) -> bytes:
        """Exactly `n` bytes, consumed."""
        while len(self.buf) - self.pos < n:
            if not self.fill():
                raise _Failure("bad-response")
        data = self.buf[self.pos:self.pos + n]
        self.pos += n
        return data

    def rest(self) -> bytes:
        """Everything until end of stream, consumed."""
        while self.fill():
            pass
        data = self.buf[self.pos:]
        self.pos = len(self.buf)
        return data

    @property
    def leftover(self) -> bool:
        return self.pos < len(self.buf)


def _read_response(reader: _Reader, marker: re.Pattern[str] | None) -> _Response:
    """Parse one HTTP/1.x response: status, headers, body by length, chunks or close."""
    while True:
        head = reader.until(b"\r\n\r\n", _MAX_HEAD)
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or len(parts[1]) != 3 or not parts[1].isdigit():
            raise _Failure("bad-response")
        status = int(parts[1])
        if 100 <= status < 200 and status != 101:
            continue  # interim response; the real one follows
        if status < 200:
            raise _Failure("bad-response")
        break
    server = length = coding = connection = None
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep:
            raise _Failure("bad-response")
        name = name.strip().lower()
        if name == b"content-length":
            if length is not None and length != value.strip():
                raise _Failure("bad-response")
            length = value.strip()
        elif name == b"transfer-encoding":
            coding = value.strip().lower()
        elif name == b"connection":
            connection = value.strip().lower()
        elif name == b"server" and server is None:
            server = value.strip().decode("latin-1")
    http11 = parts[0] == b"HTTP/1.1"
    tokens = {t.strip() for t in connection.split(b",")} if connection else set()
    reusable = (b"close" not in tokens) if http11 else (b"keep-alive" in tokens)
    keep = marker is not None
    if status in (204, 304):
        body = b""
    elif coding is not None:
        if coding.rsplit(b",", 1)[-1].strip() == b"chunked":
            body = _read_chunked(reader, keep)
        else:
            body, reusable = reader.rest(), False
    elif length is not None:
        if not length.isdigit():
            raise _Failure("bad-response")
        body = reader.take(int(length))
    else:
        body, reusable = reader.rest(), False
    found = None
    if marker is not None and body:
        match = marker.search(body[:_MARKER_WINDOW].decode("utf-8", "replace"))
        if match is not None:
            found = match.group(1) if marker.groups else match.group(0)
    return _Response(status, server, found, reusable and not reader.leftover, reader.eof)


def _read_chunked(reader: _Reader, keep: bool) -> bytes:
    kept: list[bytes] = []
    size_kept = 0
    while True:
        size_line = reader.until(b"\r\n", 1024).split(b";", 1)[0].strip()
        try:
            size = int(size_line, 16)
        except ValueError:
            raise _Failure("bad-response") from None
        if size == 0:
            while reader.until(b"\r\n", _MAX_HEAD):  # trailers up to the empty line
                pass
            return b"".join(kept)
        data = reader.take(size + 2)
        if data[-2:] != b"\r\n":
            raise _Failure("bad-response")
        if keep and size_kept < _MARKER_WINDOW:
            kept.append(data[:-2])
            size_kept += size


def _connect_error(exc: OSError) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connect-refused"
    if isinstance(exc, TimeoutError):  # socket.timeout is TimeoutError
        return "connect-timeout"
    return "connect-error"


def _io_error(exc: OSError) -> str:
    if isinstance(exc, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)):
        return "reset"
    if isinstance(exc, TimeoutError):
        return "read-timeout"
    return "io-error"


def _abort(sock: socket.socket) -> None:
    """Close with RST: no TIME_WAIT left behind, nothing half-open."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ABORT)
    sock.close()


class HostProber:
    """Requests `target` back to back in a background thread; one ProbeSample per request.

    Stops by itself after `max_requests` requests or `max_duration` seconds from
    `start()`, whichever comes first; `interval` > 0 spaces request starts by that
    many seconds. `connect_timeout` bounds the TCP connect, `read_timeout` the
    whole response after it. `marker` is a regex searched in the body: its first
    group (or whole match) is recorded. Unexpected exceptions in the thread end
    it and are re-raised by `stop()`.

    Unpaced, it runs as fast as the server answers (thousands of new connections
    a second on loopback, most of a core); through kube-proxy prefer a pace such
    as `interval=0.001` to spare the CPU and the conntrack table. With
    `keep_alive`, a reused connection the server had closed is recorded as it
    failed ("closed"/"reset"): no silent retry.
    """

    def __init__(
        self,
        target: ProbeTarget,
        *,
        keep_alive: bool = False,
        interval: float = 0.0,
        connect_timeout: float = 1.0,
        read_timeout: float = 2.0,
        max_requests: int = 1_000_000,
        max_duration: float = DEFAULT_TIMEOUTS.probe_max_duration,
        marker: str | re.Pattern[str] | None = None,
        allowed_networks: Iterable[str | ipaddress.IPv4Network | ipaddress.IPv6Network] = (),
    ) -> None:
        address = check_probe_host(target.host, allowed_networks)
        for name, value in (("connect_timeout", connect_timeout), ("read_timeout", read_timeout),
                            ("max_duration", max_duration)):
            if not value > 0:
                raise ConfigError(f"{name} must be > 0 seconds, got {value}")
        if interval < 0:
            raise ConfigError(f"interval must be >= 0 seconds, got {interval}")
        if max_requests < 1:
            raise ConfigError(f"max_requests must be >= 1, got {max_requests}")
        self.target = target
        self.keep_alive = keep_alive
        self.interval = interval
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_requests = max_requests
        self.max_duration = max_duration
        try:
            self.marker = re.compile(marker) if isinstance(marker, str) else marker
        except re.error as exc:
            raise ConfigError(f"marker {marker!r} is not a valid regex: {exc}") from None
        self._address = (str(address), target.port)
        self._family = socket.AF_INET if address.version == 4 else socket.AF_INET6
        self._request = target.request(keep_alive)
        self._samples: list[ProbeSample] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self.error: BaseException | None = None
        """The unexpected exception that ended the thread, if any."""
        self.stopped = False
        """True once `stop()` was called (by whoever owns the prober)."""

    # -- caller side -------------------------------------------------------

    def start(self) -> HostProber:
        if self._thread is not None:
            raise HarnessError("this HostProber was already started; make a new one")
        self._thread = threading.Thread(target=self._run, name="rollproof-host-prober", daemon=True)
        self._thread.start()
        return self

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the thread to end by itself (bound reached); True if it has ended."""
        if self._thread is None:
            return False
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def stop(self) -> list[ProbeSample]:
        """Stop after the request in flight; all samples, or the thread's exception raised."""
        self.stopped = True
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2 * (self.connect_timeout + self.read_timeout + self.interval))  # twice a step
            if self._thread.is_alive():
                raise HarnessError("the host prober thread did not stop; a socket call ignored its timeout")
        if self.error is not None:
            raise self.error
        return self.samples()

    def samples(self) -> list[ProbeSample]:
        """A snapshot of the samples recorded so far (safe while running)."""
        with self._lock:
            return list(self._samples)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> HostProber:
        return self.start()

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc is None:
            self.stop()
            return
        with contextlib.suppress(BaseException):  # the body's exception wins; the thread's stays in `error`
            self.stop()

    # -- thread side -------------------------------------------------------

    def _run(self) -> None:
        try:
            deadline = clock() + self.max_duration
            next_start = 0.0
            for _ in range(self.max_requests):
                if self._stop.is_set():
                    break
                now = clock()
                if now >= deadline:
                    break
                if now < next_start and self._stop.wait(min(next_start, deadline) - now):
                    break
                if clock() >= deadline:
                    break
                sample = self._probe()
                with self._lock:
                    self._samples.append(sample)
                if self.interval:  # keep the schedule; re-anchor (no burst) when a request ran late
                    on_time = next_start and sample.start - next_start < self.interval
                    next_start = (next_start if on_time else sample.start) + self.interval
        except BaseException as exc:  # recorded, re-raised by stop()
            self.error = exc
        finally:
            if self._sock is not None:  # idle keep-alive connection: a polite FIN
                self._sock.close()
                self._sock = None

    def _probe(self) -> ProbeSample:
        start = clock()
        sock = self._sock
        if sock is None:
            sock = socket.socket(self._family, socket.SOCK_STREAM)
            sock.settimeout(self.connect_timeout)
            try:
                sock.connect(self._address)
            except OSError as exc:
                end = clock()
                sock.close()
                return ProbeSample(start, end, None, _connect_error(exc))
        try:
            sock.sendall(self._request)
            reader = _Reader(sock, clock() + self.read_timeout)
            response = _read_response(reader, self.marker)
        except (_Failure, OSError) as exc:
            end = clock()
            self._sock = None
            _abort(sock)
            error = exc.args[0] if isinstance(exc, _Failure) else _io_error(exc)
            return ProbeSample(start, end, None, error)
        end = clock()
        if self.keep_alive and response.reusable:
            self._sock = sock
        else:
            self._sock = None
            self._close(sock, reader, response.at_eof)
        status = response.status
        error = "http-5xx" if status >= 500 else "http-4xx" if status >= 400 else None
        return ProbeSample(start, end, status, error, response.server, response.marker)

    @staticmethod
    def _close(sock: socket.socket, reader: _Reader, at_eof: bool) -> None:
        """Let the server close first (no TIME_WAIT here); abort if it does not."""
        try:
            if at_eof or not reader.fill() and not reader.leftover:
                sock.close()
                return
        except (_Failure, OSError):
            pass
        _abort(sock)
