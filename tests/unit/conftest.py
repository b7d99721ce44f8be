"""Fixtures shared by the unit tests: a scripted HTTP server on 127.0.0.1 that probers are aimed at."""

from __future__ import annotations

import os
import socket
import struct
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

# The samplers these tests start measure nothing a run depends on: they stay at normal priority,
# so a unit-test run never competes at real-time priority with the samplers of a real run on
# the same machine (a perf trace showed them holding a CPU for 16-27 ms each as they started and
# exited while a suite ran).
os.environ.setdefault("ROLLPROOF_SAMPLER_PRIORITY", "normal")

BODY = b"<html><body>hello version=v7</body></html>\n"


class Handler(BaseHTTPRequestHandler):
    """Answers per the server's script: one mode per request, then `server.mode`."""

    server: ScriptedServer
    server_version = "rollproof-test/1"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        self.server.count("connections")
        self.server.peer_ports.append(self.client_address[1])

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        srv = self.server
        srv.hosts.append(self.headers.get("Host"))
        mode = srv.next_mode()
        srv.count("requests")
        srv.hit.set()
        if mode == "ok":
            self.answer(200, BODY)
        elif mode == "5xx":
            self.answer(503, b"unavailable version=v7\n")
        elif mode == "chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"hello vers", b"ion=v9 tail", b""):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.close_connection = True
        elif mode == "garbage":
            self.wfile.write(b"NOT HTTP AT ALL\r\n\r\n")
            self.close_connection = True
        elif mode == "close":
            self.close_connection = True  # no byte written: the client sees EOF
        elif mode == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
        elif mode == "stall":
            srv.release.wait(10)
            self.close_connection = True
        else:
            raise AssertionError(mode)

    def answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class ScriptedServer(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 overflowed when the machine was busy (a kind cluster being
    # created or deleted beside the tests): the kernel dropped SYNs and the samplers under test
    # recorded connect-timeouts of the fixture's making (69 of 14,723 requests at a 5 ms pace, 72
    # ListenOverflows; 0 with this backlog, same run). nginx listens with 511.
    request_queue_size = 128

    def __init__(self, http11: bool) -> None:
        handler = type("ScriptedHandler", (Handler,), {"protocol_version": "HTTP/1.1" if http11 else "HTTP/1.0"})
        super().__init__(("127.0.0.1", 0), handler)
        self.mode = "ok"
        self.script: list[str] = []
        self.counts = {"connections": 0, "requests": 0}
        self.hosts: list[str | None] = []
        self.peer_ports: list[int] = []
        self.hit = threading.Event()
        self.release = threading.Event()
        self.lock = threading.Lock()

    @property
    def port(self) -> int:
        return self.server_address[1]

    def next_mode(self) -> str:
        with self.lock:
            return self.script.pop(0) if self.script else self.mode

    def count(self, what: str) -> None:
        with self.lock:
            self.counts[what] += 1


def _serve(http11: bool) -> Iterator[ScriptedServer]:
    server = ScriptedServer(http11)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    """HTTP/1.0 server: one request per connection, closes after answering."""
    yield from _serve(http11=False)


@pytest.fixture
def server11() -> Iterator[ScriptedServer]:
    """HTTP/1.1 server: keeps connections open."""
    yield from _serve(http11=True)


def time_wait_pairs() -> set[tuple[int, int]]:
    """(local port, remote port) of every TIME_WAIT TCP socket of this network namespace (/proc/net/tcp*)."""
    pairs = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as rows:
                lines = rows.read().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            local, remote, state = line.split()[1:4]
            if state == "06":
                pairs.add((int(local.rsplit(":", 1)[1], 16), int(remote.rsplit(":", 1)[1], 16)))
    return pairs
