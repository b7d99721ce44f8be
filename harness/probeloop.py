"""The open-loop sampler: a request starts at every tick, whatever is still in flight.

Run as a child process (`python -m harness.probeloop --target 127.0.0.1:PORT ...`)
so that nothing in the harness's own process (the GIL, garbage collection, a
test thread parsing JSON) can delay a tick. One thread, non-blocking sockets,
one `selectors` loop. Each request keeps its own start and end; a request that
hangs is recorded when its timeout fires and never silences the ticker. At most
`--max-inflight` requests are in flight; a tick that finds every slot busy is
counted as skipped (and shows as a gap between request starts).

Kinds: `new-connection` (one TCP connection per request, `Connection: close`;
the server closes first and the sampler then resets the connection, so neither
end keeps a TIME_WAIT: behind a masquerading NodePort the pods' TIME_WAIT sockets
dropped new SYNs on their timestamps, README findings 9 and 36) and `keep-alive`
(idle connections are reused, newest first; a connection the server closes
while idle is dropped from the pool; a request on a reused connection that fails
is recorded as failed: no silent retry).

Output, one JSON line each on stdout (the same lines as the Go prober's):

    {"n":SEQ,"s":START,"e":END,"st":STATUS,"err":CLASS,"srv":SERVER,"m":MARKER,"c":CONN,"r":1}
    {"done":REQUESTS,"skipped":TICKS,"why":"stopped|max-duration|max-requests","at":STOPPED}

Times are CLOCK_MONOTONIC seconds (`harness.samples.clock`). It stops on SIGTERM,
SIGINT or end of stdin ("stopped"), or at its own bounds; it then waits for the
requests in flight (each bounded by its timeouts) and prints the done line, whose
"at" is when it stopped starting requests (every START is at or before it).
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import re
import selectors
import signal
import socket
import stat
import struct
import sys
import time
from collections.abc import Callable
from typing import TextIO
from dataclasses import dataclass

from .deadline import set_deadline
from .errors import ConfigError
from .procstat import cpu_steal, local_timer_interrupts
from .ticktimer import TickTimer
from .httpwire import NeedMore, WireFailure, parse_response, request_bytes

__all__ = ["LoopOptions", "ProbeLoop", "main", "sample_line"]

clock = time.monotonic
_LINGER_ABORT = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close sends RST, no TIME_WAIT
_NONBLOCKING_STREAM = socket.SOCK_STREAM | socket.SOCK_NONBLOCK  # made so at creation: no ioctl per request
_CLOSE_WAIT = 0.2  # seconds a finished new-connection request waits for the server's FIN before an RST
_FLUSH_EVERY = 0.02  # seconds between flushes of the output
_TIMER = "tick-timer"  # the selector key's data of the tick timer
_TIMER_GRACE = 0.002  # seconds a wait may outlast its timer (it never should) before the loop looks anyway
# The sampler shares the machine with the cluster it measures (kind's API server, etcd,
# kubelet). Measured on 2 cores during rollouts: at normal priority ticks were late by
# 48-82 ms, at nice -15 by up to 51 ms (a bare 2 ms sleeper: up to 38 ms late, 29 times
# over 5 ms in 100 s); under SCHED_FIFO the same sleeper was never 5 ms late.
_RT_PRIORITY = 10  # SCHED_FIFO; the kernel's RT throttling keeps a runaway from taking a whole CPU
_NICE = -15  # the fallback where real-time scheduling is not allowed


@dataclass(frozen=True)
class LoopOptions:
    """One sampler's settings; see the module docstring."""

    host: str
    port: int
    path: str = "/"
    host_header: str | None = None
    keep_alive: bool = False
    interval: float = 0.001
    connect_timeout: float = 1.0
    read_timeout: float = 2.0
    max_requests: int = 10_000_000
    max_duration: float = 600.0
    max_inflight: int = 64
    marker: str | None = None
    cpu: int | None = None  # the CPU the loop is pinned to (one of two witnesses); None: any

    def request(self) -> bytes:
        host = self.host_header
        if host is None:
            name = f"[{self.host}]" if ":" in self.host else self.host
            host = name if self.port == 80 else f"{name}:{self.port}"
        return request_bytes(host, self.path, self.keep_alive)

    def argv(self) -> list[str]:
        """The command-line arguments that give these options to `main`."""
        args = [
            "--target",
            f"{self.host}:{self.port}",
            "--path",
            self.path,
            "--interval",
            repr(self.interval),
            "--connect-timeout",
            repr(self.connect_timeout),
            "--read-timeout",
            repr(self.read_timeout),
            "--max-requests",
            str(self.max_requests),
            "--max-duration",
            repr(self.max_duration),
            "--max-inflight",
            str(self.max_inflight),
        ]
        if self.host_header is not None:
            args += ["--host-header", self.host_header]
        if self.keep_alive:
            args.append("--keep-alive")
        if self.marker is not None:
            args += ["--marker", self.marker]
        if self.cpu is not None:
            args += ["--cpu", str(self.cpu)]
        return args


@dataclass
class _Request:
    seq: int
    conn: int
    sock: socket.socket
    start: float
    reused: bool
    deadline: float
    connecting: bool
    buf: bytes = b""
    sent: int = 0
    done: bool = False  # response recorded; waiting for the server's FIN (new-connection)
    port: int | None = None  # local port of a new connection (None: reused, or not bound)


@dataclass
class _Idle:
    conn: int
    sock: socket.socket


def done_line(requests: int, skipped: int, why: str, at: float) -> str:
    """The final line: requests started, ticks skipped, why the loop ended and when it stopped
    starting requests (the Go prober prints the same bytes)."""
    return f'{{"done": {requests}, "skipped": {skipped}, "why": {json.dumps(why)}, "at": {at:.9f}}}\n'


def sample_line(
    seq: int,
    start: float,
    end: float,
    status: int | None,
    error: str | None,
    server: str | None,
    marker: str | None,
    conn: int,
    reused: bool,
    port: int | None = None,
) -> str:
    """One output line (JSON); empty fields left out."""
    parts = [f'"n":{seq}', f'"s":{start:.9f}', f'"e":{end:.9f}', f'"c":{conn}']
    if status is not None:
        parts.append(f'"st":{status}')
    if error:
        parts.append(f'"err":"{error}"')
    if server is not None:
        parts.append('"srv":' + json.dumps(server))
    if marker is not None:
        parts.append('"m":' + json.dumps(marker))
    if reused:
        parts.append('"r":1')
    if port is not None:
        parts.append(f'"p":{port}')
    return "{" + ",".join(parts) + "}\n"


def _abort(sock: socket.socket) -> None:
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ABORT)
    except OSError:
        pass
    sock.close()


STALL_READINGS_ENV = "ROLLPROOF_SAMPLER_STALL_READINGS"


class StallTrace:
    """With ROLLPROOF_SAMPLER_STALLS=FILE, every loop step that overran by more than 10 ms is
    appended to FILE ("t step took X ms, Y ms asked"): what held a tick back, for a gap's cause.

    With `readings` (ROLLPROOF_SAMPLER_STALL_READINGS=1), each line also gives, from a reading at
    most `READ_EVERY` before the step began to its end, the local timer interrupts every CPU took
    (`/proc/interrupts` LOC: a CPU that kept taking them was running, something ran ahead of the
    sampler) and the time the hypervisor ran something else than each CPU (the steal column of
    `/proc/stat`, in its 10 ms ticks: a hold that the CPUs spent stolen was the virtual machine not
    being run). Not by default: each sampler process reading both files every 4 ms cost 0.03-0.05
    of a core (README finding 28), and the harness's own recorder (`harness.steal`) reads the same
    every 10 ms for every held gap's verdict."""

    LIMIT = 0.010
    READ_EVERY = 0.004  # the two files cost ~0.11 ms to read

    def __init__(
        self,
        out: TextIO | None,
        interrupts: str = "/proc/interrupts",
        stat: str = "/proc/stat",
        readings: bool = True,
    ) -> None:
        self.out = out
        read = out is not None and readings
        self._fd = _open_or_none(interrupts) if read else None
        self._stat = _open_or_none(stat) if read else None
        self._base: tuple[float, list[int], list[float]] | None = None

    @classmethod
    def from_env(cls) -> StallTrace:
        """The trace ROLLPROOF_SAMPLER_STALLS names (its folder made if missing), or none."""
        path = os.environ.get("ROLLPROOF_SAMPLER_STALLS")
        readings = os.environ.get(STALL_READINGS_ENV, "").strip() == "1"
        if not path:
            return cls(None)
        try:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            out = open(path, "a", buffering=1, encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"ROLLPROOF_SAMPLER_STALLS={path}: cannot append to it ({exc.strerror}); "
                "name a writable file or unset it"
            ) from None
        return cls(out, readings=readings)

    def note(self, step: str, began: float, asked: float = 0.0) -> None:
        if self.out is None:
            return
        now = clock()
        took = now - began
        if took - asked > self.LIMIT:
            line = f"{began:.6f} pid {os.getpid()} {step} took {took * 1000:.1f} ms, {asked * 1000:.1f} ms asked"
            counts, steal = self._read()
            if self._base is not None:
                since, before, stolen = self._base
                if counts and before:
                    deltas = [b - a for a, b in zip(before, counts)]
                    line += f"; timer interrupts per CPU over the last {(now - since) * 1000:.0f} ms: {deltas}"
                if steal and stolen:
                    line += f"; stolen per CPU: {[round((b - a) * 1000) for a, b in zip(stolen, steal)]} ms"
            self.out.write(line + "\n")
            self._base = (clock(), counts, steal) if counts or steal else None
        elif self._fd is not None and (self._base is None or now - self._base[0] >= self.READ_EVERY):
            counts, steal = self._read()
            self._base = (clock(), counts, steal) if counts or steal else None

    def _read(self) -> tuple[list[int], list[float]]:
        counts = local_timer_interrupts(self._fd) if self._fd is not None else []
        return counts, (cpu_steal(self._stat) if self._stat is not None else [])


def _open_or_none(path: str) -> int | None:
    try:
        return os.open(path, os.O_RDONLY)
    except OSError:
        return None


def _dropped(sock: socket.socket) -> bool:
    """An idle connection the server has closed (or reset) already, though the loop has not seen it yet:
    checked just before reuse, as connection pools do (urllib3's is_connection_dropped, Go's
    background read on idle connections)."""
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def _closed_by_now(sock: socket.socket) -> bool:
    """Whether the server's FIN (and nothing else) has come after a response was read."""
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except OSError:
        return False


def _connect_class(code: int) -> str:
    if code == errno.ECONNREFUSED:
        return "connect-refused"
    if code == errno.ETIMEDOUT:
        return "connect-timeout"
    if code in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return "connect-unreachable"
    return "connect-error"


def _local_port(sock: socket.socket) -> int | None:
    """The source port connect() bound (None if it bound none)."""
    try:
        port = sock.getsockname()[1]
    except OSError:
        return None
    return int(port) or None


def _io_class(exc: OSError) -> str:
    if isinstance(exc, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)):
        return "reset"
    return "io-error"


class ProbeLoop:
    """The sampler itself; `run()` blocks until stopped or a bound is reached.

    `emit` receives each output line; `should_stop` is polled every loop turn.
    """

    def __init__(
        self,
        options: LoopOptions,
        emit: Callable[[str], None],
        should_stop: Callable[[], bool] = lambda: False,
        on_turn: Callable[[], None] = lambda: None,
    ) -> None:
        self.o = options
        self.emit = emit
        self._should_stop = should_stop
        self.on_turn = on_turn
        self.stop_requested = False
        self.marker = re.compile(options.marker) if options.marker else None
        self.request = options.request()
        info = socket.getaddrinfo(options.host, options.port, type=socket.SOCK_STREAM)[0]
        self.family, self.address = info[0], info[4]
        self.sel = selectors.DefaultSelector()
        self.inflight: dict[int, _Request] = {}  # by fd
        self.idle: list[_Idle] = []
        self.seq = 0  # requests started
        self.recorded = 0  # requests whose outcome was recorded: seq - recorded are pending
        self.conns = 0
        self.skipped = 0
        self.stalls = StallTrace.from_env()
        self.timer = TickTimer()  # wakes the select at a tick to the microsecond (epoll's timeout: whole ms)
        self.sel.register(self.timer.fd, selectors.EVENT_READ, _TIMER)

    def should_stop(self) -> bool:
        return self.stop_requested or self._should_stop()

    def watch_control(self, fd: int) -> None:
        """Stop when `fd` (a pipe from the harness) reaches its end."""
        self.sel.register(fd, selectors.EVENT_READ, "control")

    # -- requests -----------------------------------------------------------

    def _start(self, now: float) -> None:
        self.seq += 1
        while self.idle:  # keep-alive: the newest idle connection that has not been closed
            idle = self.idle.pop()
            if _dropped(idle.sock):
                self.sel.unregister(idle.sock)
                _abort(idle.sock)
                continue
            req = _Request(self.seq, idle.conn, idle.sock, now, True, now + self.o.read_timeout, False)
            self._send_reused(req)
            return
        sock = socket.socket(self.family, _NONBLOCKING_STREAM)
        self.conns += 1
        req = _Request(self.seq, self.conns, sock, now, False, now + self.o.connect_timeout, True)
        code = sock.connect_ex(self.address)
        req.port = _local_port(sock)
        if code not in (0, errno.EINPROGRESS):
            self._finish(req, None, _connect_class(code))
            return
        if self._send_connected(req, now):
            return
        self.inflight[sock.fileno()] = req
        self.sel.register(sock, selectors.EVENT_WRITE, req)

    def _send_connected(self, req: _Request, now: float) -> bool:
        """Send at once on a new connection whose handshake is already over. On a data path inside
        this host the softirq that carried the SYN often carried the SYN-ACK back before connect()
        returned; sending now saves a turn of the loop and its system calls (a wake-up, a
        registration for writing, SO_ERROR, a change to reading). False while it is still connecting
        (the send says EAGAIN): it then waits to be writable, as before. A refusal already
        there is the send's error, a connect failure like SO_ERROR's."""
        try:
            req.sent = req.sock.send(self.request)
        except BlockingIOError:
            return False
        except OSError as exc:
            self._finish(req, None, _connect_class(exc.errno or 0))
            return True
        req.connecting = False
        req.deadline = now + self.o.read_timeout
        self._in_flight(req, registered=False)
        return True

    def _send_reused(self, req: _Request) -> None:
        """Send a request on an idle keep-alive connection, which stays registered for reading:
        changing only its key's data costs no system call."""
        try:
            req.sent += req.sock.send(self.request[req.sent :])
        except BlockingIOError:
            pass
        except OSError as exc:
            self.sel.unregister(req.sock)
            self._finish(req, None, _io_class(exc))
            return
        self._in_flight(req, registered=True)

    def _in_flight(self, req: _Request, *, registered: bool) -> None:
        """Track a request whose sending has begun: its socket waits to write the rest, or to read."""
        self.inflight[req.sock.fileno()] = req
        events = selectors.EVENT_READ if req.sent >= len(self.request) else selectors.EVENT_WRITE
        if registered:
            self.sel.modify(req.sock, events, req)
        else:
            self.sel.register(req.sock, events, req)

    def _writable(self, req: _Request, now: float) -> None:
        if req.connecting:
            code = req.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                self._drop(req)
                self._finish(req, None, _connect_class(code))
                return
            req.connecting = False
            req.deadline = now + self.o.read_timeout
        try:
            req.sent += req.sock.send(self.request[req.sent :])
        except BlockingIOError:
            return
        except OSError as exc:
            self._drop(req)
            self._finish(req, None, _io_class(exc))
            return
        if req.sent >= len(self.request):
            self.sel.modify(req.sock, selectors.EVENT_READ, req)

    def _readable(self, req: _Request) -> None:
        try:
            chunk = req.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError as exc:
            self._drop(req)
            if not req.done:
                self._finish(req, None, _io_class(exc))
            else:
                _abort(req.sock)
            return
        if req.done:  # new-connection: waiting for the server's FIN after the response
            if not chunk:
                self._drop(req)
                _abort(req.sock)  # after the server's FIN: no TIME_WAIT on either side
            return
        eof = not chunk
        req.buf += chunk
        try:
            response = parse_response(req.buf, eof, self.marker)
        except NeedMore:
            return
        except WireFailure as failure:
            self._drop(req)
            self._finish(req, None, failure.error)
            return
        end = clock()
        self._record(req, end, response.status, response.error, response.server, response.marker)
        if self.o.keep_alive and response.reusable and not self.should_stop():
            del self.inflight[req.sock.fileno()]
            self.idle.append(_Idle(req.conn, req.sock))
            self.sel.modify(req.sock, selectors.EVENT_READ, None)  # still read: notice a close while idle
        elif eof or _closed_by_now(req.sock):  # the server's FIN, often there by now: no turn to wait for it
            self._drop(req)
            _abort(req.sock)  # an RST, not a FIN: the server's socket leaves no TIME_WAIT either
        else:  # let the server close first; an RST if it does not soon
            req.done = True
            req.deadline = end + _CLOSE_WAIT

    def _idle_event(self, key: selectors.SelectorKey) -> None:
        """An idle keep-alive connection became readable: the server closed it (or sent junk)."""
        sock = key.fileobj
        assert isinstance(sock, socket.socket)
        self.sel.unregister(sock)
        self.idle = [i for i in self.idle if i.sock is not sock]
        _abort(sock)

    def _dispatch(self, key: selectors.SelectorKey, events: int) -> None:
        req = key.data
        if req is _TIMER:
            self.timer.clear()
        elif req is None:
            self._idle_event(key)
        elif isinstance(req, _Request):
            if events & selectors.EVENT_WRITE:
                self._writable(req, clock())
            else:
                self._readable(req)
        else:  # the control stream (stdin): its end means the harness is gone or wants us to stop
            data = os.read(key.fd, 4096)
            if not data:
                self.sel.unregister(key.fileobj)
                self.stop_requested = True

    def _drop(self, req: _Request) -> None:
        fd = req.sock.fileno()
        if self.inflight.pop(fd, None) is not None:
            self.sel.unregister(req.sock)

    def _finish(self, req: _Request, status: int | None, error: str) -> None:
        """A failed request: recorded, its socket aborted."""
        self._record(req, clock(), status, error, None, None)
        _abort(req.sock)

    def _record(
        self, req: _Request, end: float, status: int | None, error: str | None, server: str | None, marker: str | None
    ) -> None:
        self.recorded += 1
        self.emit(sample_line(req.seq, req.start, end, status, error, server, marker, req.conn, req.reused, req.port))

    def _expire(self, now: float) -> None:
        for req in [r for r in self.inflight.values() if now >= r.deadline]:
            self._drop(req)
            if req.done:
                _abort(req.sock)  # the server kept it open after answering: no TIME_WAIT here either
            else:
                self._finish(req, None, "connect-timeout" if req.connecting else "read-timeout")

    # -- the loop -------------------------------------------------------------

    def run(self) -> str:
        """Sample until stopped or a bound is reached; returns why it ended."""
        o = self.o
        began = clock()
        deadline = began + o.max_duration
        next_tick = began
        why = "stopped"
        while True:
            now = clock()  # every request starts at a turn's `now`: the turn that ends is later
            if self.should_stop():
                why = "stopped"
                break
            if now >= deadline:
                why = "max-duration"
                break
            if self.seq >= o.max_requests:
                why = "max-requests"
                break
            if now >= next_tick:
                if self.seq - self.recorded < o.max_inflight:
                    self._start(now)
                    self.stalls.note("starting a request", now)
                else:
                    self.skipped += 1
                next_tick += o.interval
                if now - next_tick > 2 * o.interval:  # far behind (machine stalled): re-anchor, no burst
                    next_tick = now + o.interval
            # the sockets every turn, even behind the ticks: a loop that caught up on ticks first could
            # spin on skipped ticks with every slot busy and never read the answers that free them
            wake = min(next_tick, deadline)
            waiting = clock()  # after this turn's tick, if any: the wait is timed from here
            timeout = max(0.0, wake - waiting)
            if timeout > 0:
                self.timer.arm(wake)
                ready = self.sel.select(timeout + _TIMER_GRACE)  # the timer ends the wait
            else:
                ready = self.sel.select(0)
            self.stalls.note("waiting for sockets", waiting, timeout)
            turn = clock()
            for key, events in ready:
                self._dispatch(key, events)
            self._expire(clock())
            self.on_turn()
            self.stalls.note(f"handling {len(ready)} socket event(s)", turn)
        self._drain()
        self.sel.unregister(self.timer.fd)
        self.timer.close()
        self.emit(done_line(self.seq, self.skipped, why, now))
        return why

    def _drain(self) -> None:
        """Let the requests in flight finish (each is bounded by its own timeouts)."""
        while any(not r.done for r in self.inflight.values()):
            deadline = min(r.deadline for r in self.inflight.values())
            for key, events in self.sel.select(max(0.0, deadline - clock())):
                self._dispatch(key, events)
            self._expire(clock())
        for req in list(self.inflight.values()):
            self._drop(req)
            _abort(req.sock)
        for idle in self.idle:
            self.sel.unregister(idle.sock)
            idle.sock.close()  # a polite FIN
        self.idle = []


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m harness.probeloop", description=__doc__.splitlines()[0])
    p.add_argument("--target", required=True, help="HOST:PORT (an IP address)")
    p.add_argument("--path", default="/")
    p.add_argument("--host-header", default=None)
    p.add_argument("--keep-alive", action="store_true")
    p.add_argument("--interval", type=float, default=0.001)
    p.add_argument("--connect-timeout", type=float, default=1.0)
    p.add_argument("--read-timeout", type=float, default=2.0)
    p.add_argument("--max-requests", type=int, default=10_000_000)
    p.add_argument("--max-duration", type=float, default=600.0)
    p.add_argument("--max-inflight", type=int, default=64)
    p.add_argument("--marker", default=None)
    p.add_argument("--cpu", type=int, default=None, help="pin the loop to this CPU")
    return p


PRIORITY_ENV = "ROLLPROOF_SAMPLER_PRIORITY"
"""`normal` keeps a sampler at the priority it was started with: for samplers that measure
nothing a run depends on (the harness's own unit tests), so they never compete at real-time
priority with the samplers of a run on the same machine. `deadline` asks for SCHED_DEADLINE first:
ahead of the kernel's fair server (no 50 ms holds, README finding 14), but the cluster's rollouts
were slower beside it (the Deployment history scenario: 66.9 and 68.4 s of rollout against 56.5 and
57.3 s at SCHED_FIFO, four alternating runs: a lead), so not the default."""

DEADLINE_SHARE = 0.5
"""The CPU budget of a SCHED_DEADLINE sampler, as a share of its period. Measured: the suites'
samplers use 0.09-0.15 of a core on average and under 0.4 in every 50 ms after their start."""


def deadline_period(interval: float) -> float:
    """The SCHED_DEADLINE period of a sampler ticking every `interval`: that interval, within 1-10 ms."""
    return min(max(interval, 0.001), 0.01)


def raise_priority(interval: float = 0.001) -> str:
    """Run ahead of the cluster under test on this machine: real-time (SCHED_FIFO) where allowed, else
    nice -15, else as it was (said on stderr); with ROLLPROOF_SAMPLER_PRIORITY=deadline SCHED_DEADLINE
    first (a `DEADLINE_SHARE` budget every `deadline_period(interval)`). Returns what it got; with
    ROLLPROOF_SAMPLER_PRIORITY=normal it asks for nothing and returns "normal"."""
    wanted = os.environ.get(PRIORITY_ENV, "").strip().lower()
    if wanted == "normal":
        return "normal"
    if wanted == "deadline":
        period = deadline_period(interval)
        try:
            set_deadline(period * DEADLINE_SHARE, period)
            return "deadline"
        except OSError:
            pass
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(_RT_PRIORITY))
        return "fifo"
    except OSError:
        pass
    try:
        os.setpriority(os.PRIO_PROCESS, 0, _NICE)
        print(
            f"sampler runs at nice {_NICE}, not real-time: when the machine is busy, ticks may be late",
            file=sys.stderr,
            flush=True,
        )
        return "nice"
    except OSError as exc:
        print(
            f"sampler priority left as it was ({exc.strerror}): when the machine is busy, ticks may be late",
            file=sys.stderr,
            flush=True,
        )
        return "normal"


def lower_priority() -> None:
    """Back to normal scheduling once the run is written out. The interpreter's exit (its last
    collection and module teardown: 16.8 ms of CPU without a pause for a sampler that ran 113 s,
    perf at 499 Hz) must not run ahead of the cluster, nor of another sampler still measuring."""
    try:
        if os.sched_getscheduler(0) != os.SCHED_OTHER:
            os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    except OSError:
        pass


def fit_open_files(inflight: int) -> None:
    """Raise the soft limit of open files so that `inflight` sockets (and stdio) fit, as far as allowed."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = inflight + 64
    if soft != resource.RLIM_INFINITY and soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        if new < want:
            print(
                f"open-file limit {hard} is below {want}: requests beyond it fail as connect-error",
                file=sys.stderr,
                flush=True,
            )


def widen_output_pipe(fd: int = 1, size: int = 1 << 20) -> None:
    """Give a pipe on `fd` room for ~20 s of lines (1 MiB; the default 64 KiB held ~1.3 s): when the
    harness stalls, the sampler keeps its pace instead of blocking on a full pipe (a soak run
    showed both samplers blocked 230-240 ms in their output while the harness was busy)."""
    import fcntl

    if not stat.S_ISFIFO(os.fstat(fd).st_mode):
        return
    try:
        with open("/proc/sys/fs/pipe-max-size", encoding="ascii") as limit:
            size = min(size, int(limit.read()))
    except (OSError, ValueError):
        pass
    try:
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, size)
    except OSError as exc:
        print(
            f"output pipe left at its size ({exc.strerror}): a busy harness may hold the sampler back",
            file=sys.stderr,
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.cpu is not None and args.cpu in os.sched_getaffinity(0):
        os.sched_setaffinity(0, {args.cpu})  # a witness: the other one runs on another CPU
    raise_priority(args.interval)
    fit_open_files(args.max_inflight)
    widen_output_pipe()
    host, _, port = args.target.rpartition(":")
    options = LoopOptions(
        host=host.strip("[]"),
        port=int(port),
        path=args.path,
        host_header=args.host_header,
        keep_alive=args.keep_alive,
        interval=args.interval,
        connect_timeout=args.connect_timeout,
        read_timeout=args.read_timeout,
        max_requests=args.max_requests,
        max_duration=args.max_duration,
        max_inflight=args.max_inflight,
        marker=args.marker,
    )
    stop = {"now": False}

    def on_signal(signum: int, frame: object) -> None:
        stop["now"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    out = _Output(sys.stdout)
    try:
        loop = ProbeLoop(options, out.write, lambda: stop["now"], out.flush_due)
    except ConfigError as exc:
        print(f"rollproof sampler: {exc}", file=sys.stderr, flush=True)
        return 2
    if stat.S_ISFIFO(os.fstat(0).st_mode):
        loop.watch_control(0)  # stdin (a pipe from the harness) closing stops the loop too
    try:
        loop.run()
        out.flush()
    except BrokenPipeError:
        return 1
    finally:
        lower_priority()
    return 0


class _Output:
    """Lines gathered and written every `_FLUSH_EVERY` seconds (and at the end)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.pending: list[str] = []
        self.last = clock()

    def write(self, line: str) -> None:
        self.pending.append(line)
        if line.startswith('{"done"'):
            self.flush()

    def flush_due(self) -> None:
        if self.pending and clock() - self.last >= _FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.stream.write("".join(self.pending))
            self.pending.clear()
        self.stream.flush()
        self.last = clock()


if __name__ == "__main__":
    sys.exit(main())
