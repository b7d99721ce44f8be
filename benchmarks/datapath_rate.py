"""The samplers through a live kind cluster's data path, against wrk; sustained; completion detection
(a script, not a test).

On a running kind cluster of this host (`--cluster NAME`, e.g. one kept by `.ci/run` or
`pytest --keep-cluster`) this creates a namespace with the demo Deployment (4 nginx pods of the
kit's old image) behind a NodePort Service (externalTrafficPolicy Local), and measures on the
suites' default route, the node container's address and the NodePort (README finding 18):

1. rate: for `--seconds` each, the host sampler (harness.probeloop) with new connections, once
   as one process and once as the suites run it (two witnesses pinned to CPUs 0 and 1, merged),
   then with keep-alive, as fast as it goes, the in-cluster Go prober run on this host (the
   same tick, and as fast as it goes), then `wrk -t1 -c1` with and without `Connection: close`:
   requests/s, gap between request starts (p50, p99, max), CPU of the child (user, system),
   failures, host TIME_WAIT peak, the kernel drop counters of the host, the node and each pod
   that moved, and with `--soak` the CPU the run took from the whole machine;
2. sustained: the new-connection sampler for `--sustained` seconds (600 by default), with the
   host's TIME_WAIT sockets, the node's conntrack entries and the failures followed throughout;
3. completion: `--rounds` image updates of the Deployment; right after each apply, the harness's
   `Deployments.wait_rollout_complete` and `kubectl rollout status` (in the node) start at the
   same instant, and the instant each saw completion is printed, signed (kubectl minus harness);
4. overhead: with `--reports DIR` (a `pytest suites/` report directory), the suites' wall time
   (JUnit) against the summed `rollout_s` of the reports.

Figures are printed next to the targets of the speed issue, not asserted. Run it as root, alone
(no other cluster job: a timing taken beside another is noise); it deletes its namespace.

    tox exec -e suites -- python benchmarks/datapath_rate.py --cluster rp-lead \
        [--interval 0.001] [--seconds 10] [--sustained 600] [--rounds 3] [--reports reports/] [--soak]

(any Python with rollproof installed will do: it imports the harness.)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from prober_rate import TARGET_CPU, TARGET_P99_GAP, TARGET_RATE, ensure_tools, ok, quantile  # noqa: E402

from harness.kit.paths import cache_root  # noqa: E402
from harness.kit.proberbuild import build_prober_binary  # noqa: E402
from harness.manifests import deployment  # noqa: E402
from harness.netcounters import pod_uid, read_counters  # noqa: E402
from harness.rollout.deployments import Deployments  # noqa: E402
from harness.prober import HostProber, ProbeTarget  # noqa: E402
from harness.sampler import ProbeOptions  # noqa: E402
from harness.samples import KEEP_ALIVE, NEW_CONNECTION, ProbeRun, merge_runs  # noqa: E402
from harness.samplestream import SampleStream  # noqa: E402

NAMESPACE = "rp-bench-datapath"
APP = "bench"
TARGET_SUITES_S = 480.0


# --------------------------------------------------------------------------- the cluster


def in_node(node: str, *args: str) -> list[str]:
    """A kubectl command line run inside the kind node (its admin kubeconfig)."""
    return ["docker", "exec", "-i", node, "kubectl", "--kubeconfig", "/etc/kubernetes/admin.conf", *args]


def kubectl(node: str, *args: str, stdin: str | None = None, timeout: float = 120.0) -> str:
    done = subprocess.run(in_node(node, *args), input=stdin, text=True, capture_output=True, timeout=timeout)
    if done.returncode:
        sys.exit(f"kubectl {' '.join(args)}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def docker_inspect(node: str, fmt: str) -> str:
    out = subprocess.run(["docker", "inspect", "-f", fmt, node], text=True, capture_output=True)
    if out.returncode:
        sys.exit(f"no container {node!r} ({out.stderr.strip()}): is the kind cluster running? (`kind get clusters`)")
    return out.stdout.strip()


def app_images() -> tuple[str, str]:
    """The kit's old and new nginx images (its manifest), as the suites use them."""
    from harness.session import read_manifest

    manifest = read_manifest()
    if manifest is None:
        sys.exit("no kit manifest: build the kit first (`rollproof kit build`)")
    return manifest.image("old").tag, manifest.image("new").tag


NAMESPACE_GONE_S = 180


def open_namespace(cluster: str) -> tuple[str, str, Deployments]:
    """The kind cluster's node container and its address on Docker's network, and the benchmark's
    namespace created on it (`Deployments` in it); exits saying what is missing."""
    node = f"{cluster}-control-plane"
    address = docker_inspect(node, "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}").split()[0]
    from harness.cli import _kind_access, _kind_bin

    access = _kind_access(_kind_bin(None), cluster)
    if access is None:
        sys.exit(f"no kind cluster named {cluster!r} (`kind get clusters`)")
    # the namespace of a run just before is deleted without waiting (below): wait for it to go
    kubectl(node, "wait", "--for=delete", f"namespace/{NAMESPACE}", f"--timeout={NAMESPACE_GONE_S}s")
    kubectl(node, "create", "namespace", NAMESPACE)
    return node, address, Deployments(access, NAMESPACE)  # type: ignore[arg-type]


def service(node_port: int | None = None) -> dict:
    port = {"port": 80, "targetPort": 80, **({"nodePort": node_port} if node_port else {})}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": APP, "namespace": NAMESPACE},
        "spec": {
            "type": "NodePort",
            "externalTrafficPolicy": "Local",
            "selector": {"app": APP},
            "ports": [port],
        },
    }


def wait_answering(address: str, port: int, timeout: float = 60.0) -> float:
    """Seconds until the Service answers 200 through the NodePort (kube-proxy has its rules), as the
    suites wait for a first answer before they judge; exits saying what it saw if it never does."""
    began = time.monotonic()
    seen = "nothing yet"
    while time.monotonic() - began < timeout:
        try:
            with socket.create_connection((address, port), timeout=1.0) as s:
                s.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
                seen = s.recv(64).decode("latin-1").split("\r\n", 1)[0] or "an empty answer"
            if seen.startswith("HTTP/1.1 200"):
                return time.monotonic() - began
        except OSError as exc:
            seen = f"{type(exc).__name__}: {exc}"
        time.sleep(0.05)
    sys.exit(f"the Service at {address}:{port} did not answer 200 within {timeout:.0f} s (last: {seen})")


# --------------------------------------------------------------------------- what the host holds


@dataclass
class HostWatch:
    """TIME_WAIT sockets of the host and conntrack entries of the node, every half second; with a
    `Soakers`, the CPU the watched run took from the machine (everything it made the kernel, the
    node and the pods do, whoever it was billed to)."""

    node_pid: str
    soakers: Soakers | None = None
    pods: dict[str, int] = field(default_factory=dict)  # pod name -> a host PID in its network namespace
    tw: list[int] = field(default_factory=list)
    conntrack: list[int] = field(default_factory=list)
    taken: float | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _began: tuple[float, float] | None = None
    _kernel: dict[str, dict[str, int]] = field(default_factory=dict)
    moved: Counter[str] = field(default_factory=Counter)

    def __enter__(self) -> HostWatch:
        self._kernel = self._read_kernel()
        if self.soakers is not None:
            self._began = (time.monotonic(), self.soakers.cpu_seconds())
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
        for where, after in self._read_kernel().items():
            before = self._kernel.get(where, {})
            self.moved.update({k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)})
        if self.soakers is not None and self._began is not None:
            t0, c0 = self._began
            got = (self.soakers.cpu_seconds() - c0) / (time.monotonic() - t0)
            self.taken = self.soakers.idle_share - got

    def _read_kernel(self) -> dict[str, dict[str, int]]:
        """The watched kernel counters (harness.netcounters) of the host, the node and each pod."""
        out = {}
        for where, pid in {"host": "self", "node": self.node_pid, **self.pods}.items():
            values = read_counters(pid)
            if values is not None:
                out[where] = values
        return out

    def _run(self) -> None:
        while not self._stop.is_set():
            self.tw.append(time_wait())
            self.conntrack.append(conntrack_entries(self.node_pid))
            self._stop.wait(0.5)

    def line(self) -> str:
        tw = f"{min(self.tw)}-{max(self.tw)}" if self.tw else "?"
        ct = f"{min(self.conntrack)}-{max(self.conntrack)}" if self.conntrack else "?"
        line = f"host TIME_WAIT {tw} (ephemeral ports {ephemeral_ports()}), node conntrack entries {ct}"
        if self.taken is not None:
            line += f"; taken from the machine: {self.taken:.2f} core"
        drops = {k: v for k, v in self.moved.items() if k in WHY_DROPPED}
        line += "\n  kernel drop counters (host, node, pods): " + (
            ", ".join(f"{k} +{v}" for k, v in sorted(drops.items())) if drops else "none moved"
        )
        return line


WHY_DROPPED = (
    "TcpExt.PAWSTimewait",
    "TcpExt.ListenOverflows",
    "TcpExt.ListenDrops",
    "TcpExt.TCPTimeWaitOverflow",
    "conntrack.insert_failed",
    "conntrack.drop",
    "conntrack.early_drop",
)
"""The counters (harness.netcounters.WATCHED) that name a dropped SYN or connection."""


def pod_pids(node: str, app: str) -> dict[str, int]:
    """A host PID in each of the benchmark's pods (found by the pod UID in the process's cgroup path)."""
    items = json.loads(kubectl(node, "-n", NAMESPACE, "get", "pods", "-l", f"app={app}", "-o", "json"))["items"]
    uids = {p["metadata"]["uid"]: p["metadata"]["name"] for p in items}
    found: dict[str, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            uid = pod_uid((entry / "cgroup").read_text())
        except OSError:
            continue
        if uid in uids and uids[uid] not in found:
            found[uids[uid]] = int(entry.name)
    return found


class Soakers:
    """One busy loop per CPU at SCHED_IDLE, which runs only when nothing else wants the CPU: what
    they get less during a run than on the idle cluster is what the run cost the machine. Their CPU
    time is read from /proc/PID/schedstat (nanoseconds, exact; /proc/stat's per-CPU figures are
    sampled at the scheduler's tick, which a sampler on a millisecond timer can beat in step with)."""

    def __init__(self) -> None:
        cpus = sorted(os.sched_getaffinity(0))
        loop = (
            "import os,sys; os.sched_setaffinity(0, {int(sys.argv[1])}); "
            "os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))\nwhile True: pass"
        )
        self.procs = [subprocess.Popen([sys.executable, "-c", loop, str(cpu)]) for cpu in cpus]
        self.idle_share = 0.0

    def cpu_seconds(self) -> float:
        return sum(int(Path(f"/proc/{p.pid}/schedstat").read_text().split()[0]) for p in self.procs) / 1e9

    def calibrate(self, seconds: float) -> float:
        """The cores they get with the cluster idle and nothing probing it."""
        t0, c0 = time.monotonic(), self.cpu_seconds()
        time.sleep(seconds)
        self.idle_share = (self.cpu_seconds() - c0) / (time.monotonic() - t0)
        return self.idle_share

    def close(self) -> None:
        for p in self.procs:
            p.kill()
            p.wait()


def time_wait() -> int:
    for line in Path("/proc/net/sockstat").read_text().splitlines():
        if line.startswith("TCP:"):
            fields = line.split()
            return int(fields[fields.index("tw") + 1])
    return -1


def conntrack_entries(pid: str) -> int:
    try:
        lines = Path(f"/proc/{pid}/net/stat/nf_conntrack").read_text().splitlines()
    except OSError:
        return -1
    return int(lines[1].split()[0], 16) if len(lines) > 1 else -1


def ephemeral_ports() -> int:
    low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    return high - low + 1


# --------------------------------------------------------------------------- the samplers and wrk


def children_cpu(
    before: resource.struct_rusage, after: resource.struct_rusage, wall: float, *, quiet: bool = False
) -> float:
    """Cores the children reaped between two readings used over `wall` seconds (user and system
    printed unless `quiet`)."""
    user, system = (after.ru_utime - before.ru_utime) / wall, (after.ru_stime - before.ru_stime) / wall
    if not quiet:
        print(f"  (user {user:.2f} + system {system:.2f} core)")
    return user + system


def sample(
    address: str, port: int, options: ProbeOptions, seconds: float, *, witnesses: bool = False
) -> tuple[ProbeRun, float]:
    """Run the sampler (as the suites' pinned witnesses, merged, if asked) for `seconds`; the run and
    the CPU its processes used (cores)."""
    every = options.witnesses(len(os.sched_getaffinity(0))) if witnesses else [options]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    target = ProbeTarget(address, port)
    probers = [HostProber(target, o, allowed_networks=[f"{address}/32"]).start() for o in every]
    time.sleep(seconds)
    runs = [p.stop() for p in probers]
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    run = merge_runs(runs)
    wall = (run.stopped_at or run.samples[-1].end) - run.started_at
    return run, children_cpu(before, after, wall)


def sample_go(address: str, port: int, options: ProbeOptions, seconds: float) -> tuple[ProbeRun, float]:
    """Run the in-cluster prober's Go binary (the kit's build) on this host, as `sample` runs the
    Python sampler: the same tick, timeouts and bound on requests in flight, for `seconds`."""
    binary = build_prober_binary(cache_root() / "bin" / "prober")
    kind = KEEP_ALIVE if options.keep_alive else NEW_CONNECTION
    argv = [
        str(binary),
        f"-target={address}:{port}",
        f"-interval={options.interval * 1e9:.0f}ns",
        f"-connect-timeout={options.connect_timeout * 1e3:.0f}ms",
        f"-read-timeout={options.read_timeout * 1e3:.0f}ms",
        f"-max-inflight={options.inflight}",
        f"-duration={seconds + 60:.0f}s",
        "-clock-listen=",
        *(["-keepalive"] if options.keep_alive else []),
    ]
    stream = SampleStream(kind)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    reader = threading.Thread(target=lambda: [stream.take(line) for line in proc.stdout], daemon=True)  # type: ignore[union-attr]
    reader.start()
    time.sleep(seconds)
    stopped = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)
    reader.join(30)
    errors = proc.stderr.read() if proc.stderr is not None else b""
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    run = stream.run(
        where=f"host {address}:{port} (Go)",
        interval=options.interval,
        started_at=started,
        stopped_at=stopped,
        stopped_by_harness=True,
        end_reason=f"exited {proc.returncode}: {errors.decode(errors='replace').strip()[-300:]}",
        route="node",
    )
    wall = stopped - started
    return run, children_cpu(before, after, wall)


def describe_run(label: str, run: ProbeRun, cpu: float, watch: HostWatch) -> float:
    samples = list(run.samples)
    if len(samples) < 2:
        print(f"{label}: {len(samples)} requests ({run.stop_reason})")
        return 0.0
    starts = [s.start for s in samples]
    gaps = sorted(b - a for a, b in zip(starts, starts[1:]))
    rate = (len(samples) - 1) / (starts[-1] - starts[0])  # requests started per second
    errors = Counter(s.error for s in samples if s.error)
    p99 = quantile(gaps, 0.99)
    print(
        f"{label}: {len(samples):,} requests = {rate:,.0f} req/s [{ok(rate >= TARGET_RATE)} target >= "
        f"{TARGET_RATE:.0f}]; ended: {run.stop_reason}, skipped ticks {run.skipped}, lost {run.lost}"
    )
    print(
        f"  gap between starts: p50 {quantile(gaps, 0.5) * 1e3:.3f} ms  p99 {p99 * 1e3:.3f} ms  "
        f"max {gaps[-1] * 1e3:.1f} ms  [{ok(p99 <= TARGET_P99_GAP)} target p99 <= {TARGET_P99_GAP * 1e3:g} ms]"
    )
    print(f"  CPU of the sampler process(es): {cpu:.2f} core [{ok(cpu <= TARGET_CPU)} target <= {TARGET_CPU}]")
    print(f"  failed: {sum(errors.values())} {dict(errors) or ''}; {watch.line()}")
    return rate


def run_wrk(wrk: str, address: str, port: int, seconds: float, close: bool) -> float:
    args = [wrk, "-t1", "-c1", f"-d{seconds:.0f}s", "--latency"]
    if close:
        args += ["-H", "Connection: close"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    out = subprocess.run([*args, f"http://{address}:{port}/"], capture_output=True, text=True, check=True).stdout
    wall = time.monotonic() - started
    cpu = children_cpu(before, resource.getrusage(resource.RUSAGE_CHILDREN), wall, quiet=True)
    rate, errors = 0.0, ""
    for line in out.splitlines():
        text = line.strip()
        if text.startswith("Requests/sec:"):
            rate = float(text.split()[1])
        elif text.startswith(("Socket errors", "Non-2xx")):
            errors += " " + text
    latency = next((x.strip() for x in out.splitlines() if x.strip().startswith("99%")), "99% ?")
    kind = "new connections (Connection: close)" if close else "keep-alive"
    print(f"wrk -t1 -c1, {kind}: {rate:,.0f} req/s; latency {latency}; CPU {cpu:.2f} core;{errors or ' no errors'}")
    return rate


# --------------------------------------------------------------------------- completion detection


def _note_success(proc: subprocess.Popen[str], seen: dict[str, float]) -> None:
    """The instant `kubectl rollout status` printed its success line."""
    assert proc.stdout is not None
    for line in proc.stdout:
        if "successfully rolled out" in line:
            seen["kubectl"] = time.monotonic()


def completion_rounds(node: str, deployments: Deployments, rounds: int, images: tuple[str, str]) -> list[float]:
    """Per round: kubectl's completion instant minus the harness's (seconds, signed)."""
    lags = []
    for i in range(rounds):
        image, version = (images[1], "v0.2") if i % 2 == 0 else (images[0], "v0.1")
        deployments.apply(deployment(APP, image, version), change_cause=f"benchmark round {i + 1}")
        applied = time.monotonic()
        seen: dict[str, float] = {}
        watch = subprocess.Popen(
            in_node(node, "-n", NAMESPACE, "rollout", "status", f"deployment/{APP}", "--timeout=180s"),
            stdout=subprocess.PIPE,
            text=True,
        )

        reader = threading.Thread(target=_note_success, args=(watch, seen), daemon=True)
        reader.start()
        deployments.wait_rollout_complete(APP, 180.0)
        seen["harness"] = time.monotonic()
        watch.wait(180)
        reader.join(5)
        if "kubectl" not in seen:
            sys.exit(f"round {i + 1}: kubectl rollout status ended {watch.returncode} without success")
        lag = seen["kubectl"] - seen["harness"]
        lags.append(lag)
        print(
            f"round {i + 1} ({version}): harness saw completion at +{seen['harness'] - applied:.2f} s, "
            f"kubectl rollout status at +{seen['kubectl'] - applied:.2f} s (kubectl - harness {lag:+.2f} s)"
        )
    return lags


# --------------------------------------------------------------------------- overhead


def overhead(reports: Path) -> None:
    junit = reports / "junit.xml"
    if not junit.exists():
        sys.exit(f"{junit} is missing: give the report directory of a `pytest suites/` run")
    wall = sum(
        float(case.get("time", 0))
        for case in ET.parse(junit).iter("testcase")
        if case.get("classname", "").startswith("suites.")
    )
    rollout = 0.0
    for path in reports.glob("*.json"):
        data = json.loads(path.read_text())
        if isinstance(data, dict) and str(data.get("nodeid", "")).startswith("suites/"):
            rollout += (data.get("timings") or {}).get("rollout_s") or 0.0
    print(
        f"suites (JUnit, suites/ only): {wall:.0f} s [{ok(wall <= TARGET_SUITES_S)} target <= {TARGET_SUITES_S:.0f}]; "
        f"summed rollout_s {rollout:.0f} s; overhead ratio (wall / rollout) {wall / max(rollout, 1e-9):.2f}"
    )


# --------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cluster", required=True, help="a running kind cluster (`kind get clusters`)")
    ap.add_argument("--seconds", type=float, default=10.0, help="duration of each rate run")
    ap.add_argument("--sustained", type=float, default=600.0, help="duration of the sustained run (0: skip)")
    ap.add_argument("--interval", type=float, default=0.001, help="the sampler's pace (seconds)")
    ap.add_argument("--fastest", type=float, default=0.0001, help="the tick of the as-fast-as-it-goes run")
    ap.add_argument("--rounds", type=int, default=3, help="image updates timed against kubectl (0: skip)")
    ap.add_argument("--reports", type=Path, help="a `pytest suites/` report directory, for the overhead")
    ap.add_argument(
        "--soak", action="store_true", help="measure what each run takes from the machine (idle-priority soakers)"
    )
    ap.add_argument("--install", action="store_true", help="apt-get install wrk if missing")
    args = ap.parse_args()
    if args.reports is not None:
        overhead(args.reports)
    _, wrk = ensure_tools(args.install)
    node, address, deployments = open_namespace(args.cluster)
    node_pid = docker_inspect(node, "{{.State.Pid}}")
    images = app_images()
    print(
        f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; node {node} at {address}; "
        f"images {images[0]} -> {images[1]}"
    )
    soakers: Soakers | None = None
    try:
        deployments.apply(deployment(APP, images[0]), change_cause="benchmark")
        kubectl(node, "apply", "-f", "-", stdin=json.dumps(service()))
        deployments.wait_rollout_complete(APP, 180.0)
        port = int(
            json.loads(kubectl(node, "-n", NAMESPACE, "get", "service", APP, "-o", "json"))["spec"]["ports"][0][
                "nodePort"
            ]
        )
        waited = wait_answering(address, port)
        pods = pod_pids(node, APP)
        print(f"kernel counters read in {len(pods)} of the benchmark's pods: {', '.join(sorted(pods))}\n")
        print(
            f"NodePort {port}: route `node` ({address}:{port}), the suites' default; answering after {waited:.2f} s\n"
        )

        if args.soak:
            soakers = Soakers()
            share = soakers.calibrate(5.0)
            print(f"soakers (SCHED_IDLE, one per CPU) on the idle cluster: {share:.2f} core\n")
        rates: dict[str, float] = {}
        one, two, kept = (
            "sampler, new connections, one process",
            "sampler, new connections, two pinned witnesses (as in the suites)",
            "sampler, keep-alive, one process",
        )
        nc = ProbeOptions(kind=NEW_CONNECTION, interval=args.interval, route="node", max_duration=args.seconds + 60)
        ka = ProbeOptions(kind=KEEP_ALIVE, interval=args.interval, route="node", max_duration=args.seconds + 60)
        fastest = replace(nc, interval=args.fastest)
        fast = f"sampler, new connections, one process, as fast as it goes (tick {args.fastest * 1e3:g} ms)"
        go_nc, go_fast = "Go sampler on this host, new connections", "Go sampler on this host, as fast as it goes"
        for label, options in ((one, nc), (two, nc), (kept, ka), (fast, fastest), (go_nc, nc), (go_fast, fastest)):
            with HostWatch(node_pid, soakers, pods) as watch:
                if label.startswith("Go"):
                    run, cpu = sample_go(address, port, options, args.seconds)
                else:
                    run, cpu = sample(address, port, options, args.seconds, witnesses=label == two)
            tick = f", tick {options.interval * 1e3:g} ms"
            rates[label] = describe_run(f"{label}{tick}", run, cpu, watch)
        for close in (True, False):
            with HostWatch(node_pid, soakers, pods) as watch:
                rates[f"wrk close={close}"] = run_wrk(wrk, address, port, args.seconds, close)
            print(f"  {watch.line()}")
        wrk_nc, wrk_ka = rates["wrk close=True"], rates["wrk close=False"]
        print(
            f"\nratios to wrk: new connections {rates[one] / wrk_nc:.2f} (two witnesses {rates[two] / wrk_nc:.2f}, "
            f"as fast as it goes {rates[fast] / wrk_nc:.2f}; Go on this host {rates[go_nc] / wrk_nc:.2f}, "
            f"as fast as it goes {rates[go_fast] / wrk_nc:.2f}), keep-alive {rates[kept] / wrk_ka:.2f} "
            "(a paced sampler's ratio is its pace against wrk's unpaced best; target >= 1.0 for new connections)\n"
        )

        if args.sustained > 0:
            sustained = replace(nc, max_duration=args.sustained + 60)
            with HostWatch(node_pid, soakers, pods) as watch:
                run, cpu = sample(address, port, sustained, args.sustained)
            rate = describe_run(f"sustained {args.sustained:.0f} s, new connections, one process", run, cpu, watch)
            ratio = rate / wrk_nc
            print(f"  ratio to wrk's new-connection rate above: {ratio:.2f} [{ok(ratio >= 1.0)} target >= 1.0]\n")

        if args.rounds > 0:
            lags = completion_rounds(node, deployments, args.rounds, images)
            print(f"kubectl - harness over {len(lags)} rounds: " + ", ".join(f"{x:+.2f} s" for x in lags))
    finally:
        if soakers is not None:
            soakers.close()
        deployments.close()
        subprocess.run(in_node(node, "delete", "namespace", NAMESPACE, "--wait=false"), capture_output=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
