"""The probe's side of HTTP/1.x: the request bytes and an incremental response parser.

Pure: `parse_response(buffer, eof)` reads what has arrived so far and returns a
`Response`, raises `NeedMore` (wait for more bytes) or `WireFailure` (the
request failed, with its error class). Error classes are `ERROR_CLASSES`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import ConfigError

__all__ = [
    "ERROR_CLASSES",
    "Response",
    "NeedMore",
    "WireFailure",
    "parse_response",
    "request_bytes",
    "check_path",
    "check_host_header",
]

ERROR_CLASSES = (
    "connect-refused",  # RST to the SYN: nothing listens
    "connect-timeout",  # no SYN-ACK within connect_timeout
    "connect-unreachable",  # an ICMP unreachable answered the SYN (no route to the address it was sent to)
    "connect-error",  # any other connect failure (no local port left, no file descriptor)
    "reset",  # connection reset / broken pipe while sending or reading
    "read-timeout",  # the full response did not arrive within read_timeout
    "closed",  # the server closed the connection before sending a byte
    "bad-response",  # malformed or truncated HTTP response
    "io-error",  # any other socket error after connecting
    "http-4xx",
    "http-5xx",
)

MAX_HEAD = 64 * 1024  # bytes of status line + headers before "bad-response"
MARKER_WINDOW = 64 * 1024  # bytes of body searched for the marker


class NeedMore(Exception):
    """The response is not complete yet: read more bytes and parse again."""


class WireFailure(Exception):
    """The request failed with error class `args[0]`."""

    @property
    def error(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class Response:
    """One parsed response; `reusable` when the connection may carry another request;
    `consumed` is how many bytes of the buffer it took."""

    status: int
    server: str | None
    marker: str | None
    reusable: bool
    consumed: int

    @property
    def error(self) -> str | None:
        return "http-5xx" if self.status >= 500 else "http-4xx" if self.status >= 400 else None


def check_path(path: str) -> str:
    if not path.startswith("/") or any(c in path for c in " \r\n\t"):
        raise ConfigError(f"probe path {path!r} must start with '/' and hold no whitespace")
    return path


def check_host_header(host: str | None) -> str | None:
    if host is not None and any(c in host for c in " \r\n\t"):
        raise ConfigError(f"host header {host!r} must hold no whitespace")
    return host


def request_bytes(host_header: str, path: str, keep_alive: bool) -> bytes:
    """The GET request every probe sends."""
    connection = "keep-alive" if keep_alive else "close"
    return (
        f"GET {check_path(path)} HTTP/1.1\r\nHost: {check_host_header(host_header)}\r\n"
        f"User-Agent: rollproof-prober\r\nAccept: */*\r\nConnection: {connection}\r\n\r\n"
    ).encode("latin-1")


class _Cursor:
    """Reads through `buf`; at its end raises NeedMore, or reports end of stream when `eof`."""

    __slots__ = ("buf", "pos", "eof")

    def __init__(self, buf: bytes, eof: bool) -> None:
        self.buf = buf
        self.pos = 0
        self.eof = eof

    def until(self, delimiter: bytes, limit: int) -> bytes:
        end = self.buf.find(delimiter, self.pos)
        if end < 0:
            if len(self.buf) - self.pos > limit:
                raise WireFailure("bad-response")
            if self.eof:
                raise WireFailure("closed" if not self.buf else "bad-response")
            raise NeedMore()
        data = self.buf[self.pos : end]
        self.pos = end + len(delimiter)
        return data

    def take(self, n: int) -> bytes:
        if len(self.buf) - self.pos < n:
            if self.eof:
                raise WireFailure("bad-response")
            raise NeedMore()
        data = self.buf[self.pos : self.pos + n]
        self.pos += n
        return data

    def rest(self) -> bytes:
        """Everything until end of stream."""
        if not self.eof:
            raise NeedMore()
        data = self.buf[self.pos :]
        self.pos = len(self.buf)
        return data


def parse_response(buf: bytes, eof: bool, marker: re.Pattern[str] | None = None) -> Response:
    """Parse one HTTP/1.x response from the start of `buf`: status, headers, body by
    length, chunks or close; interim 1xx responses are skipped."""
    cur = _Cursor(buf, eof)
    while True:
        head = cur.until(b"\r\n\r\n", MAX_HEAD)
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or len(parts[1]) != 3 or not parts[1].isdigit():
            raise WireFailure("bad-response")
        status = int(parts[1])
        if 100 <= status < 200 and status != 101:
            continue
        if status < 200:
            raise WireFailure("bad-response")
        break
    server = length = coding = connection = None
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep:
            raise WireFailure("bad-response")
        name = name.strip().lower()
        if name == b"content-length":
            if length is not None and length != value.strip():
                raise WireFailure("bad-response")
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
    if status in (204, 304):
        body = b""
    elif coding is not None:
        if coding.rsplit(b",", 1)[-1].strip() == b"chunked":
            body = _chunked(cur, marker is not None)
        else:
            body, reusable = cur.rest(), False
    elif length is not None:
        if not length.isdigit():
            raise WireFailure("bad-response")
        body = cur.take(int(length))
    else:
        body, reusable = cur.rest(), False
    found = None
    if marker is not None and body:
        match = marker.search(body[:MARKER_WINDOW].decode("utf-8", "replace"))
        if match is not None:
            found = match.group(1) if marker.groups else match.group(0)
    leftover = cur.pos < len(cur.buf)
    return Response(status, server, found, reusable and not leftover and not eof, cur.pos)


def _chunked(cur: _Cursor, keep: bool) -> bytes:
    kept: list[bytes] = []
    size_kept = 0
    while True:
        size_line = cur.until(b"\r\n", 1024).split(b";", 1)[0].strip()
        try:
            size = int(size_line, 16)
        except ValueError:
            raise WireFailure("bad-response") from None
        if size == 0:
            while cur.until(b"\r\n", MAX_HEAD):  # trailers up to the empty line
                pass
            return b"".join(kept)
        data = cur.take(size + 2)
        if data[-2:] != b"\r\n":
            raise WireFailure("bad-response")
        if keep and size_kept < MARKER_WINDOW:
            kept.append(data[:-2])
            size_kept += size
