"""Probers: an open-loop sampler running in its own process, its lines followed by the harness.

Two places a sampler can run, one shape (`harness.sampler.Prober`): `HostProber` runs
`harness.probeloop` as a child process on this host (for a NodePort mapped to
127.0.0.1, or a node container's address); `harness.podprober.PodProber` runs
the Go prober in a pod (for clusters whose NodePorts the host cannot reach).
Both print the same JSON lines, which `harness.samplestream.SampleStream` turns
into `ProbeSample`s and, at the end, one `ProbeRun`: the samples plus how the run
went (stopped by the harness or by itself, requests started, samples lost, ticks
skipped).

Traffic only goes to loopback or to container IPs the caller whitelists with
`allowed_networks`.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import IO

from harness.errors import ConfigError, HarnessError
from harness.httpwire import ERROR_CLASSES, check_host_header, check_path
from harness.probeloop import LoopOptions
from harness.sampler import Ending, ProbeOptions, SamplerBase
from harness.portmap import gone, mapping_process
from harness.samples import ProbeRun, clock

__all__ = [
    "ERROR_CLASSES",
    "ProbeTarget",
    "HostProber",
    "check_probe_host",
    "loop_options",
]

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
        check_path(self.path)
        check_host_header(self.host_header)


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


# -- the host sampler ---------------------------------------------------------------------------


def loop_options(address: str, target: ProbeTarget, options: ProbeOptions) -> LoopOptions:
    """The child process's own options (`harness.probeloop`) for `options` against `target` at `address`."""
    return LoopOptions(
        host=address,
        port=target.port,
        path=target.path,
        host_header=target.host_header,
        keep_alive=options.keep_alive,
        interval=options.interval,
        connect_timeout=options.connect_timeout,
        read_timeout=options.read_timeout,
        max_requests=options.max_requests,
        max_duration=options.max_duration,
        max_inflight=options.inflight,
        marker=options.marker,
        cpu=options.cpu,
    )


class HostProber(SamplerBase):
    """Runs `harness.probeloop` against `target` in a child process and follows its output.

    `start()` launches it; `samples()` is a live snapshot; `stop()` asks it to stop
    (SIGTERM), waits for its requests in flight and its final count, and returns the
    `ProbeRun`. If the child ends by itself (a bound reached) or dies, the run says so.
    The child's stdin is a pipe: if the harness dies, the child sees it close and stops.
    """

    def __init__(
        self,
        target: ProbeTarget,
        options: ProbeOptions | None = None,
        *,
        allowed_networks: Iterable[str | ipaddress.IPv4Network | ipaddress.IPv6Network] = (),
        python: str = sys.executable,
    ) -> None:
        address = check_probe_host(target.host, allowed_networks)
        options = options or ProbeOptions()
        super().__init__(options, route=options.route, where=f"host {target.host}:{target.port}")
        self.target = target
        self._loop = loop_options(str(address), target, options)
        self._python = python
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: list[str] = []
        # the mapped route's host leg: Docker's proxy for the port, watched so its exit is said
        self._mapping = mapping_process(target.host, target.port) if options.route == "mapped" else None

    def __repr__(self) -> str:
        return f"HostProber({self.kind} {self.where} every {self.interval * 1000:g} ms)"

    def start(self) -> HostProber:
        if self._proc is not None:
            raise HarnessError("this HostProber was already started; make a new one")
        self.started_at = clock()
        self._proc = subprocess.Popen(
            [self._python, "-c", _CHILD, _package_root(), *self._loop.argv()],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # a Ctrl-C at the terminal goes to the harness, which stops it
        )
        self._follow_in_thread("rollproof-host-prober")
        return self

    def _halt(self, stopped_at: float) -> Ending:
        """SIGTERM, then the child's requests in flight and its final count (SIGKILL past `stop_wait`)."""
        proc = self._proc
        if proc is None:
            raise HarnessError("this HostProber was never started")
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        wait = self.options.stop_wait
        if self._thread is not None:
            self._thread.join(wait)
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(wait)
            reason = f"killed: did not stop within {wait:.1f}s"
        else:
            reason = f"exited {proc.returncode}" if proc.returncode else "output ended"
        if self._thread is not None:
            self._thread.join(wait)
        if self.stream.why is None and self._stderr:
            reason += ": " + " | ".join(self._stderr[-3:])[-500:]
        return Ending(stopped_at, reason)  # the run ends where the child's final line says, when it came

    def stop(self) -> ProbeRun:
        """The run; on the mapped route, incomplete when Docker's proxy for the port exited meanwhile."""
        run = super().stop()
        if self._mapping is not None and gone(self._mapping):
            return replace(
                run,
                stop_reason=f"error: Docker's port mapping process for {self.target.host}:{self.target.port} "
                f"(docker-proxy, pid {self._mapping}) exited during the run; requests after it were refused "
                f"by this host, not the cluster (README finding 18)",
            )
        return run

    # -- reader side -------------------------------------------------------

    def _follow(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stdout is not None and proc.stderr is not None
        errors = threading.Thread(target=self._drain_stderr, args=(proc.stderr,), daemon=True)
        errors.start()
        for line in proc.stdout:
            self.stream.take(line)
        errors.join(1.0)

    def _drain_stderr(self, stream: IO[bytes]) -> None:
        for line in stream:
            text = line.decode("utf-8", "replace").rstrip()
            if text:
                self._stderr.append(text)
                self.stream.diagnostics.append(text)


_CHILD = (
    "import runpy, sys; sys.path[0] = sys.argv.pop(1); "
    "runpy.run_module('harness.probeloop', run_name='__main__', alter_sys=True)"
)
"""The child's program: `harness.probeloop` of the folder given first, ahead of the working directory
(which `python -m` would put first: a `harness` package there, a user's own or another checkout's,
was imported in place of this one)."""


def _package_root() -> str:
    """The folder holding the `harness` package (so the child imports this very code)."""
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
