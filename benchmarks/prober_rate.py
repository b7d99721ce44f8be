"""Benchmark of the open-loop host sampler against a local nginx on 127.0.0.1 (a script, not a test).

Starts Debian's nginx in the foreground with its own config on a free loopback
port, runs the sampler (HostProber: harness.probeloop in a child process) with
new connections and with keep-alive at one tick interval, then `wrk -t1 -c1`
against the same endpoint, and prints request rate, gaps between consecutive
request starts, and the sampler's CPU use (the child's rusage). Targets are
printed next to the numbers, not asserted. Run it alone (the heavy-work lock).

    python3 benchmarks/prober_rate.py [--seconds 10] [--interval 0.001] [--install]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.prober import HostProber, ProbeTarget  # noqa: E402
from harness.sampler import ProbeOptions  # noqa: E402
from harness.samples import KEEP_ALIVE, NEW_CONNECTION  # noqa: E402

__all__ = ["main"]

TARGET_RATE = 1000.0  # requests/s at a 1 ms tick
TARGET_P99_GAP = 0.002  # seconds between consecutive request starts
TARGET_CPU = 0.3  # fraction of one core

NGINX_CONF = """\
daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    keepalive_requests 10000000;
    server {{
        listen 127.0.0.1:{port};
        default_type text/plain;
        location / {{ return 200 "rollproof benchmark version=v1\\n"; }}
    }}
}}
"""


def ensure_tools(install: bool) -> tuple[str, str]:
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    wrk = shutil.which("wrk")
    if nginx and wrk:
        return nginx, wrk
    if not install:
        sys.exit("nginx or wrk missing: run `apt-get install -y nginx-light wrk` (or pass --install)")
    print("installing nginx-light and wrk with apt-get ...", flush=True)
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "nginx-light", "wrk"],
        check=True,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )
    return ensure_tools(install=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"nginx exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit("nginx did not listen in time")


def ok(good: bool) -> str:
    return "ok  " if good else "MISS"


def quantile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def run_prober(port: int, keep_alive: bool, seconds: float, interval: float) -> None:
    """The open-loop sampler (HostProber: a child process) at one tick interval."""
    options = ProbeOptions(
        kind=KEEP_ALIVE if keep_alive else NEW_CONNECTION,
        interval=interval,
        max_duration=seconds,
        marker=r"version=(\w+)",
    )
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    prober = HostProber(ProbeTarget("127.0.0.1", port), options).start()
    prober.wait(seconds + 30)
    run = prober.stop()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    samples = list(run.samples)
    user, system = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
    wall = (run.stopped_at or samples[-1].end) - run.started_at
    cpu = user + system
    starts = [s.start for s in samples]
    gaps = sorted(b - a for a, b in zip(starts, starts[1:]))
    rate = len(samples) / (samples[-1].end - samples[0].start)
    errors = Counter(s.error for s in samples if s.error)
    print(
        f"sampler, {options.kind}, tick {interval * 1e3:g} ms: {len(samples)} requests in {wall:.2f} s = "
        f"{rate:,.0f} req/s  [{ok(rate >= TARGET_RATE)} target >= {TARGET_RATE:.0f}]; "
        f"ended: {run.stop_reason}, skipped ticks {run.skipped}, lost {run.lost}"
    )
    print(
        f"  gap between starts: p50 {quantile(gaps, 0.5) * 1e3:.3f} ms  p99 {quantile(gaps, 0.99) * 1e3:.3f} ms"
        f"  max {gaps[-1] * 1e3:.3f} ms  [{ok(quantile(gaps, 0.99) <= TARGET_P99_GAP)} target p99 <= "
        f"{TARGET_P99_GAP * 1e3:g} ms]"
    )
    print(
        f"  sampler CPU: {cpu / wall:.2f} core (user {user / wall:.2f}, system {system / wall:.2f})"
        f"  [{ok(cpu / wall <= TARGET_CPU)} target <= {TARGET_CPU}]"
    )
    print(f"  errors: {dict(errors) or 'none'}; connections {len({s.conn for s in samples})}")


def run_wrk(wrk: str, port: int, seconds: float) -> None:
    out = subprocess.run(
        [wrk, "-t1", "-c1", f"-d{seconds:.0f}s", f"http://127.0.0.1:{port}/"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    print("wrk -t1 -c1 (keep-alive, C):")
    for line in out.splitlines():
        if line.strip().startswith(("Latency", "Requests/sec", "Transfer/sec")) or "requests in" in line:
            print("  " + line.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each run")
    parser.add_argument("--interval", type=float, default=0.001, help="the sampler's tick (seconds)")
    parser.add_argument("--install", action="store_true", help="apt-get install nginx-light and wrk if missing")
    args = parser.parse_args()
    nginx, wrk = ensure_tools(args.install)
    print(
        f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} "
        f"{os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}; python {sys.version.split()[0]}"
    )
    with tempfile.TemporaryDirectory(prefix="rollproof-nginx-") as tmp:
        port = free_port()
        conf = Path(tmp) / "nginx.conf"
        conf.write_text(NGINX_CONF.format(tmp=tmp, port=port))
        proc = subprocess.Popen(
            [nginx, "-p", tmp, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            wait_listening(port, proc, timeout=10.0)
            print(f"nginx on 127.0.0.1:{port} (pid {proc.pid})")
            run_prober(port, keep_alive=False, seconds=args.seconds, interval=args.interval)
            run_prober(port, keep_alive=True, seconds=args.seconds, interval=args.interval)
            run_wrk(wrk, port, args.seconds)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
