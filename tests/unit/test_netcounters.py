"""Kernel counters: parsing /proc's files, and the poller on a fake /proc tree (pure files)."""

from __future__ import annotations

from pathlib import Path

from harness.netcounters import NetCounterPoller, parse_conntrack_stats, parse_proc_counters, read_counters

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
