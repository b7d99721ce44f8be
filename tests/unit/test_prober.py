"""HostProber against a real HTTP server on 127.0.0.1 that the test steers; PodProber log parsing."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from harness import prober as prober_module
from harness.errors import ConfigError
from harness.prober import ERROR_CLASSES, HostProber, ProbeTarget, check_probe_host

BODY = b"<html><body>hello version=v7</body></html>\n"


class Handler(BaseHTTPRequestHandler):
    """Answers per the server's script: one mode per request, then `server.mode`."""

    server: "ScriptedServer"
    server_version = "rollproof-test/1"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        self.server.count("connections")

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

    def __init__(self, http11: bool) -> None:
        Handler.protocol_version = "HTTP/1.1" if http11 else "HTTP/1.0"
        super().__init__(("127.0.0.1", 0), Handler)
        self.mode = "ok"
        self.script: list[str] = []
        self.counts = {"connections": 0, "requests": 0}
        self.hosts: list[str | None] = []
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


def run(prober: HostProber, timeout: float = 10.0) -> list:
    """Start, let it reach its own bound, return the samples."""
    prober.start()
    assert prober.wait(timeout), "prober did not stop by itself"
    return prober.stop()


def test_new_connection_per_request_records_status_server_and_marker(server: ScriptedServer) -> None:
    samples = run(HostProber(ProbeTarget("127.0.0.1", server.port), max_requests=20, marker=r"version=(\w+)"))
    assert len(samples) == 20
    assert server.counts == {"connections": 20, "requests": 20}
    assert all(s.ok and s.status == 200 and s.error is None for s in samples)
    assert {s.server for s in samples} == {"rollproof-test/1"}
    assert {s.marker for s in samples} == {"v7"}
    assert all(a.end <= b.start for a, b in zip(samples, samples[1:]))
    assert all(0 <= s.latency < 5 for s in samples)
    assert set(server.hosts) == {f"127.0.0.1:{server.port}"}


def test_marker_without_group_and_host_header(server: ScriptedServer) -> None:
    target = ProbeTarget("127.0.0.1", server.port, path="/x?y=1", host_header="web.test")
    samples = run(HostProber(target, max_requests=2, marker=r"v\d+"))
    assert [s.marker for s in samples] == ["v7", "v7"]
    assert server.hosts == ["web.test", "web.test"]
    samples = run(HostProber(ProbeTarget("127.0.0.1", server.port), max_requests=1))
    assert samples[0].marker is None


def test_keep_alive_reuses_one_connection_and_reconnects_after_failure(server11: ScriptedServer) -> None:
    server11.script = ["ok", "ok", "reset", "ok", "ok"]
    target = ProbeTarget("127.0.0.1", server11.port)
    samples = run(HostProber(target, keep_alive=True, max_requests=5, marker=r"version=(\w+)"))
    assert [s.error for s in samples] == [None, None, "reset", None, None]
    assert [s.marker for s in samples] == ["v7", "v7", None, "v7", "v7"]
    assert server11.counts == {"connections": 2, "requests": 5}


def test_new_connections_against_http11_server(server11: ScriptedServer) -> None:
    samples = run(HostProber(ProbeTarget("127.0.0.1", server11.port), max_requests=5))
    assert [s.status for s in samples] == [200] * 5
    assert server11.counts == {"connections": 5, "requests": 5}


@pytest.mark.parametrize(
    ("mode", "status", "error"),
    [
        ("5xx", 503, "http-5xx"),
        ("garbage", None, "bad-response"),
        ("close", None, "closed"),
        ("reset", None, "reset"),
        ("stall", None, "read-timeout"),
    ],
)
def test_failures_are_classified(server: ScriptedServer, mode: str, status: int | None, error: str) -> None:
    server.mode = mode
    samples = run(HostProber(ProbeTarget("127.0.0.1", server.port), max_requests=2, read_timeout=0.3))
    assert [(s.status, s.error) for s in samples] == [(status, error)] * 2
    assert error in ERROR_CLASSES
    assert not any(s.ok for s in samples)
    if mode == "5xx":
        assert samples[0].server == "rollproof-test/1"
    if mode == "stall":
        assert all(0.3 <= s.latency < 2 for s in samples)


def test_chunked_body(server11: ScriptedServer) -> None:
    server11.mode = "chunked"
    samples = run(HostProber(ProbeTarget("127.0.0.1", server11.port), max_requests=2, marker=r"version=(\w+)"))
    assert [(s.status, s.error, s.marker) for s in samples] == [(200, None, "v9")] * 2


def test_refused_connections_are_classified() -> None:
    with socket.socket() as bound:  # bound, never listening: the kernel answers SYN with RST
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        samples = run(HostProber(ProbeTarget("127.0.0.1", port), max_requests=3))
    assert [(s.status, s.error) for s in samples] == [(None, "connect-refused")] * 3


def test_stops_by_itself_after_max_duration(server: ScriptedServer) -> None:
    prober = HostProber(ProbeTarget("127.0.0.1", server.port), interval=0.05, max_duration=0.3)
    samples = run(prober)
    assert 2 <= len(samples) <= 8
    assert samples[-1].start - samples[0].start < 0.3
    gaps = [b.start - a.start for a, b in zip(samples, samples[1:])]
    assert all(g >= 0.045 for g in gaps)


def test_stop_while_running_and_snapshot(server: ScriptedServer) -> None:
    prober = HostProber(ProbeTarget("127.0.0.1", server.port), max_duration=30)
    with prober:
        assert server.hit.wait(10)
        assert prober.running
        snapshot = prober.samples()
    samples = prober.stop()
    assert not prober.running
    assert len(samples) >= len(snapshot) and samples[: len(snapshot)] == snapshot
    assert len(samples) >= 1


def test_thread_exception_is_reraised_at_stop(server: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("parser bug")

    monkeypatch.setattr(prober_module, "_read_response", broken)
    prober = HostProber(ProbeTarget("127.0.0.1", server.port), max_requests=3)
    prober.start()
    assert prober.wait(10)
    with pytest.raises(RuntimeError, match="parser bug"):
        prober.stop()
    assert isinstance(prober.error, RuntimeError)
    assert prober.samples() == []
    with pytest.raises(RuntimeError, match="parser bug"), HostProber(ProbeTarget("127.0.0.1", server.port)):
        pass


@pytest.mark.parametrize("host", ["10.0.0.1", "192.168.1.10", "8.8.8.8", "::2", "example.com"])
def test_non_loopback_targets_are_refused(host: str) -> None:
    with pytest.raises(ConfigError, match="allowed_networks|not an IP address"):
        HostProber(ProbeTarget(host, 80))


def test_allowed_networks() -> None:
    assert str(check_probe_host("localhost")) == "127.0.0.1"
    assert str(check_probe_host("127.3.2.1")) == "127.3.2.1"
    assert str(check_probe_host("::1")) == "::1"
    prober = HostProber(ProbeTarget("172.18.0.2", 30080), allowed_networks=["172.18.0.2/32"])  # never started
    assert not prober.running
    with pytest.raises(ConfigError, match="allowed_networks=\\['172.18.0.3/32'\\]"):
        check_probe_host("172.18.0.3", ["172.18.0.2/32"])
    with pytest.raises(ConfigError, match="too broad"):
        check_probe_host("10.1.2.3", ["0.0.0.0/0"])
    with pytest.raises(ConfigError, match="not a network"):
        check_probe_host("127.0.0.1", ["nonsense"])


def test_bad_parameters_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        ProbeTarget("127.0.0.1", 0)
    with pytest.raises(ConfigError):
        ProbeTarget("127.0.0.1", 80, path="no-slash")
    with pytest.raises(ConfigError):
        HostProber(ProbeTarget("127.0.0.1", 80), max_requests=0)
    with pytest.raises(ConfigError):
        HostProber(ProbeTarget("127.0.0.1", 80), read_timeout=0)
    with pytest.raises(ConfigError):
        HostProber(ProbeTarget("127.0.0.1", 80), marker="(unclosed")
