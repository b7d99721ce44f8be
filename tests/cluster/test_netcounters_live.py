"""A pod's kernel counters on the real data path: its resets are counted to the end of its namespace.

README finding 41: a pod without a preStop hook refuses connections from its app's exit until the
CNI plugin removes its interface, and for part of that time no process of it is left. A reset that
was sent and not counted would leave a refusal with no pod to name.
"""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest

from harness.manifests import deployment
from harness.netcounters import NetCounterPoller, pod_uid
from harness.netns import join_netns
from harness.poll import poll
from harness.samples import clock

NAME = "resets-demo"


def _pod_pids(uid: str) -> list[int]:
    """Host PIDs of the pod's processes (kind nodes' pods are host processes)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cgroup") as f:
                    if pod_uid(f.read()) == uid:
                        found.append(int(entry))
            except OSError:
                continue
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _syn_every_ms(node_pid: int, ip: str, pids: list[int], stop: threading.Event, out: list) -> None:
    """From the node's network namespace, connect to `ip`:80 about every millisecond; record each
    refusal's instant, and when the last of `pids` was seen gone."""
    join_netns(node_pid)
    while not stop.is_set():
        started = clock()
        with socket.socket() as sock:
            sock.settimeout(0.05)
            try:
                sock.connect((ip, 80))
            except ConnectionRefusedError:
                out.append(("refused", started))
            except OSError:
                pass
        if pids and not any(_alive(p) for p in pids):
            out.append(("gone", clock()))
            pids = []
        time.sleep(0.001)


def test_a_pods_resets_are_counted_after_its_last_process_exits(
    cluster, core_api, namespace, deployments, app_images, record, timeouts
):
    """Deleting a pod with no preStop hook while SYNs go to its IP about every millisecond from its
    node: each refusal the client saw MUST be counted among the pod's resets (`Tcp.OutRsts`), those
    after its last process exited too."""
    from harness.session import kind_node_pids

    nodes, note = kind_node_pids(cluster)
    if not nodes:
        pytest.skip(f"pods' counters are read only on kind nodes this host started: {note}")
    deployments.apply(deployment(NAME, app_images["old"].image, replicas=1, hardened=False))
    deployments.wait_rollout_complete(NAME, timeouts.rollout)
    pod = core_api.list_namespaced_pod(namespace, label_selector=f"app={NAME}").items[0]
    name, uid, ip = pod.metadata.name, pod.metadata.uid, pod.status.pod_ip
    pids = _pod_pids(uid)
    assert pids, f"no process of pod {name} ({uid}) found on this host"

    poller = NetCounterPoller(nodes, lambda: {uid: name}).start()
    stop, seen = threading.Event(), []
    client = threading.Thread(target=_syn_every_ms, args=(nodes[pod.spec.node_name], ip, pids, stop, seen))
    client.start()
    try:
        time.sleep(0.5)
        core_api.delete_namespaced_pod(name, namespace)
        poll(
            lambda: (any(kind == "gone" for kind, _ in seen), len(seen)),
            waited_for=f"every process of pod {name} to exit",
            timeout=timeouts.pod_exit,
            interval=0.1,
        )
        time.sleep(1.0)  # past the interface's removal (tens of ms after the last process)
    finally:
        stop.set()
        client.join(5)
        records = poller.stop()
    refused = [t for kind, t in seen if kind == "refused"]
    gone = next(t for kind, t in seen if kind == "gone")
    counted = sum(c.delta for c in records if c.where == f"pod {name}" and c.name == "Tcp.OutRsts")
    after = sum(1 for t in refused if t > gone)
    record.measure("refusals-seen", str(len(refused)))
    record.measure("refusals-after-its-last-process", str(after))
    record.measure("resets-counted", str(counted))
    assert refused, f"pod {name} refused no SYN while it stopped: the case is not exercised"
    assert counted >= len(refused), (
        f"pod {name} refused {len(refused)} SYNs ({after} after its last process exited) "
        f"but its kernel's counted resets add up to {counted}"
    )
