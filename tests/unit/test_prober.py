"""HostProber against a real HTTP server on 127.0.0.1 that the test steers; the pod prober's
log lines and its pod lifecycle against a fake API (the Go prober binary: test_go_prober.py)."""

from __future__ import annotations

import json
import socket
import struct
import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from harness import prober as prober_module
from harness.errors import ConfigError, NotFound, ProviderError
from harness.podprober import (
    LogLine,
    PodProber,
    parse_log_line,
    parse_sample_line,
    prober_pod_manifest,
)
from harness.prober import ERROR_CLASSES, HostProber, ProbeTarget, check_probe_host
from harness.samples import ProbeSample
from harness.timeouts import Timeouts

BODY = b"<html><body>hello version=v7</body></html>\n"


class Handler(BaseHTTPRequestHandler):
    """Answers per the server's script: one mode per request, then `server.mode`."""

    server: ScriptedServer
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
        handler = type("ScriptedHandler", (Handler,), {"protocol_version": "HTTP/1.1" if http11 else "HTTP/1.0"})
        super().__init__(("127.0.0.1", 0), handler)
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
    # starts follow a fixed schedule: one late start does not shift the ones after it
    assert (samples[-1].start - samples[0].start) / (len(samples) - 1) >= 0.045


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


# -- pod prober: log lines and lifecycle against a fake API ---------------


def test_parse_log_lines() -> None:
    line = '{"n":7,"s":694.155335995,"e":694.155807373,"st":200,"srv":"nginx/1.22.1","m":"v1"}'
    expected = ProbeSample(694.155335995, 694.155807373, 200, None, "nginx/1.22.1", "v1")
    assert parse_log_line(line) == LogLine(seq=7, sample=expected)
    assert parse_sample_line(line) == expected
    assert parse_sample_line(line.encode() + b"\n") == expected
    assert parse_sample_line('{"s":1.5,"e":1.75,"err":"connect-refused"}') == ProbeSample(
        1.5, 1.75, None, "connect-refused")
    assert parse_sample_line('{"n":1,"s":1,"e":2,"st":503,"err":"http-5xx","srv":"x \\"q\\" \\u00e9"}') == (
        ProbeSample(1.0, 2.0, 503, "http-5xx", 'x "q" \u00e9'))
    assert parse_log_line("rollproof-prober: done after 12 requests (signal)\n").done == 12
    for junk in ["", "some diagnostic", "{not json", '{"s":1}', '{"e":1,"s":"x"}', "[1,2]", '{"n":"x","s":1,"e":2}']:
        parsed = parse_log_line(junk)
        assert parsed.sample is None and parsed.done is None and parsed.text == junk


def test_prober_pod_manifest() -> None:
    pod = prober_pod_manifest("p", "rollproof/prober:dev", "10.96.0.10:80", interval=0.001, max_duration=90,
                              keep_alive=True, marker=r"version=(\w+)", host_header="web")
    container = pod["spec"]["containers"][0]
    assert container["command"] == ["/prober"]
    args = container["args"]
    assert args[args.index("-target") + 1] == "10.96.0.10:80"
    assert args[args.index("-interval") + 1] == "1000000ns"
    assert args[args.index("-duration") + 1] == "90000000000ns"
    assert "-keepalive" in args and args[args.index("-marker") + 1] == r"version=(\w+)"
    assert pod["spec"]["restartPolicy"] == "Never"
    for bad in ["10.96.0.10", "10.96.0.10:http", ":80", "10.96.0.10:70000"]:
        with pytest.raises(ConfigError, match="ClusterIP:port"):
            prober_pod_manifest("p", "img", bad)


def sample_line(n: int) -> str:
    return json.dumps({"n": n, "s": 10.0 + n, "e": 10.0 + n + 0.001, "st": 200, "m": "v1"})


DONE = "rollproof-prober: done after {} requests (signal)"


class FakeLog:
    """One followed log stream: its lines, then `end`: "eof", "stall", or "deleted" (block until
    the pod is deleted, then the prober's final count and EOF, as the real prober does on SIGTERM)."""

    def __init__(self, lines: list[str], end: str, core: FakeCore) -> None:
        self.lines, self.end, self.core = lines, end, core

    def stream(self, amt: object = None, decode_content: object = None) -> Iterator[bytes]:
        from urllib3.exceptions import ReadTimeoutError

        yield "".join(line + "\n" for line in self.lines).encode()
        if self.end == "stall":
            raise ReadTimeoutError(None, "/log", "Read timed out.")  # type: ignore[arg-type]
        if self.end == "deleted":
            assert self.core.deleted.wait(10)
            yield (DONE.format(self.core.count) + "\n").encode()

    def close(self) -> None:
        pass

    def release_conn(self) -> None:
        pass


class FakeCore:
    """Just enough of CoreV1Api for PodProber: each log request gets the next scripted stream."""

    def __init__(self, streams: list[tuple[list[str], str]], waiting_reason: str | None = None,
                 count: int = 0) -> None:
        self.streams = streams
        self.waiting_reason = waiting_reason
        self.count = count
        self.created: list[dict[str, Any]] = []
        self.deleted_names: list[str] = []
        self.deleted = threading.Event()
        self.log_requests = 0

    def create_namespaced_pod(self, namespace: str, body: dict[str, Any], **kw: Any) -> None:
        self.created.append(body)

    def read_namespaced_pod(self, name: str, namespace: str, **kw: Any) -> Any:
        if self.waiting_reason:
            waiting = SimpleNamespace(reason=self.waiting_reason, message="no such image")
            status = SimpleNamespace(state=SimpleNamespace(waiting=waiting))
            return SimpleNamespace(status=SimpleNamespace(phase="Pending", container_statuses=[status]))
        return SimpleNamespace(status=SimpleNamespace(phase="Running", container_statuses=[]))

    def read_namespaced_pod_log(self, name: str, namespace: str, **kw: Any) -> FakeLog:
        assert kw["follow"] is True and kw["_preload_content"] is False
        self.log_requests += 1
        lines, end = self.streams.pop(0) if self.streams else ([], "eof")
        return FakeLog(lines, end, self)

    def delete_namespaced_pod(self, name: str, namespace: str, **kw: Any) -> None:
        self.deleted_names.append(name)
        self.deleted.set()


FAST = Timeouts(api_request=5, poll_interval=0.01)


def test_pod_prober_lifecycle_against_a_fake_api() -> None:
    core = FakeCore([([sample_line(1), "some diagnostic", json.dumps({"n": 2, "s": 12, "e": 12.5, "err": "reset"})],
                      "deleted")], count=2)
    prober = PodProber(core, "ns", "rollproof/prober:dev", "10.96.0.10:80", name="probe-1", timeouts=FAST)
    with prober:
        assert prober.wait_started(5)
        assert core.created[0]["metadata"]["name"] == "probe-1"
    assert core.deleted_names == ["probe-1"]
    assert [(s.status, s.error, s.marker) for s in prober.samples()] == [(200, None, "v1"), (None, "reset", None)]
    assert prober.complete and prober.missing == 0 and prober.reported == 2
    assert prober.diagnostics == ["some diagnostic", DONE.format(2)]


def test_pod_prober_reopens_a_stalled_log_and_drops_replayed_lines() -> None:
    core = FakeCore([([sample_line(1), sample_line(2)], "stall"),
                     ([sample_line(n) for n in range(1, 5)] + [DONE.format(4)], "eof")])
    prober = PodProber(core, "ns", "img", "10.96.0.10:80", timeouts=FAST).start()
    assert prober.wait(10)
    assert [s.start for s in prober.stop()] == [11.0, 12.0, 13.0, 14.0]
    assert prober.complete and prober.reopened == 1 and core.log_requests == 2


def test_pod_prober_counts_lost_lines() -> None:
    core = FakeCore([([sample_line(1), sample_line(3), DONE.format(4)], "eof")])
    prober = PodProber(core, "ns", "img", "10.96.0.10:80", timeouts=FAST).start()
    assert prober.wait(10)
    assert len(prober.stop()) == 2
    assert prober.missing == 2 and not prober.complete
    assert "log lost requests 2..2" in prober.diagnostics and "log lost requests 4..4" in prober.diagnostics


def test_pod_prober_gives_up_on_a_log_without_final_count() -> None:
    core = FakeCore([([sample_line(1)], "eof"), ([sample_line(1)], "eof")])
    prober = PodProber(core, "ns", "img", "10.96.0.10:80", timeouts=FAST).start()
    assert prober.wait(10)
    assert len(prober.stop()) == 1 and not prober.complete and core.log_requests == 2
    assert "final count" in prober.diagnostics[-1]


def test_pod_prober_deletes_its_pod_when_it_cannot_start() -> None:
    core = FakeCore([], waiting_reason="ErrImagePull")
    prober = PodProber(core, "ns", "missing:image", "10.96.0.10:80", name="probe-2", timeouts=FAST)
    with pytest.raises(ProviderError, match="ErrImagePull"):
        prober.start()
    assert core.deleted_names == ["probe-2"]


def test_pod_prober_translates_api_errors() -> None:
    from kubernetes.client.exceptions import ApiException

    class Missing(FakeCore):
        def create_namespaced_pod(self, namespace: str, body: dict[str, Any], **kw: Any) -> None:
            exc = ApiException(status=404, reason="Not Found")
            exc.body = json.dumps({"kind": "Status", "reason": "NotFound", "message": 'namespaces "ns" not found'})
            raise exc

    core = Missing([])
    with pytest.raises(NotFound, match='namespaces "ns" not found'):
        PodProber(core, "ns", "img", "10.96.0.10:80").start()
    assert core.deleted_names == []
