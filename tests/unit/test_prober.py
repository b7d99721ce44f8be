"""The open-loop sampler against a real HTTP server on 127.0.0.1 that the test steers (in-process
and as the HostProber's child process); the lines every sampler prints; the pod prober's log
following against a fake API; clock alignment."""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from conftest import ScriptedServer, time_wait_pairs

from tests.unit.test_steal import write_stat
from harness.clocksync import Exchange, align, combine, exchange_with
from harness.errors import ConfigError, HarnessError, NotFound, ProviderError
from harness.httpwire import ERROR_CLASSES, NeedMore, WireFailure, parse_response
from harness.podprober import PodProber, prober_pod_manifest
from harness.deadline import SCHED_DEADLINE, set_deadline
from harness.probeloop import LoopOptions, ProbeLoop, deadline_period
from harness.prober import HostProber, ProbeTarget, check_probe_host, loop_options
from harness.sampler import Ending, ProbeOptions, SamplerBase
from harness.samples import KEEP_ALIVE, ProbeSample, clock
from harness.samplestream import LogLine, SampleStream, parse_log_line
from harness.timeouts import DEFAULT_TIMEOUTS, Timeouts


def loop_run(port: int, **kw: Any) -> tuple[list[ProbeSample], dict[str, Any]]:
    """Run the sampler in this process until its own bound; its samples and its done line."""
    lines: list[str] = []
    options = LoopOptions(host="127.0.0.1", port=port, **kw)
    ProbeLoop(options, lines.append).run()
    parsed = [parse_log_line(line) for line in lines]
    samples = sorted((p.sample for p in parsed if p.sample is not None), key=lambda s: s.start)
    done = json.loads(lines[-1])
    assert done["done"] == len(samples), "every request started is recorded"
    assert all(s.start <= done["at"] for s in samples), f"a request started after the loop stopped: {lines[-1]}"
    return samples, done


def host_run(port: int, timeout: float = 20.0, **kw: Any):
    prober = HostProber(ProbeTarget("127.0.0.1", port), ProbeOptions(**kw)).start()
    assert prober.wait(timeout), "the sampler did not end by itself"
    return prober.stop()


# --------------------------------------------------------------------------- the sampler, in process


def test_new_connection_per_request_records_status_server_marker_and_numbers(server: ScriptedServer) -> None:
    samples, done = loop_run(server.port, interval=0.005, max_requests=20, marker=r"version=(\w+)")
    assert len(samples) == 20 and done["why"] == "max-requests" and done["skipped"] == 0
    assert server.counts == {"connections": 20, "requests": 20}
    assert {(s.status, s.error, s.server, s.marker) for s in samples} == {(200, None, "rollproof-test/1", "v7")}
    assert [s.seq for s in samples] == list(range(1, 21)) and [s.conn for s in samples] == list(range(1, 21))
    assert not any(s.reused for s in samples)
    assert set(server.hosts) == {f"127.0.0.1:{server.port}"}
    assert set(server.peer_ports) == {s.port for s in samples} and len(server.peer_ports) == 20  # the source ports


def test_new_connections_leave_no_time_wait_at_either_end(server: ScriptedServer) -> None:
    """The server closes first and the sampler then resets: no TIME_WAIT at either end (README finding 36:
    behind a masquerading NodePort the pods' TIME_WAIT sockets dropped SYNs by their timestamps, finding 9)."""
    samples, _ = loop_run(server.port, interval=0.005, max_requests=20)
    assert len(samples) == 20 and {s.status for s in samples} == {200}
    ends = {(server.port, s.port) for s in samples} | {(s.port, server.port) for s in samples}
    assert not ends & time_wait_pairs()


def test_keep_alive_reuses_connections_and_records_failures_on_them(server11: ScriptedServer) -> None:
    server11.script = ["ok", "ok", "reset", "ok", "ok"]
    samples, _ = loop_run(server11.port, keep_alive=True, interval=0.15, max_requests=5, marker=r"version=(\w+)")
    assert [s.error for s in samples] == [None, None, "reset", None, None]
    assert [s.reused for s in samples] == [False, True, True, False, True]
    assert [s.conn for s in samples] == [1, 1, 1, 2, 2]
    assert server11.counts == {"connections": 2, "requests": 5}
    assert [s.port is None for s in samples] == [False, True, True, False, True]  # a port per new connection


def test_a_keep_alive_connection_is_registered_once_for_its_life(
    server11: ScriptedServer, server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The selector calls are system calls (epoll_ctl) the sampler makes per request: a keep-alive
    connection is registered once for its life, not again on every reuse (README finding 28)."""
    import selectors

    calls: dict[str, int] = {"register": 0, "unregister": 0}

    class Counting(selectors.DefaultSelector):  # type: ignore[misc,valid-type]
        def register(self, *a: Any, **k: Any) -> Any:
            calls["register"] += 1
            return super().register(*a, **k)

        def unregister(self, *a: Any, **k: Any) -> Any:
            calls["unregister"] += 1
            return super().unregister(*a, **k)

    monkeypatch.setattr("harness.probeloop.selectors.DefaultSelector", Counting)
    # 100 ms apart: this test server answers a reused connection in about 40 ms (Nagle's algorithm
    # against a delayed ACK: it writes the head and the body apart)
    samples, _ = loop_run(server11.port, keep_alive=True, interval=0.1, max_requests=6)
    assert [s.conn for s in samples] == [1] * 6 and all(s.ok for s in samples)
    # registered once, unregistered when closed at the end; and the tick timer, once for the loop's life
    assert calls == {"register": 2, "unregister": 2}
    calls.update(register=0, unregister=0)
    samples, _ = loop_run(server.port, interval=0.02, max_requests=10)
    assert all(s.ok for s in samples) and server.counts == {"connections": 10, "requests": 10}
    assert calls == {"register": 11, "unregister": 11}


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
    samples, _ = loop_run(server.port, interval=0.01, max_requests=2, read_timeout=0.3)
    assert [(s.status, s.error) for s in samples] == [(status, error)] * 2
    assert error in ERROR_CLASSES
    if mode == "5xx":
        assert samples[0].server == "rollproof-test/1"
    if mode == "stall":
        assert all(0.3 <= s.latency < 2 for s in samples)


def test_chunked_body(server11: ScriptedServer) -> None:
    server11.mode = "chunked"
    samples, _ = loop_run(server11.port, interval=0.01, max_requests=2, marker=r"version=(\w+)")
    assert [(s.status, s.error, s.marker) for s in samples] == [(200, None, "v9")] * 2


def test_refused_connections_are_classified() -> None:
    with socket.socket() as bound:  # bound, never listening: the kernel answers SYN with RST
        bound.bind(("127.0.0.1", 0))
        samples, _ = loop_run(bound.getsockname()[1], interval=0.01, max_requests=3)
    assert [(s.status, s.error) for s in samples] == [(None, "connect-refused")] * 3


def test_connect_errors_name_an_icmp_unreachable() -> None:
    from harness.probeloop import _connect_class

    assert [_connect_class(c) for c in (errno.ECONNREFUSED, errno.ETIMEDOUT, errno.EHOSTUNREACH)] == [
        "connect-refused",
        "connect-timeout",
        "connect-unreachable",
    ]
    assert _connect_class(errno.ENETUNREACH) == "connect-unreachable"
    assert _connect_class(errno.EADDRNOTAVAIL) == "connect-error"  # no local port left: no SYN was sent
    assert {"connect-unreachable", "connect-error"} <= set(ERROR_CLASSES)


def test_a_hanging_request_does_not_silence_the_ticker(server: ScriptedServer) -> None:
    """Open loop: while the first request hangs until its read timeout, the next ones start on schedule."""
    server.script = ["stall"]
    samples, _ = loop_run(server.port, interval=0.01, max_duration=0.5, read_timeout=0.4)
    assert samples[0].error == "read-timeout" and samples[0].latency >= 0.4
    starts = [s.start for s in samples]
    # ~50 ticks in 0.5 s; a ticker that waited for the hanging request would start ~2 and leave a
    # 0.4 s hole. The bounds tell those apart, not how fast this machine is (the unit tests' samplers
    # run at normal priority, and may share the CPUs with other work).
    assert len(samples) >= 25
    assert max(b - a for a, b in zip(starts, starts[1:])) < 0.2
    assert all(s.ok for s in samples[1:])


def test_every_slot_busy_skips_ticks(server: ScriptedServer) -> None:
    server.mode = "stall"
    samples, done = loop_run(server.port, interval=0.01, max_duration=0.3, read_timeout=0.25, max_inflight=2)
    assert done["skipped"] >= 10
    assert all(s.error == "read-timeout" for s in samples)


def test_a_loop_behind_its_ticks_still_takes_the_answers_in(server: ScriptedServer) -> None:
    """A tick shorter than one turn of the loop (every slot busy): answers are still read, so slots free
    and requests go on starting. A loop that handled due ticks before its sockets spun on skipped ticks
    and read no answer until the end (at a 0.1 ms tick through a kind NodePort: 4,000 requests in flight,
    none read for 6.7 s)."""
    samples, done = loop_run(server.port, interval=1e-9, max_duration=0.3, max_inflight=2)
    assert done["skipped"] > 0
    assert len(samples) >= 20, f"{len(samples)} requests in 0.3 s with 2 slots"
    assert all(s.ok for s in samples)


def test_ends_by_itself_at_max_duration_on_a_fixed_schedule(server: ScriptedServer) -> None:
    samples, done = loop_run(server.port, interval=0.05, max_duration=0.3)
    assert done["why"] == "max-duration" and 5 <= len(samples) <= 8
    # tick k starts at k x 50 ms from the first, never early, late only as long as the machine
    # holds this process (README finding 25: up to about 130 ms in the worst runs)
    late = [round(s.start - samples[0].start - k * 0.05, 4) for k, s in enumerate(samples)]
    assert all(-0.001 <= d <= 0.15 for d in late), f"starts off the 50 ms schedule by {late} s"


# --------------------------------------------------------------------------- the host prober (child process)


def test_host_prober_runs_the_sampler_in_a_child_process(server: ScriptedServer) -> None:
    before = clock()
    run = host_run(server.port, interval=0.005, max_requests=30, marker=r"version=(\w+)")
    assert run.stop_reason == "max-requests" and run.requests == 30 and run.lost == 0
    assert len(run.samples) == 30 and all(s.ok and s.marker == "v7" for s in run.samples)
    assert before <= run.samples[0].start <= run.samples[-1].end <= clock()  # one clock across processes
    assert run.kind == "new-connection" and run.where == f"host 127.0.0.1:{server.port}"


def test_the_child_runs_this_harness_whatever_the_working_directory_holds(
    server: ScriptedServer, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`python -m` puts the working directory first on the child's path: run from a folder with a
    `harness` package of its own (a user's project, another checkout), the child imported that one
    and not the code of the harness that started it."""
    decoy = tmp_path / "harness"
    decoy.mkdir()
    (decoy / "__init__.py").write_text("")
    (decoy / "probeloop.py").write_text("import sys\nsys.exit('the decoy harness ran')\n")
    monkeypatch.chdir(tmp_path)
    run = host_run(server.port, interval=0.005, max_requests=5)
    assert run.stop_reason == "max-requests" and len(run.samples) == 5 and all(s.ok for s in run.samples)


def test_host_prober_stop_while_running(server11: ScriptedServer) -> None:
    prober = HostProber(ProbeTarget("127.0.0.1", server11.port), ProbeOptions(kind=KEEP_ALIVE, interval=0.005))
    with prober:
        assert prober.wait_first_ok(10)
        assert prober.running
        snapshot = prober.samples()
    run = prober.stop() if not prober.stopped else None
    assert not prober.running
    assert run is None  # the context manager stopped it
    assert len(snapshot) >= 1


def test_host_prober_run_says_stopped_and_counts_everything(server: ScriptedServer) -> None:
    prober = HostProber(ProbeTarget("127.0.0.1", server.port), ProbeOptions(interval=0.005)).start()
    assert prober.wait_first_ok(10)
    run = prober.stop()
    seen = f"{run.stop_reason=} {run.requests=} samples={len(run.samples)} {run.lost=} {prober.stream.diagnostics=}"
    assert run.stop_reason == "stopped", seen
    assert run.requests == len(run.samples) and run.lost == 0, seen
    assert run.stopped_at is not None and run.stopped_at >= run.samples[-1].start


def test_host_prober_that_dies_says_so(server: ScriptedServer) -> None:
    prober = HostProber(
        ProbeTarget("127.0.0.1", server.port), ProbeOptions(interval=0.005), python="/bin/false"
    ).start()
    assert prober.wait(10)
    run = prober.stop()
    assert run.samples == () and "exited 1" in run.stop_reason


@pytest.mark.parametrize("host", ["10.0.0.1", "192.168.1.10", "8.8.8.8", "::2", "example.com"])
def test_non_loopback_targets_are_refused(host: str) -> None:
    with pytest.raises(ConfigError, match="allowed_networks|not an IP address"):
        HostProber(ProbeTarget(host, 80))


def test_allowed_networks() -> None:
    assert str(check_probe_host("localhost")) == "127.0.0.1"
    assert str(check_probe_host("::1")) == "::1"
    prober = HostProber(ProbeTarget("172.18.0.2", 30080), allowed_networks=["172.18.0.2/32"])  # never started
    assert not prober.running
    with pytest.raises(ConfigError, match="allowed_networks=\\['172.18.0.3/32'\\]"):
        check_probe_host("172.18.0.3", ["172.18.0.2/32"])
    with pytest.raises(ConfigError, match="too broad"):
        check_probe_host("10.1.2.3", ["0.0.0.0/0"])
    with pytest.raises(ConfigError, match="not a network"):
        check_probe_host("127.0.0.1", ["nonsense"])


def test_bad_options_are_config_errors() -> None:
    for bad in (
        dict(kind="pipelined"),
        dict(interval=0),
        dict(read_timeout=0),
        dict(max_requests=0),
        dict(max_inflight=0),
        dict(marker="(unclosed"),
    ):
        with pytest.raises(ConfigError):
            ProbeOptions(**bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        ProbeTarget("127.0.0.1", 0)
    with pytest.raises(ConfigError):
        ProbeTarget("127.0.0.1", 80, path="no-slash")
    options = ProbeOptions.of(
        Timeouts(probe_connect=3.0, probe_max_duration=50.0, probe_interval=0.004), kind=KEEP_ALIVE
    )
    assert (options.connect_timeout, options.max_duration, options.interval, options.keep_alive) == (
        3.0,
        50.0,
        0.004,
        True,
    )
    default = ProbeOptions()
    assert (default.interval, default.connect_timeout, default.read_timeout, default.max_duration) == (
        DEFAULT_TIMEOUTS.probe_interval,
        DEFAULT_TIMEOUTS.probe_connect,
        DEFAULT_TIMEOUTS.probe_read,
        DEFAULT_TIMEOUTS.probe_max_duration,
    )


def test_loop_options_carry_the_shared_options() -> None:
    """The child's own options come from the shared ones: the same command line as before."""
    target = ProbeTarget("127.0.0.1", 30080, path="/v", host_header="web")
    options = ProbeOptions(kind=KEEP_ALIVE, interval=0.002, max_duration=90.0, marker=r"version=(\w+)")
    loop = loop_options("127.0.0.1", target, options)
    assert loop == LoopOptions(
        host="127.0.0.1",
        port=30080,
        path="/v",
        host_header="web",
        keep_alive=True,
        interval=0.002,
        connect_timeout=options.connect_timeout,
        read_timeout=options.read_timeout,
        max_requests=options.max_requests,
        max_duration=90.0,
        max_inflight=options.inflight,
        marker=r"version=(\w+)",
    )
    assert loop.argv()[:4] == ["--target", "127.0.0.1:30080", "--path", "/v"] and "--keep-alive" in loop.argv()


class LinesSampler(SamplerBase):
    """A sampler whose output is given lines; its halt fails when told to."""

    def __init__(self, lines: list[str], fail_halt: bool = False) -> None:
        super().__init__(ProbeOptions(kind=KEEP_ALIVE), route="pod", where="given lines")
        self.lines, self.fail_halt, self.halts = lines, fail_halt, 0

    def start(self) -> LinesSampler:
        self.started_at = clock()
        self._follow_in_thread("lines-sampler")
        return self

    def _follow(self) -> None:
        for line in self.lines:
            self.stream.take(line)

    def _halt(self, stopped_at: float) -> Ending:
        self.halts += 1
        if self.fail_halt:
            raise HarnessError("halt failed")
        return Ending(stopped_at, "lines ended", clock_offset=1.0, clock_error=0.001)


def test_the_sampler_lifecycle_is_written_once() -> None:
    """Waits, the run a stop returns, and the context manager: the same for every route."""
    sampler = LinesSampler([sample_line(1), sample_line(2), done_line(2)])
    assert sampler.label == "keep-alive via pod" and not sampler.wait(0) and not sampler.running
    with sampler:
        assert sampler.wait(5) and sampler.wait_first_ok(0) and not sampler.running
        run = sampler.stop()
    assert sampler.halts == 1  # already stopped: the context manager does not stop again
    assert (run.kind, run.route, run.where, run.label, run.interval) == (
        "keep-alive",
        "pod",
        "given lines",
        sampler.label,
        sampler.interval,
    )
    assert (run.requests, run.stop_reason, run.clock_offset, run.clock_error) == (2, "stopped", 1.0, 0.001)
    assert [s.start for s in run.samples] == [12.0, 13.0] and [s.start for s in sampler.samples()] == [11.0, 12.0]
    with pytest.raises(ValueError, match="the body's"), LinesSampler([], fail_halt=True):
        raise ValueError("the body's")
    with pytest.raises(HarnessError, match="halt failed"), LinesSampler([], fail_halt=True):
        pass


# --------------------------------------------------------------------------- the wire parser


def test_parse_response_incrementally() -> None:
    whole = b"HTTP/1.1 200 OK\r\nServer: s/1\r\nContent-Length: 5\r\n\r\nhello"
    for cut in range(len(whole)):
        with pytest.raises(NeedMore):
            parse_response(whole[:cut], eof=False)
    r = parse_response(whole, eof=False)
    assert (r.status, r.server, r.reusable, r.consumed) == (200, "s/1", True, len(whole))
    with pytest.raises(WireFailure, match="closed"):
        parse_response(b"", eof=True)
    with pytest.raises(WireFailure, match="bad-response"):
        parse_response(whole[:20], eof=True)
    closing = parse_response(b"HTTP/1.0 200 OK\r\n\r\nbody", eof=True)
    assert closing.status == 200 and not closing.reusable


# --------------------------------------------------------------------------- lines and streams


def test_parse_log_lines() -> None:
    line = '{"n":7,"s":694.155335995,"e":694.155807373,"c":3,"st":200,"srv":"nginx/1.22.1","m":"v1","r":1}'
    expected = ProbeSample(694.155335995, 694.155807373, 200, None, "nginx/1.22.1", "v1", 7, 3, True)
    assert parse_log_line(line) == LogLine(seq=7, sample=expected)
    assert parse_log_line(line.encode() + b"\n").sample == expected
    assert parse_log_line('{"s":1.5,"e":1.75,"err":"connect-refused"}').sample == ProbeSample(
        1.5, 1.75, None, "connect-refused"
    )
    done = parse_log_line('{"done": 12, "skipped": 2, "why": "max-duration", "at": 694.2}')
    assert (done.done, done.skipped, done.why, done.at) == (12, 2, "max-duration", 694.2)
    assert parse_log_line('{"done": 12, "skipped": 2, "why": "max-duration"}').at is None  # an older sampler
    for junk in ["", "some diagnostic", "{not json", '{"s":1}', '{"e":1,"s":"x"}', "[1,2]", '{"n":"x","s":1,"e":2}']:
        parsed = parse_log_line(junk)
        assert parsed.sample is None and parsed.done is None and parsed.text == junk


def sample_line(n: int, t: float | None = None) -> str:
    t = 10.0 + n if t is None else t
    return json.dumps({"n": n, "s": t, "e": t + 0.001, "st": 200, "m": "v1"})


def done_line(n: int, why: str = "stopped", at: float | None = None) -> str:
    return json.dumps({"done": n, "skipped": 0, "why": why} | ({} if at is None else {"at": at}))


def test_sample_stream_drops_replays_and_counts_the_lost() -> None:
    stream = SampleStream("new-connection")
    for line in [sample_line(2), sample_line(1), sample_line(2), "note", "note", sample_line(4), done_line(5)]:
        stream.take(line)
    assert [s.seq for s in stream.samples] == [2, 1, 4] and stream.diagnostics == ["note"]
    assert stream.lost == 2 and not stream.finished
    run = stream.run(
        where="w",
        interval=0.01,
        started_at=1.0,
        stopped_at=20.0,
        stopped_by_harness=True,
        clock_offset=100.0,
        clock_error=0.002,
    )
    assert [s.start for s in run.samples] == [111.0, 112.0, 114.0]  # converted, sorted
    assert (run.requests, run.lost, run.stop_reason, run.clock_error) == (5, 2, "stopped", 0.002)


def test_the_run_stops_when_the_sampler_says_it_stopped_starting_requests() -> None:
    """The harness's stop reaches the sampler later (a signal, a pod deletion): a request it starts
    meanwhile is inside the run, whose end is the sampler's own (converted to the harness clock)."""
    kw: dict[str, Any] = {"where": "w", "interval": 0.005, "started_at": 100.0, "stopped_by_harness": True}
    stream = SampleStream("new-connection")
    for line in [sample_line(1, 0.5), sample_line(2, 0.9), done_line(2, at=0.9)]:
        stream.take(line)
    run = stream.run(stopped_at=100.85, clock_offset=100.0, **kw)
    assert run.stopped_at == 100.9 and run.samples[-1].start <= run.stopped_at
    older = SampleStream("new-connection")  # a sampler that does not say: the harness's instant
    for line in [sample_line(1, 0.5), done_line(1)]:
        older.take(line)
    assert older.run(stopped_at=100.85, clock_offset=100.0, **kw).stopped_at == 100.85


def test_a_stream_without_its_final_count_says_how_it_ended() -> None:
    stream = SampleStream("keep-alive")
    stream.take(sample_line(1))
    run = stream.run(
        where="w",
        interval=0.01,
        started_at=1.0,
        stopped_at=2.0,
        stopped_by_harness=True,
        end_reason="log ended without a count",
    )
    assert run.stop_reason == "log ended without a count" and run.requests is None


# --------------------------------------------------------------------------- pod prober against a fake API


def test_prober_pod_manifest() -> None:
    options = ProbeOptions(kind=KEEP_ALIVE, interval=0.001, max_duration=90, marker=r"version=(\w+)")
    pod = prober_pod_manifest("p", "rollproof/prober:dev", "10.96.0.10:80", options, host_header="web")
    container = pod["spec"]["containers"][0]
    args = container["args"]
    assert container["command"] == ["/prober"]
    assert args[args.index("-target") + 1] == "10.96.0.10:80"
    assert args[args.index("-interval") + 1] == "1000000ns"
    assert args[args.index("-duration") + 1] == "90000000000ns"
    # every 1 ms tick of a request that hangs for its whole 1 s connect and 2 s read timeouts, plus one
    assert args[args.index("-max-inflight") + 1] == "3001" and args[args.index("-clock-listen") + 1] == ":8080"
    assert "-keepalive" in args and args[args.index("-marker") + 1] == r"version=(\w+)"
    assert container["ports"] == [{"name": "clock", "containerPort": 8080}]
    for bad in ["10.96.0.10", "10.96.0.10:http", ":80", "10.96.0.10:70000"]:
        with pytest.raises(ConfigError, match="ClusterIP:port"):
            prober_pod_manifest("p", "img", bad)


class FakeLog:
    """One followed log stream: its lines, then `end`: "eof", "stall", or "deleted" (block until
    the pod is deleted, then the sampler's final count and EOF, as the real one does on SIGTERM)."""

    def __init__(self, lines: list[str], end: str, core: FakeCore) -> None:
        self.lines, self.end, self.core = lines, end, core

    def stream(self, amt: object = None, decode_content: object = None) -> Iterator[bytes]:
        from urllib3.exceptions import ReadTimeoutError

        yield "".join(line + "\n" for line in self.lines).encode()
        if self.end == "stall":
            raise ReadTimeoutError(None, "/log", "Read timed out.")  # type: ignore[arg-type]
        if self.end == "deleted":
            assert self.core.deleted.wait(10)
            yield (done_line(self.core.count) + "\n").encode()

    def close(self) -> None:
        pass

    def release_conn(self) -> None:
        pass


class FakeCore:
    """Just enough of CoreV1Api for PodProber: each log request gets the next scripted stream;
    the pod proxy answers the sampler's clock, `offset` seconds off the harness's."""

    def __init__(
        self,
        streams: list[tuple[list[str], str]],
        waiting_reason: str | None = None,
        count: int = 0,
        offset: float = 0.0,
        proxy_error: Exception | None = None,
    ) -> None:
        self.streams = streams
        self.waiting_reason = waiting_reason
        self.count = count
        self.offset = offset
        self.proxy_error = proxy_error
        self.created: list[dict[str, Any]] = []
        self.deleted_names: list[str] = []
        self.deleted = threading.Event()
        self.log_requests = 0
        self.clock_reads = 0

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

    def connect_get_namespaced_pod_proxy_with_path(self, name: str, namespace: str, path: str, **kw: Any) -> str:
        assert name.endswith(":8080") and path == "clock"
        if self.proxy_error is not None:
            raise self.proxy_error
        self.clock_reads += 1
        return f"{clock() - self.offset:.9f}\n"

    def delete_namespaced_pod(self, name: str, namespace: str, **kw: Any) -> None:
        self.deleted_names.append(name)
        self.deleted.set()


FAST = Timeouts(api_request=5, poll_interval=0.01)


def test_pod_prober_lifecycle_against_a_fake_api() -> None:
    reset = json.dumps({"n": 2, "s": 12, "e": 12.5, "err": "reset"})
    core = FakeCore([([sample_line(1), "some diagnostic", reset], "deleted")], count=2)
    prober = PodProber(core, "ns", "rollproof/prober:dev", "10.96.0.10:80", name="probe-1", timeouts=FAST)
    with prober:
        assert prober.wait_first_ok(5)
        assert core.created[0]["metadata"]["name"] == "probe-1"
    assert core.deleted_names == ["probe-1"]
    run = prober.stop() if not prober.stopped else None
    assert run is None
    assert [(s.status, s.error, s.marker) for s in prober.samples()] == [(200, None, "v1"), (None, "reset", None)]
    assert prober.stream.finished and prober.stream.lost == 0 and prober.diagnostics == ["some diagnostic"]


def test_pod_prober_reopens_a_stalled_log_and_drops_replayed_lines() -> None:
    core = FakeCore(
        [([sample_line(1), sample_line(2)], "stall"), ([sample_line(n) for n in range(1, 5)] + [done_line(4)], "eof")]
    )
    prober = PodProber(core, "ns", "img", "10.96.0.10:80", timeouts=FAST).start()
    assert prober.wait(10)
    run = prober.stop()
    assert [s.start for s in run.samples] == [11.0, 12.0, 13.0, 14.0]
    assert run.lost == 0 and prober.reopened == 1 and core.log_requests == 2


def test_pod_prober_counts_lost_lines() -> None:
    core = FakeCore([([sample_line(1), sample_line(3), done_line(4)], "eof")])
    prober = PodProber(core, "ns", "img", "10.96.0.10:80", timeouts=FAST).start()
    assert prober.wait(10)
    run = prober.stop()
    assert len(run.samples) == 2 and run.lost == 2 and run.requests == 4


def test_pod_prober_gives_up_on_a_log_without_final_count() -> None:
    core = FakeCore([([sample_line(1)], "eof"), ([sample_line(1)], "eof")])
    prober = PodProber(core, "ns", "img", "10.96.0.10:80", timeouts=FAST).start()
    assert prober.wait(10)
    run = prober.stop()
    assert len(run.samples) == 1 and run.requests is None and core.log_requests == 2
    assert "final count" in run.stop_reason


def test_pod_prober_aligns_a_remote_clock() -> None:
    """A pod whose clock runs 250 s behind the harness's: its samples land on the harness clock."""
    t = clock() - 250.0
    core = FakeCore([([sample_line(1, t), sample_line(2, t + 0.01)], "deleted")], count=2, offset=250.0)
    prober = PodProber(core, "ns", "img", "10.96.0.10:80", same_clock=False, timeouts=FAST).start()
    assert prober.wait_first_ok(5)
    run = prober.stop()
    assert run.clock_offset == pytest.approx(250.0, abs=0.05)
    assert 0 <= run.clock_error < 0.05 and core.clock_reads == 10
    assert run.samples[0].start == pytest.approx(t + 250.0, abs=0.05)


def test_pod_prober_whose_clock_cannot_be_read_has_an_unknown_error() -> None:
    from kubernetes.client.exceptions import ApiException

    denied = ApiException(status=403, reason="Forbidden")
    core = FakeCore([([sample_line(1)], "deleted")], count=1, proxy_error=denied)
    prober = PodProber(core, "ns", "img", "10.96.0.10:80", same_clock=False, timeouts=FAST).start()
    run = prober.stop()
    assert run.clock_error == float("inf")
    assert any("cannot read the prober's clock" in d for d in prober.diagnostics)


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


# --------------------------------------------------------------------------- clock alignment


def test_align_takes_the_shortest_round_trip() -> None:
    exchanges = [
        Exchange(0.0, 100.0 - 0.3, 0.2),
        Exchange(1.0, 101.0 - 0.3 + 0.001, 1.002),
        Exchange(2.0, 102.0 - 0.3, 2.5),
    ]
    alignment = align(exchanges)
    assert alignment.offset == pytest.approx(-99.7, abs=1e-9)
    assert alignment.error == pytest.approx(0.001)
    drifted = combine(alignment, align([Exchange(5.0, 105.0 - 0.31, 5.002)]))
    assert drifted.offset == alignment.offset
    assert drifted.error == pytest.approx(0.001 + 0.011)  # the larger error plus the drift
    with pytest.raises(ConfigError):
        align([Exchange(1.0, 5.0, 0.5)])


def test_exchange_with_an_injected_offset() -> None:
    alignment = align(exchange_with(lambda: clock() + 42.0, rounds=5))
    assert alignment.offset == pytest.approx(-42.0, abs=0.01) and alignment.exchanges == 5


def test_default_inflight_fits_every_tick_of_a_hanging_request() -> None:
    """A request hanging for its whole timeouts must never hold a tick back: the default bound on
    requests in flight is (connect + read timeout) / interval + 1, capped; an explicit one wins."""
    assert ProbeOptions(interval=0.002, connect_timeout=1.0, read_timeout=2.0).inflight == 1501
    assert ProbeOptions(interval=0.0001, connect_timeout=1.0, read_timeout=2.0).inflight == 4000
    assert ProbeOptions(interval=0.002, max_inflight=8).inflight == 8


def test_the_samplers_output_pipe_holds_seconds_of_lines() -> None:
    """A harness busy for a moment must not hold the sampler back: its output pipe is widened to
    1 MiB (or the system's pipe-max-size), ~20 s of lines, from the default 64 KiB (~1.3 s)."""
    import fcntl
    import os

    from harness.probeloop import widen_output_pipe

    read, write = os.pipe()
    try:
        widen_output_pipe(write)
        with open("/proc/sys/fs/pipe-max-size", encoding="ascii") as limit:
            expected = min(1 << 20, int(limit.read()))
        assert fcntl.fcntl(write, fcntl.F_GETPIPE_SZ) == expected
    finally:
        os.close(read)
        os.close(write)


def _priority_in_child(env: dict[str, str]) -> str:
    code = (
        "import os; from harness.probeloop import raise_priority, lower_priority\n"
        "got = raise_priority(0.001); policy = os.sched_getscheduler(0); lower_priority()\n"
        "print(got, policy & ~os.SCHED_RESET_ON_FORK, os.sched_getscheduler(0) == os.SCHED_OTHER)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return out.stdout.strip()


def test_a_sampler_asked_for_normal_priority_stays_normal() -> None:
    env = {**os.environ, "ROLLPROOF_SAMPLER_PRIORITY": "normal"}
    assert _priority_in_child(env) == f"normal {os.SCHED_OTHER} True"


def test_a_sampler_asked_for_sched_deadline_gets_it_where_allowed_and_leaves_it_before_it_exits() -> None:
    env = {**os.environ, "ROLLPROOF_SAMPLER_PRIORITY": "deadline"}
    got, policy, back = _priority_in_child(env).split()
    expected = {"deadline": SCHED_DEADLINE, "fifo": os.SCHED_FIFO}
    assert got in expected or got in ("nice", "normal")
    if got in expected:  # where this machine allows it
        assert int(policy) == expected[got]
    assert back == "True"


def test_by_default_a_sampler_runs_at_sched_fifo_not_deadline() -> None:
    env = {k: v for k, v in os.environ.items() if k != "ROLLPROOF_SAMPLER_PRIORITY"}
    got, policy, back = _priority_in_child(env).split()
    assert got != "deadline" and back == "True"
    if got == "fifo":
        assert int(policy) == os.SCHED_FIFO


def test_the_deadline_period_follows_the_interval_within_1_to_10_ms() -> None:
    assert [deadline_period(i) for i in (0.0002, 0.001, 0.004, 0.05)] == [0.001, 0.001, 0.004, 0.01]


def test_a_deadline_budget_above_its_period_is_refused() -> None:
    with pytest.raises(ValueError, match="at most the period"):
        set_deadline(0.002, 0.001)


def _loc(path: Any, counts: list[int]) -> None:
    path.write_text(
        "           CPU0       CPU1\n  0:         44          0   IO-APIC    2-edge      timer\n"
        f"LOC:   {counts[0]}   {counts[1]}   Local timer interrupts\nCAL:   5   6   Function call interrupts\n"
    )


def test_a_stall_line_says_how_many_timer_interrupts_each_cpu_took(tmp_path: Any) -> None:
    import io

    from harness.probeloop import StallTrace
    from harness.samples import clock

    interrupts = tmp_path / "interrupts"
    _loc(interrupts, [1000, 2000])
    out = io.StringIO()
    trace = StallTrace(out, str(interrupts), str(tmp_path / "no-stat"))
    trace.note("waiting for sockets", clock(), 0.001)  # in time: only the reading is taken
    assert out.getvalue() == ""
    _loc(interrupts, [1001, 2012])
    trace.note("waiting for sockets", clock() - 0.05, 0.001)
    line = out.getvalue()
    assert "waiting for sockets took 5" in line and "1.0 ms asked" in line
    assert line.rstrip().endswith("ms: [1, 12]")


def test_a_stall_line_says_how_long_each_cpu_was_stolen_by_the_hypervisor(tmp_path: Any) -> None:
    import io

    from harness.probeloop import StallTrace
    from harness.samples import clock

    interrupts, stat = tmp_path / "interrupts", tmp_path / "stat"
    _loc(interrupts, [1000, 2000])
    write_stat(stat, [7, 9])
    out = io.StringIO()
    trace = StallTrace(out, str(interrupts), str(stat))
    trace.note("waiting for sockets", clock(), 0.001)
    _loc(interrupts, [1001, 2002])
    write_stat(stat, [11, 13])  # 4 ticks of the clock (USER_HZ) each
    trace.note("waiting for sockets", clock() - 0.05, 0.001)
    tick_ms = round(1000 * 4 / os.sysconf("SC_CLK_TCK"))
    assert out.getvalue().rstrip().endswith(f"ms: [1, 2]; stolen per CPU: [{tick_ms}, {tick_ms}] ms")


def test_a_stall_trace_reads_the_cpu_counters_only_when_asked(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading /proc/interrupts and /proc/stat every 4 ms cost each sampler 0.03-0.05 of a core."""
    from harness.probeloop import STALL_READINGS_ENV, StallTrace

    monkeypatch.setenv("ROLLPROOF_SAMPLER_STALLS", str(tmp_path / "stalls.txt"))
    monkeypatch.delenv(STALL_READINGS_ENV, raising=False)
    bare = StallTrace.from_env()
    assert bare.out is not None and (bare._fd, bare._stat) == (None, None)
    monkeypatch.setenv(STALL_READINGS_ENV, "1")
    read = StallTrace.from_env()
    assert read._fd is not None or not os.path.exists("/proc/interrupts")


def test_a_stall_line_without_interrupt_counts_is_still_written(tmp_path: Any) -> None:
    import io

    from harness.probeloop import StallTrace
    from harness.samples import clock

    out = io.StringIO()
    StallTrace(out, str(tmp_path / "absent")).note("starting a request", clock() - 0.02)
    assert out.getvalue().rstrip().endswith("0.0 ms asked")


def test_a_sampler_that_cannot_start_is_said_at_once_with_its_reason(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stall trace it cannot write ends the sampler before its first request: the wait for a first
    answer returns at once, and the sampler's own line says what to fix (it once waited 180 s and
    said only "no request completed")."""
    monkeypatch.setenv("ROLLPROOF_SAMPLER_STALLS", "/proc/no-such-folder/stalls.txt")
    prober = HostProber(ProbeTarget("127.0.0.1", server.port), ProbeOptions(interval=0.01)).start()
    began = time.monotonic()
    try:
        assert not prober.wait_first_ok(30)
        assert time.monotonic() - began < 10
        ended = prober.ended_by_itself()
        assert ended is not None and "ROLLPROOF_SAMPLER_STALLS=/proc/no-such-folder/stalls.txt: cannot append" in ended
    finally:
        prober.stop()
    assert prober.ended_by_itself() is None  # stopped: no longer "by itself"


def test_a_new_connection_already_made_is_sent_on_at_once(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through a data path inside this host the handshake is over when connect() returns (the
    softirq that sent the SYN carried the SYN-ACK back): the request goes out in the same turn,
    with no registration for writing to change to reading later and no SO_ERROR to read."""
    import selectors

    modified = []

    class Counting(selectors.DefaultSelector):  # type: ignore[misc,valid-type]
        def modify(self, *a: Any, **k: Any) -> Any:
            modified.append(a)
            return super().modify(*a, **k)

    monkeypatch.setattr("harness.probeloop.selectors.DefaultSelector", Counting)
    samples, _ = loop_run(server.port, interval=0.005, max_requests=200)
    assert all(s.ok for s in samples) and len(samples) == 200
    assert modified == []
