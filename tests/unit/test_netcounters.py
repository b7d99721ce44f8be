"""Kernel counters: parsing /proc's files, and the poller on a fake /proc tree (pure files)."""

from __future__ import annotations

from pathlib import Path

from harness.netcounters import (
    NetCounterPoller,
    parse_cgroup_path,
    parse_conntrack_stats,
    parse_cpu_line,
    parse_proc_counters,
    read_counters,
)

NETSTAT = """TcpExt: SyncookiesSent PAWSTimewait ListenOverflows TCPAbortOnData
TcpExt: 0 {paws} 0 3
IpExt: InNoRoutes InTruncatedPkts
IpExt: 0 0
"""
SNMP = """Ip: Forwarding DefaultTTL
Ip: 1 64
Tcp: RtoAlgorithm ActiveOpens AttemptFails EstabResets OutRsts
Tcp: 1 10 0 1 {rsts}
"""
CONNTRACK = """entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop
000012ee  00000000 00000084 00000000 00000000 00000000 00000000 00000000 00000000 00000002 00000000 00000000
000012ee  00000000 00000001 00000000 00000000 00000000 00000000 00000000 00000000 0000000a 00000000 00000000
"""


def test_parse_proc_counters_pairs_header_and_value_lines() -> None:
    values = parse_proc_counters(NETSTAT.format(paws=7) + SNMP.format(rsts=4))
    assert values["TcpExt.PAWSTimewait"] == 7 and values["TcpExt.TCPAbortOnData"] == 3
    assert values["Tcp.OutRsts"] == 4 and values["Ip.DefaultTTL"] == 64


def test_parse_conntrack_stats_sums_hex_over_cpus() -> None:
    values = parse_conntrack_stats(CONNTRACK)
    assert values["conntrack.insert_failed"] == 12 and values["conntrack.found"] == 0x85


def write_proc(root: Path, pid: str, paws: int, rsts: int, cgroup: str = "", conntrack: bool = False) -> None:
    net = root / pid / "net"
    (net / "stat").mkdir(parents=True, exist_ok=True)
    (net / "netstat").write_text(NETSTAT.format(paws=paws))
    (net / "snmp").write_text(SNMP.format(rsts=rsts))
    if conntrack:
        (net / "stat" / "nf_conntrack").write_text(CONNTRACK)
    (root / pid / "cgroup").write_text(cgroup)


def test_read_counters_keeps_the_watched_ones_and_none_once_gone(tmp_path: Path) -> None:
    write_proc(tmp_path, "42", paws=1, rsts=2, conntrack=True)
    assert read_counters(42, str(tmp_path)) == {
        "TcpExt.PAWSTimewait": 1,
        "TcpExt.ListenOverflows": 0,
        "TcpExt.TCPAbortOnData": 3,
        "Tcp.AttemptFails": 0,
        "Tcp.EstabResets": 1,
        "Tcp.OutRsts": 2,
        "conntrack.insert_failed": 12,
        "conntrack.drop": 0,
        "conntrack.early_drop": 0,
    }
    assert read_counters(43, str(tmp_path)) is None


def test_poller_finds_pods_by_cgroup_uid_and_records_rises(tmp_path: Path) -> None:
    uid = "43b6931f-3a18-4f51-aac3-f4881d8d90f4"
    cgroup = f"0::/docker/x/kubelet.slice/kubelet-kubepods-besteffort-pod{uid.replace('-', '_')}.slice/cri-x.scope\n"
    write_proc(tmp_path, "self", paws=0, rsts=0)
    write_proc(tmp_path, "100", paws=0, rsts=0, conntrack=True)  # the node container
    write_proc(tmp_path, "200", paws=5, rsts=0, cgroup=cgroup)  # a process of the pod
    write_proc(tmp_path, "300", paws=9, rsts=0, cgroup="0::/user.slice\n")  # not a pod's
    poller = NetCounterPoller({"node-1": 100}, lambda: {uid: "web-a"}, proc=str(tmp_path))
    poller._poll()
    write_proc(tmp_path, "200", paws=7, rsts=1, cgroup=cgroup)
    write_proc(tmp_path, "300", paws=99, rsts=0, cgroup="0::/user.slice\n")
    poller._poll()
    rises = {(c.where, c.name): c.delta for c in poller.records}
    assert rises == {("pod web-a", "TcpExt.PAWSTimewait"): 2, ("pod web-a", "Tcp.OutRsts"): 1}
    assert all(c.since < c.t for c in poller.records)


def write_task(root: Path, pid: str, tid: str, wait_ns: int) -> None:
    task = root / pid / "task" / tid
    task.mkdir(parents=True, exist_ok=True)
    (task / "schedstat").write_text(f"123456 {wait_ns} 7\n")


def test_poller_records_how_long_a_pods_processes_waited_for_a_cpu(tmp_path: Path) -> None:
    uid = "43b6931f-3a18-4f51-aac3-f4881d8d90f4"
    cgroup = f"0::/docker/x/kubelet.slice/kubelet-kubepods-besteffort-pod{uid.replace('-', '_')}.slice/cri-x.scope\n"
    write_proc(tmp_path, "self", paws=0, rsts=0)
    for pid in ("200", "201"):  # nginx's master and a worker
        write_proc(tmp_path, pid, paws=0, rsts=0, cgroup=cgroup)
        write_task(tmp_path, pid, pid, 5_000_000)
    poller = NetCounterPoller({}, lambda: {uid: "web-a"}, proc=str(tmp_path))
    poller._poll()  # baselines
    write_task(tmp_path, "200", "200", 5_000_000 + 15_000_000)  # 15 ms: ordinary, below the floor
    poller._poll()
    assert poller.records == []
    write_task(tmp_path, "200", "200", 20_000_000 + 300_000_000)  # the master waited 300 ms
    write_task(tmp_path, "201", "201", 5_000_000 + 1_200_000_000)  # the worker 1.2 s
    write_task(tmp_path, "202", "202", 9_000_000_000)  # a task of a process not in the pod
    poller._poll()  # the most delayed task of the pod: the worker
    assert [(c.where, c.name, c.delta) for c in poller.records] == [("pod web-a", "sched.wait_ms", 1200)]
    assert "waited for a CPU" in poller.records[0].meaning


def test_parse_schedstat_reads_the_run_queue_delay() -> None:
    from harness.cpuwait import parse_schedstat

    assert parse_schedstat("1132187 312838 3\n") == 312838
    assert parse_schedstat("") is None and parse_schedstat("x y") is None


def test_parse_cpu_line_gives_the_idle_time() -> None:
    tick_ms = 1000 / __import__("os").sysconf("SC_CLK_TCK")
    assert parse_cpu_line("cpu  100 5 50 800 20 3 2 10 0 0\ncpu0 1 2 3 4\n") == 820 * tick_ms  # idle and iowait
    assert parse_cpu_line("intr 1 2") is None


def test_parse_cgroup_path_finds_the_container_of_a_nodes_systemd() -> None:
    v1 = "12:cpu,cpuacct:/docker/abc/init.scope\n3:memory:/docker/abc/init.scope\n"
    assert parse_cgroup_path(v1) == ("v1", "/docker/abc")
    assert parse_cgroup_path("0::/system.slice/docker-abc.scope\n") == ("v2", "/system.slice/docker-abc.scope")
    assert parse_cgroup_path("") is None


def write_stat(root: Path, pid: str, utime: int, stime: int, comm: str = "python3") -> None:
    (root / pid).mkdir(parents=True, exist_ok=True)
    fields = ["S"] + ["0"] * 10 + [str(utime), str(stime)] + ["0"] * 30
    (root / pid / "stat").write_text(f"{pid} ({comm}) " + " ".join(fields) + "\n")


def test_poller_keeps_a_cpu_ledger_of_the_machine_the_node_the_samplers_and_itself(tmp_path: Path) -> None:
    """Per poll, where the CPU time went: the CPUs' capacity and idle time, the node container's cgroup, the
    host samplers (found by their module in the command line) and the harness process."""
    proc, cgroups = tmp_path / "proc", tmp_path / "cgroup"
    write_proc(proc, "self", paws=0, rsts=0)
    write_proc(proc, "100", paws=0, rsts=0, cgroup="5:cpu,cpuacct:/docker/abc/init.scope\n")
    write_proc(proc, "300", paws=0, rsts=0, cgroup="0::/\n")
    (proc / "300" / "cmdline").write_bytes(b"python3\0-m\0harness.probeloop\0--port\x0030080\0")
    usage = cgroups / "cpu,cpuacct" / "docker" / "abc" / "cpuacct.usage"
    usage.parent.mkdir(parents=True)

    def state(idle: int, node_ns: int, sampler: int, harness: int) -> None:
        (proc / "stat").write_text(f"cpu  500 0 0 {idle} 7 0 0 0 0 0\n")
        usage.write_text(f"{node_ns}\n")
        write_stat(proc, "300", sampler, 0)
        write_stat(proc, "self", harness, 0)

    state(900, 1_000_000_000, 10, 5)
    poller = NetCounterPoller({"node-1": 100}, dict, proc=str(proc), cgroup_root=str(cgroups))
    poller._poll()
    state(960, 1_250_000_000, 30, 6)
    poller._poll()
    tick_ms = 1000 / __import__("os").sysconf("SC_CLK_TCK")
    rises = {(c.where, c.name): c.delta for c in poller.records}
    capacity = rises.pop(("host", "cpu.capacity_ms"), 0)  # the wall time between the polls, times the CPUs
    assert 0 <= capacity < 1000
    assert rises == {
        ("host", "cpu.idle_ms"): int(967 * tick_ms) - int(907 * tick_ms),
        ("host", "cpu.samplers_ms"): int(30 * tick_ms) - int(10 * tick_ms),
        ("host", "cpu.harness_ms"): int(6 * tick_ms) - int(5 * tick_ms),
        ("node node-1", "cpu.node_ms"): 250,
    }


KUBEPODS = "/docker/abc/kubelet.slice/kubelet-kubepods.slice"
POD_UID = "0f1e2d3c-aaaa-bbbb-cccc-123456789abc"
BURSTABLE = f"{KUBEPODS}/kubelet-kubepods-burstable.slice"
POD_SLICE = f"{BURSTABLE}/kubelet-kubepods-burstable-pod{POD_UID.replace('-', '_')}.slice"


def test_pod_cgroups_finds_the_pod_and_the_node_s_pods_under_either_driver() -> None:
    from harness.netcounters import pod_cgroups

    assert pod_cgroups(("v1", f"{POD_SLICE}/cri-containerd-1234.scope"), POD_UID) == (POD_SLICE, KUBEPODS)
    cgroupfs = f"/docker/abc/kubelet/kubepods/burstable/pod{POD_UID}/5678"
    assert pod_cgroups(("v1", cgroupfs), POD_UID) == (
        f"/docker/abc/kubelet/kubepods/burstable/pod{POD_UID}",
        "/docker/abc/kubelet/kubepods",
    )
    assert pod_cgroups(("v1", "/docker/abc/system.slice/containerd.service"), POD_UID) is None


def test_the_ledger_splits_the_node_into_the_service_s_pods_its_other_pods_and_the_rest(tmp_path: Path) -> None:
    """The node's cgroup of all pods, and the probed pods' own cgroups summed while each is seen: a pod
    whose cgroup went with it keeps what it used."""
    proc, cgroups = tmp_path / "proc", tmp_path / "cgroup"
    root = cgroups / "cpu,cpuacct"
    write_proc(proc, "self", paws=0, rsts=0)
    write_proc(proc, "100", paws=0, rsts=0, cgroup="5:cpu,cpuacct:/docker/abc/init.scope\n")
    write_proc(proc, "200", paws=0, rsts=0, cgroup=f"5:cpu,cpuacct:{POD_SLICE}/cri-containerd-1.scope\n")
    (proc / "stat").write_text("cpu  500 0 0 900 7 0 0 0 0 0\n")

    def usage(path: str, ms: int) -> None:
        (root / path.lstrip("/")).mkdir(parents=True, exist_ok=True)
        (root / path.lstrip("/") / "cpuacct.usage").write_text(f"{ms * 1_000_000}\n")

    usage("/docker/abc", 1000)
    usage(KUBEPODS, 600)
    usage(POD_SLICE, 50)
    poller = NetCounterPoller({"node-1": 100}, lambda: {POD_UID: "web-a"}, proc=str(proc), cgroup_root=str(cgroups))
    poller._poll()
    usage("/docker/abc", 1400)
    usage(KUBEPODS, 900)
    usage(POD_SLICE, 80)
    poller._poll()
    rises = {c.name: c.delta for c in poller.records if c.where == "node node-1"}
    assert rises == {"cpu.node_ms": 400, "cpu.node_pods_ms": 300, "cpu.service_pods_ms": 30}
    (proc / "200").joinpath("cgroup").write_text("")  # the pod is gone, its cgroup with it
    __import__("shutil").rmtree(root / POD_SLICE.lstrip("/"))
    poller._pid_uid.clear()
    usage(KUBEPODS, 950)
    seen = len(poller.records)
    poller._poll()
    rises = {c.name: c.delta for c in poller.records[seen:] if c.where == "node node-1"}
    assert rises == {"cpu.node_pods_ms": 50}  # nothing taken back for the gone pod


DEV = """Inter-|   Receive                            |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier
{rows}"""


def write_dev(root: Path, pid: str, *names: str) -> None:
    rows = "".join(f"{name:>6}: 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n" for name in names)
    (root / pid / "net" / "dev").write_text(DEV.format(rows=rows))


def test_parse_interfaces_names_each_interface() -> None:
    from harness.netns import parse_interfaces

    assert parse_interfaces(DEV.format(rows="    lo: 1 2\n  eth0: 3 4\n")) == ["lo", "eth0"]
    assert parse_interfaces("") == []


def test_a_pods_namespace_is_read_after_its_last_process_exits_until_its_interface_goes(tmp_path: Path) -> None:
    """The kubelet kills pause ~50 ms after the app and the CNI plugin removes the interface ~50 ms
    later (README finding 41): resets sent in between are counted in the pod's namespace, which the
    poller holds open; it lets it go once only `lo` is left."""
    uid = "43b6931f-3a18-4f51-aac3-f4881d8d90f4"
    cgroup = f"0::/kubelet-kubepods-besteffort-pod{uid.replace('-', '_')}.slice/cri-x.scope\n"
    write_proc(tmp_path, "self", paws=0, rsts=0)
    write_proc(tmp_path, "200", paws=0, rsts=0, cgroup=cgroup)
    write_dev(tmp_path, "200", "lo", "eth0")
    poller = NetCounterPoller({}, lambda: {uid: "web-a"}, proc=str(tmp_path))
    poller._poll()
    (tmp_path / "200").rename(tmp_path / "gone-200")  # pause exited: no process of the pod is listed
    write_proc(tmp_path, "gone-200", paws=0, rsts=6, cgroup=cgroup)  # ... and its kernel reset 6 SYNs
    poller._poll()
    assert [(c.where, c.name, c.delta) for c in poller.records] == [("pod web-a", "Tcp.OutRsts", 6)]
    assert uid in poller._held
    write_proc(tmp_path, "gone-200", paws=0, rsts=8, cgroup=cgroup)
    write_dev(tmp_path, "gone-200", "lo")  # CNI DEL removed eth0
    poller._poll()  # read once more (the last two resets), then let go
    assert [c.delta for c in poller.records] == [6, 2] and uid not in poller._held
    write_proc(tmp_path, "gone-200", paws=0, rsts=20, cgroup=cgroup)
    poller._poll()
    assert len(poller.records) == 2


def test_a_pod_is_held_through_a_process_in_its_own_namespace_and_by_uid(tmp_path: Path) -> None:
    """A container's `runc init` sits in the pod's cgroup while still in the node's namespace; a pod
    recreated under the same name (a StatefulSet's) is another namespace with its own baseline."""
    import os

    old, new = "43b6931f-3a18-4f51-aac3-f4881d8d90f4", "99b6931f-3a18-4f51-aac3-f4881d8d90f4"
    cgroup = {u: f"0::/kubepods/besteffort/pod{u}/c\n" for u in (old, new)}
    write_proc(tmp_path, "self", paws=0, rsts=0)
    write_proc(tmp_path, "100", paws=0, rsts=50)  # the node
    write_proc(tmp_path, "150", paws=0, rsts=50, cgroup=cgroup[old])  # runc init, in the node's namespace
    write_proc(tmp_path, "200", paws=0, rsts=3, cgroup=cgroup[old])  # pause
    for pid in ("self", "100", "200"):
        (tmp_path / pid / "ns").mkdir()
        (tmp_path / pid / "ns" / "net").write_text(pid)
    (tmp_path / "150" / "ns").mkdir()
    os.link(tmp_path / "100" / "ns" / "net", tmp_path / "150" / "ns" / "net")  # same inode: same namespace
    names = {old: "web-0"}
    poller = NetCounterPoller({"node-1": 100}, lambda: names, proc=str(tmp_path))
    poller._poll()
    assert poller._held[old].pid == 200
    write_proc(tmp_path, "200", paws=0, rsts=5, cgroup=cgroup[old])
    write_proc(tmp_path, "300", paws=0, rsts=1, cgroup=cgroup[new])  # web-0 again, a new pod
    names[new] = "web-0"
    poller._poll()
    assert [(c.where, c.name, c.delta) for c in poller.records] == [("pod web-0", "Tcp.OutRsts", 2)]
    del names[old]  # no longer one of the Service's pods: let go
    poller._poll()
    assert set(poller._held) == {"host", "node node-1", new}
    write_proc(tmp_path, "300", paws=0, rsts=4, cgroup=cgroup[new])
    poller.stop()
    assert [(c.where, c.delta) for c in poller.records] == [("pod web-0", 2), ("pod web-0", 3)]
    assert poller._held == {}


def test_each_reading_is_stamped_by_its_own_instants(tmp_path: Path, monkeypatch) -> None:
    """A poll lists every process before it reads the pods (tens of ms on a busy node): a pod's rise
    covers from when its previous reading began to when this one ended, not the poll's start."""
    import harness.netcounters as nc

    ticks = iter(range(1000))
    monkeypatch.setattr(nc, "clock", lambda: float(next(ticks)))
    uid = "43b6931f-3a18-4f51-aac3-f4881d8d90f4"
    write_proc(tmp_path, "self", paws=0, rsts=0)
    write_proc(tmp_path, "200", paws=0, rsts=0, cgroup=f"0::/kubepods/pod{uid}/c\n")
    poller = NetCounterPoller({}, lambda: {uid: "web-a"}, proc=str(tmp_path))
    poller._poll()
    write_proc(tmp_path, "self", paws=0, rsts=1)
    write_proc(tmp_path, "200", paws=0, rsts=1, cgroup=f"0::/kubepods/pod{uid}/c\n")
    poller._poll()
    host, pod = (next(c for c in poller.records if c.where == w) for w in ("host", "pod web-a"))
    assert host.since < host.t and pod.since < pod.t
    assert (host.since, host.t) != (pod.since, pod.t) and host.t < pod.t  # the host is read first
