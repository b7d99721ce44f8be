"""The kernel's own count of dropped and reset connections, per network namespace of the data path.

A failed request that no endpoint or pod transition explains may still have
left a trace in a kernel: a SYN dropped by the PAWS check against a TIME_WAIT
socket, an accept queue that overflowed, a conntrack entry that could not be
inserted. Those counters live in each network namespace (`/proc/PID/net/netstat`,
`/proc/PID/net/snmp`, `/proc/PID/net/stat/nf_conntrack`) and can be read from the
host without entering the namespace; holding its files open keeps a pod's namespace
until the poll after the CNI plugin removed its interface, and changes nothing else.

`NetCounterPoller` reads them every `interval` for the host (the probes' own
leg), each kind node this host started, and each pod of the probed Service
(found by the pod UID in a host process's cgroup path), and records a
`CounterChange` whenever a watched counter moved. Each namespace's files are held
open from the first poll that finds it (`harness.netns`): a pod's kernel still
resets connections after its last process has exited, until the CNI plugin removes
its interface. For each pod it also records how long its
processes waited for a CPU (`harness.cpuwait`, as the counter `sched.wait_ms`, from
`WAIT_FLOOR_MS` in one poll), and where the machine's CPU time went meanwhile (`CPU_LEDGER`:
all CPUs, the kind nodes' containers, the host samplers, the harness), so a pod that waited
for a CPU says who had it. Pure parsing is in `parse_proc_counters`, `parse_conntrack_stats`,
`parse_cpu_line` and `parse_cgroup_path`.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .cpuwait import WAIT_COUNTER, WAIT_FLOOR_MS, RunQueueWait
from .netns import HeldNetns, netns_inode
from .samples import clock

__all__ = [
    "WATCHED",
    "CPU_LEDGER",
    "CounterChange",
    "NetCounterPoller",
    "parse_proc_counters",
    "parse_conntrack_stats",
    "parse_cpu_line",
    "parse_cgroup_path",
    "pod_cgroups",
    "pod_uid",
    "read_counters",
    "watched_counters",
]

WATCHED: dict[str, str] = {
    "TcpExt.PAWSTimewait": "SYNs dropped: the PAWS timestamp check against a TIME_WAIT socket of the same "
    "address and ports failed",
    "TcpExt.PAWSActive": "SYN-ACKs dropped by the PAWS timestamp check",
    "TcpExt.ListenOverflows": "connections dropped: a listener's accept queue was full",
    "TcpExt.ListenDrops": "SYNs or handshake ACKs to a listener dropped",
    "TcpExt.TCPAbortOnData": "connections reset: closed with unread data",
    "TcpExt.TCPAbortOnClose": "connections reset: closed by the application with data unread",
    "TcpExt.TCPTimeWaitOverflow": "TIME_WAIT sockets not kept: the table was full",
    "TcpExt.TCPSYNChallenge": "challenge ACKs sent in answer to a SYN",
    "Tcp.AttemptFails": "connection attempts that failed",
    "Tcp.EstabResets": "established connections reset",
    "Tcp.OutRsts": "resets sent",
    "conntrack.insert_failed": "connections whose conntrack entry could not be inserted (a NAT clash)",
    "conntrack.drop": "packets dropped by conntrack",
    "conntrack.early_drop": "conntrack entries evicted early (table full)",
    WAIT_COUNTER: "milliseconds the pod's most delayed task was runnable but waited for a CPU",
}
"""The counters recorded, with what a rise means."""

CPU_LEDGER: dict[str, str] = {
    "cpu.capacity_ms": "milliseconds of CPU time the machine's CPUs span (wall time times CPUs)",
    "cpu.idle_ms": "milliseconds the machine's CPUs were idle (or waiting for I/O)",
    "cpu.node_ms": "milliseconds of CPU the kind node's container used (control plane, kubelet, runtime, pods)",
    "cpu.node_pods_ms": "milliseconds of it the node's pods used (the control plane's static pods among them)",
    "cpu.service_pods_ms": "milliseconds of it the probed Service's pods used",
    "cpu.samplers_ms": "milliseconds of CPU the host samplers used",
    "cpu.harness_ms": "milliseconds of CPU the harness process used",
}
"""Where the CPU time went, polled with the counters (host and node rows of the record)."""

_TICK_MS = 1000.0 / os.sysconf("SC_CLK_TCK")
_SAMPLER_MODULE = b"harness.probeloop"

_POD_UID = re.compile(r"pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})")


@dataclass(frozen=True)
class CounterChange:
    """Counter `name` of namespace `where` rose by `delta` between `since` and `t` (harness clock)."""

    t: float
    since: float
    where: str
    name: str
    delta: int

    @property
    def meaning(self) -> str:
        return WATCHED.get(self.name) or CPU_LEDGER.get(self.name, self.name)


def parse_proc_counters(text: str) -> dict[str, int]:
    """`/proc/net/netstat` or `/proc/net/snmp` as {"Section.Name": value} (header/value line pairs)."""
    out: dict[str, int] = {}
    lines = [line.split() for line in text.splitlines() if line.strip()]
    for head, values in zip(lines[::2], lines[1::2]):
        if not head or not values or head[0] != values[0]:
            continue
        section = head[0].rstrip(":")
        for name, value in zip(head[1:], values[1:]):
            try:
                out[f"{section}.{name}"] = int(value)
            except ValueError:
                continue
    return out


def parse_conntrack_stats(text: str) -> dict[str, int]:
    """`/proc/net/stat/nf_conntrack` (hex, one line per CPU) summed as {"conntrack.name": value}."""
    rows = [line.split() for line in text.splitlines() if line.strip()]
    if not rows:
        return {}
    names, out = rows[0], {}
    for row in rows[1:]:
        for name, value in zip(names, row):
            try:
                out[f"conntrack.{name}"] = out.get(f"conntrack.{name}", 0) + int(value, 16)
            except ValueError:
                continue
    return out


def parse_cpu_line(text: str) -> float | None:
    """The idle time (idle and iowait, ms) of the first (all-CPU) line of `/proc/stat`.

    Only idle time is kept: the kernel measures it exactly, but counts busy time by sampling ticks,
    so on this virtual machine the busy and idle columns together gave 1.42 to 2.56 CPU-seconds
    per second of two CPUs during rollouts (2.0 when idle or spinning). Busy time is the
    capacity less the idle time."""
    first = text.split("\n", 1)[0].split()
    if len(first) < 6 or first[0] != "cpu":
        return None
    try:
        return (int(first[4]) + int(first[5])) * _TICK_MS
    except ValueError:
        return None


def parse_cgroup_path(text: str) -> tuple[str, str] | None:
    """A process's CPU-accounting cgroup from its `/proc/PID/cgroup`: ("v1", path) from the cpuacct
    hierarchy or ("v2", path) from the unified one; a node's systemd sits in `init.scope`, whose
    parent is the whole container."""
    found = None
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if "cpuacct" in parts[1].split(","):
            found = ("v1", parts[2])
            break
        if parts[0] == "0" and parts[1] == "":
            found = ("v2", parts[2])
    if found is None:
        return None
    version, path = found
    return version, path.removesuffix("/init.scope") or "/"


def pod_uid(cgroup: str) -> str | None:
    """The UID of the pod whose cgroup a process's /proc/PID/cgroup text names (None: not a pod's)."""
    m = _POD_UID.search(cgroup)
    return m.group(1).replace("_", "-") if m else None


def pod_cgroups(cgroup: tuple[str, str], uid: str) -> tuple[str, str] | None:
    """From a pod process's cgroup (`parse_cgroup_path`), the paths of its pod's cgroup and of the
    node's cgroup of all pods (`kubepods`, or the systemd driver's `...kubepods.slice`); None when
    the path has neither."""
    parts = cgroup[1].split("/")
    marks = (f"pod{uid}", f"pod{uid.replace('-', '_')}")
    pod = next((i for i, part in enumerate(parts) if any(m in part for m in marks)), None)
    pods = next((i for i, part in enumerate(parts) if part == "kubepods" or part.endswith("kubepods.slice")), None)
    if pod is None or pods is None or pods >= pod:
        return None
    return "/".join(parts[: pod + 1]), "/".join(parts[: pods + 1])


def _cgroup_usage_ms(version: str, path: str, root: str) -> float | None:
    if version == "v1":
        for mount in ("cpuacct", "cpu,cpuacct", "cpuacct,cpu"):
            text = _read(f"{root}/{mount}{path}/cpuacct.usage")
            if text is not None:
                return int(text) / 1e6
        return None
    for line in (_read(f"{root}{path}/cpu.stat") or "").splitlines():
        if line.startswith("usage_usec "):
            return int(line.split()[1]) / 1000.0
    return None


def _proc_cpu_ms(pid: int | str, proc: str) -> float | None:
    text = _read(f"{proc}/{pid}/stat")
    if text is None:
        return None
    fields = text.rsplit(")", 1)[-1].split()
    try:
        return (int(fields[11]) + int(fields[12])) * _TICK_MS
    except (IndexError, ValueError):
        return None


def _read_bytes(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def _read(path: str) -> str | None:
    data = _read_bytes(path)
    return None if data is None else data.decode("utf-8", "replace")


def watched_counters(netstat: str, snmp: str, conntrack: str | None) -> dict[str, int]:
    """The watched counters of a namespace's `netstat`, `snmp` and (if any) `stat/nf_conntrack` texts."""
    values = {**parse_proc_counters(netstat), **parse_proc_counters(snmp)}
    if conntrack is not None:
        values.update(parse_conntrack_stats(conntrack))
    return {k: v for k, v in values.items() if k in WATCHED}


def read_counters(pid: int | str, proc: str = "/proc") -> dict[str, int] | None:
    """The watched counters of the network namespace of process `pid` ("self": this one); None once it is gone."""
    netstat, snmp = _read(f"{proc}/{pid}/net/netstat"), _read(f"{proc}/{pid}/net/snmp")
    if netstat is None or snmp is None:
        return None
    return watched_counters(netstat, snmp, _read(f"{proc}/{pid}/net/stat/nf_conntrack"))


def _held_counters(held: HeldNetns) -> dict[str, int] | None:
    netstat, snmp = held.read("netstat"), held.read("snmp")
    if netstat is None or snmp is None:
        return None
    return watched_counters(netstat, snmp, held.read("stat/nf_conntrack"))


class NetCounterPoller:
    """Polls the watched counters of the host, the kind nodes in `nodes` (name -> host PID of the
    node container) and the pods `pods()` names (uid -> name), every `interval`.

    Pods are found by their UID in the cgroup path of a host process (kind nodes are
    containers of this host, so their pods' processes are host processes); a pod's namespace
    is held from then on, and read until the pod is no longer one of `pods()` or has neither a
    process nor an interface but `lo`. A pod's first reading is its baseline; a rise seen later
    is recorded as a `CounterChange`.
    Errors never reach the test: they end the thread and are kept in `error`.
    """

    def __init__(
        self,
        nodes: Mapping[str, int],
        pods: Callable[[], Mapping[str, str]],
        *,
        interval: float = 0.2,
        max_records: int = 100_000,
        proc: str = "/proc",
        cgroup_root: str = "/sys/fs/cgroup",
    ) -> None:
        self.nodes = dict(nodes)
        self.pods = pods
        self.interval = interval
        self.max_records = max_records
        self.proc = proc
        self.cgroup_root = cgroup_root
        self.records: list[CounterChange] = []
        self.error: str | None = None
        self.polls = 0
        self._last: dict[str, tuple[float, dict[str, int]]] = {}  # "host", "node NAME" or a pod's UID
        self._held: dict[str, HeldNetns] = {}  # the same keys: each place's namespace, held open
        self._outer: set[int] | None = None  # the host's and the nodes' namespaces (inodes)
        self._pid_uid: dict[int, str | None] = {}
        self._waits: dict[str, RunQueueWait] = {}
        self._samplers: dict[int, float] = {}  # sampler PID -> CPU ms at the last poll
        self._samplers_total = 0.0
        self._node_cgroups: dict[str, tuple[str, str] | None] = {}
        self._pod_cgroups: dict[str, tuple[str, str, str]] = {}  # uid -> (version, pod's, all pods')
        self._pod_usage: dict[str, float] = {}  # uid -> the pod's CPU ms at the last poll
        self._service_pods_total: dict[str, float] = {}  # node place -> the probed pods' CPU ms so far
        self._live_uids: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> NetCounterPoller:
        self._poll()  # baselines before anything the test does
        self._thread = threading.Thread(target=self._run, name="net-counters", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> list[CounterChange]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.interval * 10 + 5)
        self._poll()
        for held in self._held.values():
            held.close()
        self._held.clear()
        with self._lock:
            return list(self.records)

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                self._poll()
        except (OSError, ValueError) as exc:  # a reader thread must not take the test down; say why it stopped
            self.error = f"{type(exc).__name__}: {exc}"

    def _pod_pids(self, wanted: Mapping[str, str]) -> dict[str, list[int]]:
        """The live host PIDs of each wanted pod UID (lowest first)."""
        found: dict[str, list[int]] = {}
        try:
            entries = os.listdir(self.proc)
        except OSError:
            return found
        live = set()
        for entry in entries:
            if not entry.isdigit():
                continue
            pid = int(entry)
            live.add(pid)
            text = None
            if pid not in self._pid_uid:
                cgroup = text = _read(f"{self.proc}/{pid}/cgroup") or ""
                self._pid_uid[pid] = pod_uid(cgroup)
                if self._pid_uid[pid] is None and _SAMPLER_MODULE in (_read_bytes(f"{self.proc}/{pid}/cmdline") or b""):
                    self._samplers.setdefault(pid, 0.0)
            uid = self._pid_uid[pid]
            if uid is not None and uid in wanted:
                found.setdefault(uid, []).append(pid)
                if uid not in self._pod_cgroups:  # the cgroup file read once for a process first seen here
                    owned = parse_cgroup_path(text if text is not None else _read(f"{self.proc}/{pid}/cgroup") or "")
                    paths = pod_cgroups(owned, uid) if owned else None
                    if owned and paths:
                        self._pod_cgroups[uid] = (owned[0], *paths)
        for pid in [p for p in self._pid_uid if p not in live]:
            del self._pid_uid[pid]
            self._samplers.pop(pid, None)
        return {uid: sorted(pids) for uid, pids in found.items()}

    def _ledger(self, where: str, pid: int | str) -> dict[str, int]:
        """The CPU ledger's running totals (ms) for one place: the machine, the samplers and the
        harness on "host", the container's cgroup on a node."""
        out: dict[str, float | None] = {}
        if where == "host":
            idle = parse_cpu_line(_read(f"{self.proc}/stat") or "")
            if idle is not None:
                out["cpu.idle_ms"] = idle
                out["cpu.capacity_ms"] = clock() * 1000.0 * (os.cpu_count() or 1)
            for sampler, last in list(self._samplers.items()):
                now = _proc_cpu_ms(sampler, self.proc)
                if now is not None:
                    self._samplers_total += max(0.0, now - last)
                    self._samplers[sampler] = now
            out["cpu.samplers_ms"] = self._samplers_total
            out["cpu.harness_ms"] = _proc_cpu_ms("self", self.proc)
        else:
            if where not in self._node_cgroups:
                self._node_cgroups[where] = parse_cgroup_path(_read(f"{self.proc}/{pid}/cgroup") or "")
            cgroup = self._node_cgroups[where]
            out["cpu.node_ms"] = _cgroup_usage_ms(*cgroup, self.cgroup_root) if cgroup else None
            if cgroup:
                out.update(self._pods_ledger(where, cgroup))
        return {name: int(value) for name, value in out.items() if value is not None}

    def _pods_ledger(self, where: str, node: tuple[str, str]) -> dict[str, float | None]:
        """The node's cgroup of all pods, and the probed pods' CPU summed over their lives (a pod's
        cgroup goes with it: each pod counts what it used while seen)."""
        version, path = node
        inside = {uid: c for uid, c in self._pod_cgroups.items() if c[0] == version and c[1].startswith(path + "/")}
        total = self._service_pods_total.get(where, 0.0)
        for uid, (_, pod, _) in inside.items():
            if uid not in self._live_uids:
                continue
            now = _cgroup_usage_ms(version, pod, self.cgroup_root)
            if now is not None:
                total += max(0.0, now - self._pod_usage.get(uid, now))
                self._pod_usage[uid] = now
        self._service_pods_total[where] = total
        pods = next((c[2] for c in inside.values()), None)  # one node, one cgroup of all pods
        return {
            "cpu.node_pods_ms": _cgroup_usage_ms(version, pods, self.cgroup_root) if pods else None,
            "cpu.service_pods_ms": total if inside else None,
        }

    def _hold(self, key: str, pid: int | str) -> HeldNetns | None:
        held = self._held.get(key)
        if held is None:
            held = HeldNetns.open(pid, self.proc)
            if held is not None:
                self._held[key] = held
        return held

    def _hold_pod(self, uid: str, pids: list[int]) -> None:
        """Hold the pod's namespace, opened through the first of its processes that is not in the
        host's or a node's (a container's `runc init` is in the pod's cgroup before it joins the
        pod's namespace); again when its processes are in another one (a new sandbox)."""
        held = self._held.get(uid)
        for pid in pids:
            inode = netns_inode(pid, self.proc)
            if inode is not None and self._outer and inode in self._outer:
                continue
            if held is not None and inode in (None, held.inode):
                return
            fresh = HeldNetns.open(pid, self.proc)
            if fresh is None:
                continue
            if held is not None:
                held.close()
                self._last.pop(uid, None)  # a new namespace: its first reading is its baseline
            self._held[uid] = fresh
            return

    def _poll(self) -> None:
        if self._outer is None:
            pids = ["self", *self.nodes.values()]
            self._outer = {i for i in (netns_inode(pid, self.proc) for pid in pids) if i is not None}
        places: list[tuple[str, str, int | str | None]] = [("host", "host", "self")]
        places += [(f"node {name}", f"node {name}", pid) for name, pid in self.nodes.items()]
        for key, _, pid in places:
            self._hold(key, pid)
        wanted = self.pods()
        waits: dict[str, int] = {}
        found = self._pod_pids(wanted)
        self._live_uids = set(found)
        for uid, pids in found.items():
            self._hold_pod(uid, pids)
            waits[uid] = self._waits.setdefault(uid, RunQueueWait(self.proc)).rise(pids)
        for uid in [k for k in self._held if k not in ("host",) and not k.startswith("node ")]:
            if uid in wanted:
                places.append((uid, f"pod {wanted[uid]}", None))
            else:
                self._held.pop(uid).close()
        for key, where, pid in places:  # each reading stamped by its own instants, not the poll's start
            held = self._held.get(key)
            if held is None:
                continue
            gone = pid is None and key not in found and set(held.interfaces() or ["?"]) <= {"lo"}
            began = clock()
            values = _held_counters(held)
            if values is None:
                continue
            if pid is not None:
                values.update(self._ledger(where, pid))
            t = clock()
            previous = self._last.get(key)
            self._last[key] = (began, values)
            if gone:  # no process, and the CNI plugin removed its interface: this was the last reading
                self._held.pop(key).close()
            if previous is None:
                continue
            since, before = previous
            rises = {name: value - before.get(name, value) for name, value in values.items()}
            if waits.get(key, 0) >= WAIT_FLOOR_MS:
                rises[WAIT_COUNTER] = waits[key]
            with self._lock:
                for name, delta in rises.items():
                    if delta > 0 and len(self.records) < self.max_records:
                        self.records.append(CounterChange(t, since, where, name, delta))
        self.polls += 1
