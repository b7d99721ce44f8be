"""Each cause class, from a recorded data-path timeline, with the text it gives."""

from __future__ import annotations

import dataclasses

import pytest

from harness.attribution import CAUSES, Attribution, attribute, attributor, by_port, same_port_failure
from harness.datapath import (
    DataPathTimeline,
    EndpointEvent,
    EndpointState,
    PodTransition,
    ProxySync,
    endpoint_states,
    parse_sync_metric,
    pod_transitions,
)
from harness.netcounters import CounterChange
from harness.rollout.pods import PodEvent, PodState
from harness.samples import ProbeSample

OLD_IMG, NEW_IMG = "rollproof/nginx:1.22.1", "rollproof/nginx:1.26.3"
VERSIONS = {OLD_IMG: "nginx/1.22.1", NEW_IMG: "nginx/1.26.3"}
A = EndpointState("10.244.0.5", "web-old-a", "node-1", True, True, False)
B = EndpointState("10.244.0.6", "web-new-b", "node-1", True, True, False)


def ep(t: float, kind: str, state: EndpointState, **changes: bool) -> EndpointEvent:
    fields = {**state.__dict__, **changes}
    return EndpointEvent(t, kind, EndpointState(**fields))


def pod(t: float, name: str, what: str, ip: str, image: str = OLD_IMG, code: int | None = None) -> PodTransition:
    return PodTransition(t, name, what, "node-1", ip, image, code)


def failed(t: float, error: str = "reset", reused: bool = False) -> ProbeSample:
    return ProbeSample(t, t + 0.001, None, error, reused=reused)


def timeline(
    endpoints: list[EndpointEvent], pods: list[PodTransition], syncs: list[float] = (), proxied: bool = True
) -> DataPathTimeline:
    return DataPathTimeline(
        "web",
        tuple(sorted(endpoints, key=lambda e: e.t)),
        tuple(sorted(pods, key=lambda p: p.t)),
        tuple(ProxySync("node-1", s, s) for s in syncs),
        ("node-1",) if proxied else (),
    )


def test_stale_proxy_rules() -> None:
    """The endpoint left at +10.0, the container exited at +10.2, kube-proxy's last sync was +9.5 and its
    next +10.6: a reset at +10.3 went to the stopped pod through stale rules."""
    tl = timeline(
        [ep(0.0, "added", A), ep(10.0, "changed", A, ready=False, terminating=True)],
        [pod(9.99, "web-old-a", "terminating", A.address), pod(10.2, "web-old-a", "exited", A.address, code=0)],
        syncs=[9.5, 10.6],
    )
    a = attribute(failed(10.3), tl, versions=VERSIONS)
    assert a.cause == "stale-proxy-rules" and a.pod == "web-old-a" and a.node == "node-1"
    assert a.text == (
        "reset at +10.300s, 100 ms after pod web-old-a (nginx/1.22.1) exited; its endpoint left the "
        "ready set at +10.000s but kube-proxy on node-1 had not synced since +9.500s: traffic still "
        "went to the stopped pod"
    )
    assert a.nearest[-1].startswith("+10.600s (+300 ms) kube-proxy on node-1 synced") or any(
        "kube-proxy on node-1 synced" in n for n in a.nearest
    )


def test_stopped_while_routed_the_endpoint_still_ready() -> None:
    tl = timeline([ep(0.0, "added", A)], [pod(5.0, "web-old-a", "exited", A.address, code=0)], syncs=[1.0])
    a = attribute(failed(5.04, "connect-refused"), tl, versions=VERSIONS)
    assert a.cause == "stopped-while-routed"
    assert a.text == (
        "connect-refused at +5.040s, 40 ms after pod web-old-a (nginx/1.22.1) exited while its "
        "endpoint was still ready on node node-1: the app stopped before it left the Service"
    )


def test_stopped_while_routed_terminating_without_a_pre_stop_delay() -> None:
    tl = timeline(
        [ep(0.0, "added", A), ep(3.3, "changed", A, ready=False, serving=False, terminating=True)],
        [pod(3.0, "web-old-a", "terminating", A.address)],
        syncs=[1.0, 3.9],
    )
    a = attribute(failed(3.5, "connect-refused"), tl, versions=VERSIONS)
    assert a.cause == "stopped-while-routed"
    assert "began terminating while its endpoint was ready until +3.300s and still in the rules" in a.text


def test_a_pod_whose_rules_were_gone_is_not_blamed() -> None:
    tl = timeline(
        [ep(0.0, "added", A), ep(0.0, "added", B), ep(1.0, "changed", A, ready=False, terminating=True)],
        [pod(0.9, "web-old-a", "terminating", A.address), pod(4.9, "web-old-a", "exited", A.address)],
        syncs=[1.2],
    )
    assert attribute(failed(5.0), tl).cause == "unattributed"


def test_routed_before_listening() -> None:
    tl = timeline([ep(0.0, "added", A), ep(7.0, "added", B)], [pod(6.5, "web-new-b", "created", B.address, NEW_IMG)])
    a = attribute(failed(7.1, "connect-refused"), tl, versions=VERSIONS)
    assert a.cause == "routed-before-listening" and a.pod == "web-new-b"
    assert a.text == (
        "connect-refused at +7.100s, 100 ms after endpoint 10.244.0.6 (web-new-b) became ready: "
        "routed to before it accepted connections (no readiness probe?)"
    )


def test_keepalive_closed_at_shutdown() -> None:
    tl = timeline([ep(0.0, "added", A)], [pod(8.0, "web-old-a", "terminating", A.address)])
    a = attribute(failed(12.01, "closed", reused=True), tl, versions=VERSIONS)
    assert a.cause == "keepalive-closed-at-shutdown"
    assert a.text.startswith(
        "closed at +12.010s on a reused connection, 4010 ms after pod web-old-a (nginx/1.22.1) terminating"
    )


def test_no_ready_endpoint() -> None:
    tl = timeline([ep(0.0, "added", A), ep(2.0, "changed", A, ready=False)], [])
    a = attribute(failed(9.0, "connect-timeout"), tl)
    assert a.cause == "no-ready-endpoint"
    assert a.text == "connect-timeout at +9.000s: the Service had no ready endpoint (1 listed, none ready)"


def test_no_ready_endpoint_in_kube_proxys_rules_refuses() -> None:
    """The only endpoint was not ready from +2.0 to +10.0; kube-proxy last synced at +3.0 and next at
    +10.5: a refusal at +10.2 came from its reject rule for a Service without endpoints."""
    tl = timeline(
        [ep(0.0, "added", A), ep(2.0, "changed", A, ready=False), ep(10.0, "changed", A, ready=True)],
        [dataclasses.replace(pod(0.0, "web-old-a", "listed", A.address), readiness_probe=True)],
        syncs=[1.0, 3.0, 10.5],
    )
    a = attribute(failed(10.2, "connect-refused"), tl)
    assert a.cause == "no-ready-endpoint" and a.node == "node-1"
    assert a.text == (
        "connect-refused at +10.200s: kube-proxy on node-1 last synced at +3.000s, when the Service had no "
        "ready endpoint, so its rules still rejected connections to it"
    )
    assert attribute(failed(10.6, "connect-refused"), tl).cause == "unattributed"
    # read, the rules say it themselves: the sync of +3.0 sent the Service nowhere, that of +10.5 to A
    read = dataclasses.replace(
        tl,
        proxy=tuple(
            dataclasses.replace(p, routes=(A.address,) if p.synced_at in (1.0, 10.5) else ()) for p in tl.proxy
        ),
    )
    assert attribute(failed(10.2, "connect-refused"), read).text == (
        "connect-refused at +10.200s: kube-proxy's rules on node-1, read after its sync of +3.000s, sent the "
        "Service nowhere, so its rules still rejected connections to it"
    )
    assert attribute(failed(10.6, "connect-refused"), read).cause == "unattributed"


def test_unattributed_says_so() -> None:
    tl = timeline([ep(0.0, "added", A)], [pod(0.0, "web-old-a", "listed", A.address)], syncs=[0.5])
    a = attribute(failed(30.0), tl)
    assert a.cause == "unattributed"
    assert "no endpoint or pod transition within 5 s explains it" in a.text
    assert a.nearest == ("+0.500s (-29500 ms) kube-proxy on node-1 synced",)


def with_counters(tl: DataPathTimeline, *changes: CounterChange) -> DataPathTimeline:
    return dataclasses.replace(tl, counters=tuple(changes), counters_read=True)


def test_paws_timewait_a_timeout_while_a_pod_dropped_syns_at_time_wait() -> None:
    """Read-timeout from +30.0 to +32.0 (the SYN and its retransmission dropped); pod web-old-a's
    TcpExt.PAWSTimewait rose between +29.9 and +30.1: the cause, with the counter quoted."""
    tl = with_counters(
        timeline([ep(0.0, "added", A)], [pod(0.0, "web-old-a", "listed", A.address)]),
        CounterChange(30.1, 29.9, "pod web-old-a", "TcpExt.PAWSTimewait", 1),
        CounterChange(30.1, 29.9, "host", "TcpExt.PAWSTimewait", 5),
    )
    sample = ProbeSample(30.0, 32.0, None, "read-timeout")
    a = attribute(sample, tl)
    assert a.cause == "paws-timewait" and a.pod == "web-old-a"
    assert a.text.startswith(
        "read-timeout at +30.000s: pod web-old-a TcpExt.PAWSTimewait +1 (SYNs dropped: the "
        "PAWS timestamp check against a TIME_WAIT socket"
    )
    assert "+29.900s..+30.100s pod web-old-a: TcpExt.PAWSTimewait +1" in a.nearest
    assert not any(n.startswith("+29.900s..+30.100s host") for n in a.nearest), "the host's own counters are noise"
    # a reset is not what a dropped SYN gives; a counter outside the request (beyond one poll) is not evidence
    assert attribute(failed(30.0), tl).cause == "unattributed"
    assert attribute(ProbeSample(40.0, 42.0, None, "read-timeout"), tl).cause == "unattributed"


def test_kernel_drop_names_the_counter_and_where() -> None:
    tl = with_counters(
        timeline([ep(0.0, "added", A)], []), CounterChange(20.2, 20.0, "node node-1", "conntrack.insert_failed", 2)
    )
    a = attribute(failed(20.1), tl)
    assert a.cause == "kernel-drop"
    assert a.text == (
        "reset at +20.100s: the kernel counted drops during the request: node node-1 "
        "conntrack.insert_failed +2 (connections whose conntrack entry could not be inserted "
        "(a NAT clash))"
    )


def test_a_pod_held_by_its_pre_stop_hook_was_not_stopped_by_beginning_to_terminate() -> None:
    """The 3-node run's StatefulSet: a connect-timeout at +69.064 s, 378 ms after pod
    statefulset-demo-0 began terminating, still ready in the rules; its preStop sleep kept nginx
    serving until +73.6 s, and the pod counted TcpExt.PAWSTimewait +1 during the request. Its
    terminating is not the cause (the app was not stopped); the PAWS drop is. A pod without a preStop
    hook is stopped by SIGTERM as it begins terminating: that stays stopped-while-routed."""
    held = dataclasses.replace(pod(68.686, "web-old-a", "terminating", A.address), pre_stop=True)
    tl = with_counters(
        timeline([ep(0.0, "added", A)], [held]),
        CounterChange(69.642, 69.433, "pod web-old-a", "TcpExt.PAWSTimewait", 1),
    )
    timeout = ProbeSample(69.064, 70.064, None, "connect-timeout")
    assert attribute(timeout, tl, versions=VERSIONS).cause == "paws-timewait"
    bare = with_counters(timeline([ep(0.0, "added", A)], [dataclasses.replace(held, pre_stop=False)]), *tl.counters)
    a = attribute(timeout, bare, versions=VERSIONS)
    assert a.cause == "stopped-while-routed" and "it has no preStop hook" in a.text


def test_cpu_starved_a_timeout_while_a_pods_processes_waited_for_a_cpu() -> None:
    """Read-timeout from +20.0 to +22.0; pod web-old-a's processes were credited 1.3 s of run-queue
    delay by +22.4 and its accept queue overflowed meanwhile: the pod did not run to answer, even
    though it also began terminating (still ready, preStop holding it) at +19.0."""
    tl = with_counters(
        timeline([ep(0.0, "added", A)], [pod(19.0, "web-old-a", "terminating", A.address)]),
        CounterChange(20.4, 20.2, "pod web-old-a", "TcpExt.ListenOverflows", 39),
        CounterChange(22.4, 22.2, "pod web-old-a", "sched.wait_ms", 1300),
        CounterChange(22.4, 22.2, "pod web-new-b", "sched.wait_ms", 40),
    )
    a = attribute(ProbeSample(20.0, 22.0, None, "read-timeout"), tl, versions=VERSIONS)
    assert a.cause == "cpu-starved" and a.pod == "web-old-a"
    assert a.text == (
        "read-timeout at +20.000s: a task of pod web-old-a waited 1300 ms for a CPU while runnable "
        "(run-queue delay credited +22.200s..+22.400s); meanwhile pod web-old-a TcpExt.ListenOverflows +39 "
        "(connections dropped: a listener's accept queue was full): the pod was not run to answer"
    )
    # an answer (a reset) is not what a pod that did not run gives; a short wait does not explain a timeout;
    # a wait credited long after the request is not evidence
    assert attribute(ProbeSample(20.0, 20.001, None, "reset"), tl).cause != "cpu-starved"
    short = with_counters(tl, CounterChange(22.4, 22.2, "pod web-old-a", "sched.wait_ms", 300))
    assert attribute(ProbeSample(20.0, 22.0, None, "read-timeout"), short).cause != "cpu-starved"
    assert attribute(ProbeSample(10.0, 12.0, None, "read-timeout"), tl).cause != "cpu-starved"
    # a connection that timed out: the kernel answers SYNs whether nginx runs or not, unless its accept
    # queue was full (here it overflowed at +20.2..+20.4, so a connect-timeout from +20.0 is starvation)
    assert attribute(ProbeSample(20.0, 21.2, None, "connect-timeout"), tl).cause == "cpu-starved"
    no_queue = with_counters(tl, *(c for c in tl.counters if c.name != "TcpExt.ListenOverflows"))
    assert attribute(ProbeSample(20.0, 21.2, None, "connect-timeout"), no_queue).cause != "cpu-starved"


def test_cpu_starved_says_where_the_cpu_time_went_meanwhile() -> None:
    """With the CPU ledger polled beside the counters, the cause names who had the CPUs while the pod
    waited: here the kind node and the samplers, over the polls of the credited wait."""
    tl = with_counters(
        timeline([ep(0.0, "added", A)], []),
        CounterChange(22.2, 22.0, "pod web-old-a", "sched.wait_ms", 1300),
        CounterChange(22.4, 22.2, "pod web-old-a", "sched.wait_ms", 200),
        *(
            CounterChange(t + 0.2, t, where, name, ms)
            for t in (22.0, 22.2)
            for where, name, ms in (
                ("host", "cpu.capacity_ms", 400),
                ("host", "cpu.idle_ms", 50),
                ("host", "cpu.samplers_ms", 120),
                ("host", "cpu.harness_ms", 20),
                ("node node-1", "cpu.node_ms", 200),
            )
        ),
        CounterChange(30.2, 30.0, "host", "cpu.capacity_ms", 400),  # later: not this wait's
    )
    a = attribute(ProbeSample(20.0, 22.0, None, "read-timeout"), tl, versions=VERSIONS)
    assert a.cause == "cpu-starved"
    assert a.text.endswith(
        "the pod was not run to answer; meanwhile the CPUs had 800 ms, 100 of them idle: the kind node 400, "
        "the samplers 240, the harness 40, everything else 20"
    )
    assert all("cpu." not in line for line in a.nearest)


def test_cpu_starved_splits_the_node_s_share_when_its_pods_were_read() -> None:
    tl = with_counters(
        timeline([ep(0.0, "added", A)], []),
        CounterChange(22.2, 22.0, "pod web-old-a", "sched.wait_ms", 1300),
        *(
            CounterChange(22.2, 22.0, where, name, ms)
            for where, name, ms in (
                ("host", "cpu.capacity_ms", 400),
                ("host", "cpu.idle_ms", 10),
                ("host", "cpu.samplers_ms", 100),
                ("node node-1", "cpu.node_ms", 280),
                ("node node-1", "cpu.node_pods_ms", 180),
                ("node node-1", "cpu.service_pods_ms", 5),
            )
        ),
    )
    a = attribute(ProbeSample(20.0, 22.0, None, "read-timeout"), tl, versions=VERSIONS)
    assert a.cause == "cpu-starved"
    assert a.text.endswith(
        "meanwhile the CPUs had 400 ms, 10 of them idle: the kind node 280 (the Service's pods 5, the node's "
        "other pods 175, its kubelet, runtime and the rest 100), the samplers 100, everything else 10"
    )


def test_unattributed_says_whether_kernel_counters_were_read() -> None:
    tl = timeline([ep(0.0, "added", A)], [])
    assert "kernel counters were not read" in attribute(failed(30.0), tl).text
    assert "no kernel drop counter of a node or pod rose during it" in attribute(failed(30.0), with_counters(tl)).text


def test_without_kube_proxy_syncs_a_grace_is_assumed_and_said() -> None:
    tl = timeline(
        [ep(0.0, "added", A), ep(0.0, "added", B), ep(10.0, "changed", A, ready=False, terminating=True)],
        [pod(10.2, "web-old-a", "exited", A.address)],
        proxied=False,
    )
    a = attribute(failed(10.5), tl)
    assert a.cause == "stale-proxy-rules" and "kube-proxy's syncs were not recorded" in a.text
    assert attribute(failed(11.5), tl).cause == "unattributed"


def test_every_cause_is_tested_and_attributor_maps() -> None:
    assert set(CAUSES) == {
        "keepalive-closed-at-shutdown",
        "cpu-starved",
        "stale-proxy-rules",
        "stopped-while-routed",
        "routed-before-listening",
        "no-ready-endpoint",
        "stale-conntrack",
        "paws-timewait",
        "kernel-drop",
        "unattributed",
    }
    tl = timeline([ep(0.0, "added", A)], [])
    assert [a.cause for a in attributor(tl, origin=-1.0)([failed(3.0), failed(4.0)])] == ["unattributed"] * 2


# --------------------------------------------------------------------------- the records behind it


def test_endpoint_states_from_slices() -> None:
    slices = [
        {
            "endpoints": [
                {
                    "addresses": ["10.0.0.1"],
                    "conditions": {"ready": True, "serving": True, "terminating": False},
                    "targetRef": {"kind": "Pod", "name": "a"},
                    "nodeName": "n1",
                },
                {
                    "addresses": ["10.0.0.2"],
                    "conditions": {"ready": False, "serving": True, "terminating": True},
                    "targetRef": {"kind": "Pod", "name": "b"},
                    "nodeName": "n1",
                },
                {"addresses": ["10.0.0.3"], "conditions": {}},
                {"addresses": []},
            ]
        }
    ]
    states = endpoint_states(slices)
    assert states["10.0.0.1"].ready and states["10.0.0.1"].pod == "a"
    assert (states["10.0.0.2"].ready, states["10.0.0.2"].serving, states["10.0.0.2"].terminating) == (False, True, True)
    assert states["10.0.0.3"].ready and states["10.0.0.3"].serving  # unset conditions mean ready (API docs)
    assert len(states) == 3


def test_pod_transitions_from_watcher_events() -> None:
    def state(**kw: object) -> PodState:
        base = dict(
            name="web-a",
            uid="u1",
            revision=None,
            image=OLD_IMG,
            node="n1",
            ready=True,
            terminating=False,
            ip="10.0.0.1",
        )
        return PodState(**{**base, **kw})  # type: ignore[arg-type]

    events = [
        PodEvent(0.0, "added", state(ready=False)),
        PodEvent(1.0, "modified", state()),
        PodEvent(5.0, "modified", state(terminating=True)),
        PodEvent(9.0, "modified", state(terminating=True, ready=False, exit_code=0)),
        PodEvent(9.5, "deleted", state(terminating=True, ready=False, exit_code=0)),
    ]
    steps = [(p.t, p.what, p.exit_code) for p in pod_transitions(events)]
    assert steps == [
        (0.0, "created", None),
        (1.0, "ready", None),
        (5.0, "terminating", None),
        (9.0, "not-ready", None),
        (9.0, "exited", 0),
        (9.5, "deleted", None),
    ]


def test_an_exit_is_placed_on_the_harness_clock_by_the_container_s_finish() -> None:
    """The status showing the exit was seen at 9.0 (Unix 1000.0 then); the container finished at Unix
    997, so its exit lies within 6.0..7.0 on the harness clock."""
    from harness.rollout.pods import pod_state

    api = {
        "metadata": {"name": "web-a", "uid": "u1", "deletionTimestamp": "2026-12-02T15:43:00Z"},
        "spec": {"containers": [{"image": OLD_IMG}]},
        "status": {
            "containerStatuses": [
                {"state": {"terminated": {"exitCode": 0, "finishedAt": "2026-12-02T15:43:05Z"}}},
            ]
        },
    }
    gone = pod_state(api)
    assert gone.exit_code == 0 and gone.finished_at == 1796226185.0
    running = dataclasses.replace(gone, exit_code=None, finished_at=None)
    events = [PodEvent(5.0, "modified", running, 1796226181.0), PodEvent(9.0, "modified", gone, 1796226188.0)]
    exited = [p for p in pod_transitions(events) if p.what == "exited"]
    assert [(p.t, p.finished) for p in exited] == [(9.0, 6.0)]
    assert pod_state({**api, "status": {"containerStatuses": [{"state": {"terminated": {}}}]}}).finished_at is None


def test_kube_proxy_sync_metric() -> None:
    text = (
        "# HELP kubeproxy_sync_proxy_rules_last_timestamp_seconds [ALPHA] ...\n"
        "# TYPE kubeproxy_sync_proxy_rules_last_timestamp_seconds gauge\n"
        "kubeproxy_sync_proxy_rules_last_timestamp_seconds 1.7646192123456e+09\n"
    )
    assert parse_sync_metric(text) == 1.7646192123456e09
    assert parse_sync_metric('sync_proxy_rules_last_timestamp_seconds{ip_family="IPv4"} 12.5\n') == 12.5
    assert parse_sync_metric("nothing here") is None


def test_a_pod_with_a_readiness_probe_was_listening_when_it_became_ready() -> None:
    probed = PodTransition(6.5, "web-new-b", "created", "node-1", B.address, NEW_IMG, readiness_probe=True)
    tl = timeline([ep(0.0, "added", A), ep(7.0, "added", B)], [probed])
    assert attribute(failed(7.1, "connect-refused"), tl).cause == "unattributed"


def test_stale_conntrack_a_reused_source_port_follows_the_entry_of_a_reset_connection() -> None:
    """Pod A was routed to until +5.0 (endpoint gone, kube-proxy synced +5.1), reset its open connections
    when it exited at +5.2 (its Tcp.EstabResets rose), and was deleted at +6.0; a read-timeout from +9.2 is
    put down to a conntrack entry that still pointed at it. Without the resets, or long after, it is not."""
    base = timeline(
        [ep(0.0, "added", A), ep(0.0, "added", B), ep(5.0, "removed", A, ready=False)],
        [pod(5.2, "web-old-a", "exited", A.address, code=0), pod(6.0, "web-old-a", "deleted", A.address)],
        syncs=[5.1],
    )
    tl = with_counters(base, CounterChange(5.3, 5.1, "pod web-old-a", "Tcp.EstabResets", 4))
    sample = ProbeSample(9.2, 11.2, None, "read-timeout")
    a = attribute(sample, tl, versions=VERSIONS)
    assert a.cause == "stale-conntrack" and a.pod == "web-old-a"
    assert a.text.startswith(
        "read-timeout at +9.200s, 3200 ms after pod web-old-a (nginx/1.22.1) deleted with "
        "connections open (Tcp.EstabResets +4) and out of the rules"
    )
    assert attribute(sample, with_counters(base)).cause == "unattributed"
    assert attribute(ProbeSample(200.0, 202.0, None, "read-timeout"), tl).cause == "unattributed"


def test_a_long_request_is_placed_where_its_answer_came() -> None:
    """From the 1.31 nightly (naive variant): a request sent at +6.281s whose first SYN went unanswered
    was closed 1092 ms later, when its retransmission reached a pod that had begun terminating at +7.140s
    and was still in the rules (ready until +7.168s, kube-proxy's next sync +7.484s). Placed at its start,
    no transition explained it; placed at its answer, it has the cause of the failures around it."""
    old = EndpointState("10.244.0.27", "web-old-a", "node-1", True, True, False)
    tl = timeline(
        [ep(0.0, "added", old), ep(0.0, "added", B), ep(7.168, "changed", old, ready=False, terminating=True)],
        [pod(7.14, "web-old-a", "terminating", old.address), pod(7.734, "web-old-a", "exited", old.address)],
        syncs=[6.44, 7.484],
    )
    sample = ProbeSample(6.2813, 6.2813 + 1.0921, None, "closed")
    a = attribute(sample, tl, versions=VERSIONS)
    assert a.cause == "stopped-while-routed" and a.pod == "web-old-a"
    assert a.t == 6.2813
    assert a.text.startswith(
        "closed at +7.373s (the answer to a request sent at +6.281s, 1092 ms in flight), 233 ms after pod "
        "web-old-a (nginx/1.22.1) began terminating while its endpoint was ready until +7.168s and still in the rules"
    )
    # a timeout is a failure from its start: the same request timing out is not moved
    timed_out = attribute(dataclasses.replace(sample, error="read-timeout"), tl, versions=VERSIONS)
    assert timed_out.cause != "stopped-while-routed"


def test_without_endpoint_events_a_failure_is_unattributed_and_says_why() -> None:
    """A 1.15 server has no EndpointSlices: the naive variant's failures were left without any cause
    (its causes row read "none" beside 394 failed requests). Now each says what was missing."""
    tl = dataclasses.replace(
        timeline([], [pod(4.9, "web-old-a", "terminating", A.address), pod(5.0, "web-old-a", "exited", A.address)]),
        notes=("no EndpointSlices on this server (discovery.k8s.io/v1 arrived in 1.21): no endpoint events",),
    )
    a = attribute(failed(5.04, "connect-refused"), tl, versions=VERSIONS)
    assert a.cause == "unattributed"
    assert "the Service's endpoint changes were not recorded (no EndpointSlices on this server" in a.text
    # a stale conntrack entry is "out of the rules": without endpoint events that cannot be known either
    resets = CounterChange(5.1, 4.9, "pod web-old-a", "Tcp.EstabResets", 3)
    timed_out = attribute(failed(6.0, "read-timeout"), with_counters(tl, resets), versions=VERSIONS)
    assert timed_out.cause == "unattributed"


def test_v1_endpoints_read_as_one_slice_ready_and_not_ready() -> None:
    from harness.datapath import endpoints_as_slice

    obj = {
        "metadata": {"name": "web"},
        "subsets": [
            {
                "addresses": [{"ip": "10.244.0.5", "nodeName": "node-1", "targetRef": {"kind": "Pod", "name": "a"}}],
                "notReadyAddresses": [
                    {"ip": "10.244.0.6", "nodeName": "node-1", "targetRef": {"kind": "Pod", "name": "b"}}
                ],
            }
        ],
    }
    states = endpoint_states([endpoints_as_slice(obj)])
    assert states["10.244.0.5"] == EndpointState("10.244.0.5", "a", "node-1", True, True, False)
    assert states["10.244.0.6"] == EndpointState("10.244.0.6", "b", "node-1", False, False, False)
    assert endpoint_states([endpoints_as_slice({"metadata": {"name": "web"}})]) == {}


# --------------------------------------------------------------------------- the source port's own record


def from_port(t: float, error: str, port: int, took: float = 0.001) -> ProbeSample:
    return ProbeSample(t, t + took, None, error, port=port)


def test_stale_conntrack_by_source_port_an_unanswered_syn_leaves_its_entry_for_120_s() -> None:
    """An unanswered SYN from port 40002 at +10 (entry SYN_SENT, 120 s, its NAT kept): a SYN from the same
    port at +15.3 answered by an ICMP unreachable met that entry; nothing else recorded explains it."""
    tl = timeline([ep(0.0, "added", A)], [pod(0.0, "web-old-a", "listed", A.address)], syncs=[0.5])
    earlier = from_port(10.0, "connect-timeout", 40002, took=1.0)
    later = from_port(15.3, "connect-unreachable", 40002)
    a, b = attributor(tl, source_ports=True, host_failures=[earlier])([later, from_port(15.4, "connect-error", 40004)])
    assert a.cause == "stale-conntrack" and a.pod is None
    assert a.text == (
        "connect-unreachable at +15.300s: its source port 40002 had carried the request sent at +10.000s "
        "(connect-timeout, 4.3 s before), whose conntrack entry (SYN_SENT, 120 s) keeps its NAT: this SYN "
        "went where that one went"
    )
    assert b.cause == "unattributed"  # another port


def test_same_port_needs_the_entry_alive_and_a_route_without_a_proxy() -> None:
    reset = from_port(10.0, "reset", 40002)
    assert same_port_failure(from_port(19.0, "connect-timeout", 40002), by_port([reset])) == reset  # CLOSE: 10 s
    assert same_port_failure(from_port(20.5, "connect-timeout", 40002), by_port([reset])) is None
    read = from_port(10.0, "read-timeout", 40002)  # the sampler's own reset clears that entry
    assert same_port_failure(from_port(11.0, "connect-timeout", 40002), by_port([read])) is None
    assert same_port_failure(from_port(9.0, "connect-timeout", 40002), by_port([reset])) is None  # not earlier
    tl = timeline([ep(0.0, "added", A)], [])
    # the mapped route: the port is the client's to Docker's proxy, not the one the node saw
    assert attributor(tl, host_failures=[reset])([from_port(12.0, "reset", 40002)])[0].cause == "unattributed"
    newest = from_port(11.0, "connect-refused", 40002)
    assert same_port_failure(from_port(12.0, "reset", 40002), by_port([reset, newest])) == newest


def test_a_keep_alive_connection_the_server_reset_leaves_its_port_to_a_new_connection() -> None:
    """Clean-clone run B4, naive variant: the keep-alive sampler opened a connection from port 47534 at
    +3.439 s (to a pod that then stopped) and its request at +4.223 s was reset by the server; at +9.682
    s the new-connection sampler's SYN from the same port met the CLOSE entry and its NAT to the gone
    pod (connect-unreachable). The reused request carries no port of its own: its connection's is used."""
    from harness.samples import failures_with_ports

    tl = timeline([ep(0.0, "added", A)], [pod(0.0, "web-old-a", "listed", A.address)], syncs=[0.5])
    opened = ProbeSample(3.439, 3.446, 200, None, "nginx/1.22.1", conn=7, port=47534, witness=1)
    reused = ProbeSample(4.223, 4.2255, None, "reset", conn=7, reused=True, witness=1)
    other = ProbeSample(4.3, 4.3001, None, "reset", conn=9, reused=True, witness=1)  # its opening not seen
    keep_alive = failures_with_ports([opened, reused, other])
    assert [(s.port, s.reused) for s in keep_alive] == [(47534, True), (None, True)]
    later = from_port(9.682, "connect-unreachable", 47534, took=0.0001)
    a = attributor(tl, source_ports=True, host_failures=keep_alive)([later])[0]
    assert a.cause == "stale-conntrack"
    assert a.text == (
        "connect-unreachable at +9.682s: its source port 47534 had carried the request sent at +4.223s "
        "(reset over a reused connection, 5.5 s before), whose conntrack entry (CLOSE, 10 s) keeps its NAT: "
        "this SYN went where that one went"
    )
    assert attributor(tl, source_ports=True, host_failures=[reused])([later])[0].cause == "unattributed"


def test_a_sync_begun_before_an_endpoint_change_does_not_hold_it() -> None:
    """Nightly B, 1.33, naive variant: five connect-timeouts at +4.888-4.912 s. Pod web-old-a was not
    ready from +4.514 s and exited (seen +4.927 s); kube-proxy stamped a sync at +4.691 s, so the
    requests were taken to have left its rules and stayed unattributed. kube-proxy stamps a sync when
    its rules are written and takes the endpoint changes it has when the sync begins: a sync begun at
    +4.45 s (0.24 s long) did not have the change; the next one, begun at +5.30 s, did. Traffic
    still went to the stopped pod: stale-proxy-rules."""
    eps = [ep(0.0, "added", A), ep(0.0, "added", B), ep(4.514, "changed", A, ready=False, terminating=True)]
    pods = [pod(4.446, "web-old-a", "terminating", A.address), pod(4.927, "web-old-a", "exited", A.address, code=0)]
    tl = dataclasses.replace(
        timeline(eps, pods),
        proxy=(
            ProxySync("node-1", 3.362, 3.40, 3.2),
            ProxySync("node-1", 4.691, 4.75, 4.451),
            ProxySync("node-1", 5.447, 5.5, 5.30),
        ),
    )
    a = attribute(ProbeSample(4.888, 5.888, None, "connect-timeout"), tl, versions=VERSIONS)
    assert a.cause == "stale-proxy-rules" and a.pod == "web-old-a"
    assert "had last synced at +4.691s with a sync begun at +4.451s, before that change" in a.text
    # without the syncs' beginnings the stamp is all there is, and the same failure is not explained this way
    stamps = dataclasses.replace(tl, proxy=tuple(dataclasses.replace(p, started_at=None) for p in tl.proxy))
    assert attribute(ProbeSample(4.888, 5.888, None, "connect-timeout"), stamps).cause != "stale-proxy-rules"


def test_sync_durations_give_when_a_sync_began() -> None:
    from harness.datapath import parse_sync_durations, sync_took

    text = (
        "# HELP kubeproxy_sync_proxy_rules_duration_seconds ...\n"
        'kubeproxy_sync_proxy_rules_duration_seconds_bucket{le="0.001"} 0\n'
        "kubeproxy_sync_proxy_rules_duration_seconds_sum 12.5\n"
        "kubeproxy_sync_proxy_rules_duration_seconds_count 40\n"
    )
    assert parse_sync_durations(text) == (12.5, 40)
    assert parse_sync_durations("kubeproxy_sync_proxy_rules_last_timestamp_seconds 1.7e9\n") is None
    assert sync_took((12.5, 40), (12.74, 41)) == pytest.approx(0.24)
    assert sync_took((12.5, 40), (12.9, 42)) == pytest.approx(0.4)  # two syncs: the longest the last may have taken
    assert sync_took((12.5, 40), (12.5, 40)) is None and sync_took(None, (1.0, 1)) is None


_DUAL = """\
kubeproxy_sync_proxy_rules_duration_seconds_sum{{ip_family="IPv4"}} {v4sum}
kubeproxy_sync_proxy_rules_duration_seconds_count{{ip_family="IPv4"}} {v4count}
kubeproxy_sync_proxy_rules_duration_seconds_sum{{ip_family="IPv6"}} 0.081133753
kubeproxy_sync_proxy_rules_duration_seconds_count{{ip_family="IPv6"}} 1
kubeproxy_sync_proxy_rules_last_timestamp_seconds{{ip_family="IPv4"}} {v4stamp}
kubeproxy_sync_proxy_rules_last_timestamp_seconds{{ip_family="IPv6"}} 1.7961951316136286e+09
"""


def _dual(stamp: float, total: float, count: int) -> str:
    return _DUAL.format(v4sum=total, v4count=count, v4stamp=stamp)


def test_each_ip_family_has_its_own_syncs() -> None:
    # kube-proxy 1.34 on an IPv4 kind cluster: both proxiers report, the IPv6 one synced once; its series
    # came last, and a parser that kept the last series never saw the IPv4 count rise (no sync start)
    from harness.datapath import parse_sync_durations

    from harness.datapath import sync_lines

    text = _dual(1796195961.9057384, 108.405660918, 340)
    assert parse_sync_durations(text) == (108.405660918, 340)
    assert parse_sync_durations(text, "IPv6") == (0.081133753, 1)
    assert parse_sync_metric(text) == 1796195961.9057384
    noisy = "go_goroutines 80\n" * 500 + text + "process_cpu_seconds_total 1.5\n" * 500  # as in kube-proxy's
    kept = sync_lines(noisy)
    assert "go_goroutines" not in kept and len(kept) < len(text)
    assert [parse_sync_durations(kept), parse_sync_durations(kept, "IPv6"), parse_sync_metric(kept)] == [
        (108.405660918, 340),
        (0.081133753, 1),
        1796195961.9057384,
    ]
    assert parse_sync_metric(text, "IPv6") == 1796195131.6136286
    reordered = "\n".join(reversed(text.splitlines())) + "\n"
    assert parse_sync_metric(reordered) == 1796195961.9057384
    assert parse_sync_durations(reordered) == (108.405660918, 340)


def test_a_sync_read_by_its_stamp_and_its_duration() -> None:
    from harness.datapath import SyncReader

    reader = SyncReader("n")
    wall = 1000.0  # harness clock = wall clock - 900 below
    first = reader.take(_dual(1000.0, 10.0, 40), 100.0, wall)
    assert first is not None and first.synced_at == pytest.approx(100.0) and first.started_at is None
    assert reader.take(_dual(1000.0, 10.0, 40), 100.1, 1000.1) is None  # nothing changed
    second = reader.take(_dual(1000.5, 10.3, 41), 100.6, 1000.6)  # stamp and count together
    assert second is not None and second.synced_at == pytest.approx(100.5)
    assert second.started_at == pytest.approx(100.2)


def test_a_stamp_seen_before_its_duration_gets_its_start_one_poll_later() -> None:
    from harness.datapath import SyncReader

    reader = SyncReader("n")
    reader.take(_dual(1000.0, 10.0, 40), 100.0, 1000.0)
    early = reader.take(_dual(1001.0, 10.0, 40), 101.05, 1001.05)  # new stamp, count not yet risen
    assert early is not None and early.started_at is None
    late = reader.take(_dual(1001.0, 10.4, 41), 101.15, 1001.15)
    assert late is not None and late.synced_at == early.synced_at
    assert late.started_at == pytest.approx(100.6)
    assert reader.take(_dual(1001.0, 10.4, 41), 101.25, 1001.25) is None
    assert SyncReader("m").take("nothing", 1.0, 1.0) is None


def _held_pod_timeline(
    endpoint: EndpointState,
    image: str,
    terminating: float,
    exited: float,
    syncs: list[tuple[float, float]],
    left: float | None = None,
) -> DataPathTimeline:
    """A pod with a 4 s preStop sleep seen terminating and then exited, its endpoint out of the ready
    set at `left` (default: when it was seen terminating), kube-proxy's syncs as (began, stamped)."""
    held = dict(pre_stop=True, pre_stop_s=4.0)
    name, ip = endpoint.pod or "", endpoint.address
    return DataPathTimeline(
        "web",
        (
            ep(0.0, "added", endpoint),
            ep(0.0, "added", B),
            ep(terminating if left is None else left, "changed", endpoint, ready=False, terminating=True),
        ),
        (
            dataclasses.replace(pod(terminating, name, "terminating", ip, image), **held),
            dataclasses.replace(pod(exited, name, "exited", ip, image, code=0), **held),
        ),
        tuple(ProxySync("node-1", stamped, stamped + 0.05, began) for began, stamped in syncs),
        ("node-1",),
    )


def test_an_exit_the_kubelet_reported_late_after_a_prestop_sleep() -> None:
    """From a suites run beside two busy containers: statefulset-demo-1 began terminating at +72.386
    (preStop `sleep 4`), its endpoint left the ready set then, kube-proxy's next sync had begun before
    that (it ended at +76.655) and the one after ended at +77.708; from +76.416 connections were
    refused, and the pod's exit was reported only at +76.951. The refusals after the preStop's end
    are the stopped pod reached through stale rules; one during the preStop is not put down to it."""
    s1 = EndpointState("10.244.0.90", "statefulset-demo-1", "node-1", True, True, False)
    tl = _held_pod_timeline(s1, NEW_IMG, 72.386, 76.951, [(68.5, 68.864), (72.1, 76.655), (77.3, 77.708)])
    refused = attribute(failed(76.416, "connect-refused"), tl, versions=VERSIONS)
    assert refused.cause == "stale-proxy-rules" and refused.pod == s1.pod
    assert refused.text == (
        "connect-refused at +76.416s, pod statefulset-demo-1 (nginx/1.26.3) terminating since +72.386s (a "
        "preStop sleep of 4 s: its app stopped from +76.386s), exited as seen 535 ms later, at +76.951s (the "
        "kubelet reports an exit up to 2 s late); its endpoint left the ready set at +72.386s but kube-proxy "
        "on node-1 had not synced since +68.864s: traffic still went to the stopped pod"
    )
    after = attribute(ProbeSample(77.0, 78.0, None, "connect-timeout"), tl, versions=VERSIONS)
    assert after.cause == "stale-proxy-rules" and "had last synced at +76.655s with a sync begun at +72.100s" in (
        after.text
    )
    during = attribute(ProbeSample(75.0, 76.0, None, "connect-timeout"), tl, versions=VERSIONS)
    assert during.cause != "stale-proxy-rules"  # a timeout inside the preStop sleep: the app still listened


def test_a_refusal_says_the_app_stopped_when_the_watch_showed_the_deletion_late() -> None:
    """The same run, an earlier ordinal: statefulset-demo-1 was seen terminating at +32.848 and exited
    at +33.736 (so its deletion had begun some 3 s before it was seen: the preStop sleeps 4 s); kube-proxy's
    sync begun at +29.364 took until +32.934 and the next began at +33.935. Refusals from +33.449 are
    the stopped pod through stale rules: a pod still in its preStop hook listens."""
    s1 = EndpointState("10.244.0.24", "statefulset-demo-1", "node-1", True, True, False)
    tl = _held_pod_timeline(
        s1, OLD_IMG, 32.848, 33.736, [(25.416, 25.458), (29.364, 32.934), (33.935, 33.979)], left=32.836
    )
    a = attribute(failed(33.449, "connect-refused"), tl, versions=VERSIONS)
    assert a.cause == "stale-proxy-rules" and a.pod == s1.pod
    assert a.text == (
        "connect-refused at +33.449s, pod statefulset-demo-1 (nginx/1.22.1) terminating since +32.848s (its "
        "preStop hook over, as the connect-refused says), exited as seen 287 ms later, at +33.736s (the kubelet "
        "reports an exit up to 2 s late); its endpoint left the ready set at +32.836s but kube-proxy on node-1 "
        "had last synced at +32.934s with a sync begun at +29.364s, before that change: traffic still went to "
        "the stopped pod"
    )
    assert attribute(failed(33.653, "connect-unreachable"), tl, versions=VERSIONS).cause == "stale-proxy-rules"


def test_an_exit_whose_status_came_late_is_placed_by_its_container_s_finish() -> None:
    """Clean-clone run C4 (twelfth session), the legacy-rollback scenario on a starved machine:
    legacy-rollback-...-4f5nt was seen terminating at +18.857 (preStop `sleep 4`), its endpoint left
    the ready set at +19.666, kube-proxy had synced at +17.951 and next at +28.219; from +23.696
    201 new connections were reset (nginx closing its listener on the connections queued to it), and
    the pod's exit was seen only at +26.291, 2.6 s later. With the exit known only by when its status
    was seen, those resets were unattributed; the container's own finishedAt places the exit."""
    e = EndpointState("10.244.0.93", "legacy-rollback-4f5nt", "node-1", True, True, False)
    reset = ProbeSample(23.45, 23.696, None, "reset", port=40000)

    def cause(finished: float | None) -> Attribution:
        tl = _held_pod_timeline(e, NEW_IMG, 18.857, 26.291, [(17.9, 17.951), (28.2, 28.219)], left=19.666)
        pods = tuple(dataclasses.replace(p, finished=finished) if p.what == "exited" else p for p in tl.pods)
        return attribute(reset, dataclasses.replace(tl, pods=pods), versions=VERSIONS)

    assert cause(None).cause == "unattributed"  # no container time: only the status, seen 2.6 s late
    placed = cause(23.0)
    assert placed.cause == "stale-proxy-rules" and placed.pod == e.pod
    assert placed.text == (
        "reset at +23.696s (the answer to a request sent at +23.450s, 246 ms in flight), pod "
        "legacy-rollback-4f5nt (nginx/1.26.3) terminating since +18.857s (a preStop sleep of 4 s: its app "
        "stopped from +22.857s), exited within +23.000s..+24.000s by its container's finishedAt, its status "
        "seen 2595 ms after this request, at +26.291s; its endpoint left the ready set at +19.666s but "
        "kube-proxy on node-1 had not synced since +17.951s: traffic still went to the stopped pod"
    )
    assert cause(25.9).cause == "unattributed"  # the container itself exited over 2 s after the reset


def test_prestop_sleep_lengths() -> None:
    from harness.rollout.pods import pre_stop_sleep

    assert pre_stop_sleep({"exec": {"command": ["sleep", "4"]}}) == 4.0
    assert pre_stop_sleep({"exec": {"command": ["/bin/sh", "-c", "sleep 2.5"]}}) == 2.5
    assert pre_stop_sleep({"sleep": {"seconds": 5}}) == 5.0
    assert pre_stop_sleep({"exec": {"command": ["nginx", "-s", "quit"]}}) is None
    assert pre_stop_sleep({"httpGet": {"path": "/drain", "port": 80}}) is None
    assert pre_stop_sleep(None) is None


def test_a_closed_keep_alive_connection_says_when_it_was_opened() -> None:
    """From the JSON-patch scenario beside busy containers: the old pod began terminating at +6.001
    (preStop 4 s), its endpoint left the ready set at +6.177, and kube-proxy's next sync began only
    at +9.9; a keep-alive connection opened at +9.744 reached the pod and was reset at +10.128,
    when nginx stopped. Opened before the endpoint left, the text says that instead."""
    from harness.samples import connections_opened

    a_ = EndpointState("10.244.0.197", "raw-old", "node-1", True, True, False)
    tl = DataPathTimeline(
        "web",
        (ep(0.0, "added", a_), ep(0.0, "added", B), ep(6.177, "changed", a_, ready=False, terminating=True)),
        (pod(6.001, "raw-old", "terminating", a_.address),),
        (ProxySync("node-1", 5.287, 5.3, 5.2), ProxySync("node-1", 10.333, 10.4, 9.9)),
        ("node-1",),
    )
    run = [
        ProbeSample(9.744, 9.745, 200, None, "nginx/1.22.1", seq=1, conn=7),
        ProbeSample(9.9, 9.901, 200, None, "nginx/1.22.1", seq=2, conn=7, reused=True),
        ProbeSample(10.128, 10.1281, None, "reset", seq=3, conn=7, reused=True),
    ]
    assert connections_opened(run) == {(None, 7): 9.744}  # (witness, connection)
    [a] = attributor(tl, versions=VERSIONS, run_samples=run)([run[-1]])
    assert a.cause == "keepalive-closed-at-shutdown"
    assert a.text == (
        "reset at +10.128s on a reused connection, 4127 ms after pod raw-old (nginx/1.22.1) terminating: "
        "the server closed a connection the client was reusing (opened at +9.744s, 3567 ms after the pod's "
        "endpoint left the ready set at +6.177s while kube-proxy's rules still held it (until +10.333s))"
    )
    early = [dataclasses.replace(run[0], start=5.9, end=5.901), run[2]]
    [b] = attributor(tl, versions=VERSIONS, run_samples=early)([run[-1]])
    assert b.text.endswith("(opened at +5.900s, 277 ms before the pod's endpoint left the ready set at +6.177s)")


def _j1(routes: bool) -> DataPathTimeline:
    """Clean-clone run J1, naive variant: pod web-old-a (no preStop hook) terminating at +3.600 s, its
    endpoint out of the ready set at +3.641 s; kube-proxy synced at +4.062 s (begun +3.729 s) and at
    +5.840 s (begun +5.092 s); the pod's exit seen at +5.188 s."""
    eps = [ep(0.0, "listed", A), ep(0.0, "listed", B), ep(3.641, "changed", A, ready=False, terminating=True)]
    pods = [
        dataclasses.replace(pod(3.600, "web-old-a", "terminating", A.address), pre_stop=False),
        pod(5.188, "web-old-a", "exited", A.address, code=0),
    ]
    held, dropped = (A.address, B.address), (B.address,)
    return dataclasses.replace(
        timeline(eps, pods),
        proxy=(
            ProxySync("node-1", 2.651, 3.01, None, held if routes else None),
            ProxySync("node-1", 4.062, 4.25, 3.729, held if routes else None),
            ProxySync("node-1", 5.840, 5.99, 5.092, dropped if routes else None),
        ),
    )


def test_the_rules_as_read_say_a_sync_begun_after_a_change_had_not_taken_it_in() -> None:
    """J1: 36 failures from +4.917 s to +5.188 s were `unattributed`: a sync begun at +3.729 s, after
    the endpoint left the ready set, was taken to have dropped the pod from the rules. The rules read
    after that sync still sent traffic to it; the one after the sync of +5.840 s did not."""
    refused = attribute(failed(4.917, "connect-refused"), _j1(routes=True), versions=VERSIONS)
    assert refused.cause == "stopped-while-routed" and refused.pod == "web-old-a"
    assert (
        "began terminating while its endpoint was ready until +3.641s and still in kube-proxy's rules "
        "(until its sync of +5.840s on node-1, as read after each sync) on node node-1" in refused.text
    )
    timeout = attribute(ProbeSample(5.3, 6.3, None, "connect-timeout"), _j1(routes=True), versions=VERSIONS)
    assert timeout.cause == "stale-proxy-rules" and timeout.pod == "web-old-a"
    assert timeout.text.endswith(
        "its endpoint left the ready set at +3.641s but kube-proxy's rules on node-1, read after its sync of "
        "+4.062s, still sent traffic to it (that sync began at +3.729s, after the change, yet had not taken it "
        "in); its sync of +5.840s dropped it: traffic still went to the stopped pod"
    )
    # after the sync whose rules no longer held it, the pod is not blamed
    assert attribute(failed(5.9, "connect-timeout"), _j1(routes=True)).pod != "web-old-a"
    # unread rules leave the inference from the syncs' beginnings, which J1 showed wrong here
    assert attribute(failed(4.917, "connect-refused"), _j1(routes=False)).cause == "unattributed"


def test_rules_dropped_needs_every_sync_s_rules_read() -> None:
    tl = _j1(routes=True)
    assert tl.rules_dropped("node-1", A.address, 3.641) == 5.840
    assert tl.rules_dropped("node-1", B.address, 3.641) == float("inf")
    assert tl.rules_dropped("node-1", "10.244.0.99", 3.641) == 2.651  # never held since before the change
    gap = dataclasses.replace(tl, proxy=(tl.proxy[0], dataclasses.replace(tl.proxy[1], routes=None), tl.proxy[2]))
    assert gap.rules_dropped("node-1", A.address, 3.641) is None
    assert _j1(routes=False).rules_dropped("node-1", A.address, 3.641) is None


def test_endpoints_already_there_when_first_listed_did_not_just_become_ready() -> None:
    """J1: a reset at +4.641 s was put down to routed-before-listening, 1.7 s after endpoint
    10.244.0.28 'became ready': the watcher's first list, not a transition."""
    tl = timeline([ep(2.9, "listed", A), ep(2.9, "listed", B)], [])
    assert attribute(failed(4.641, "reset"), tl).cause != "routed-before-listening"
    assert attribute(failed(4.641, "reset"), timeline([ep(2.9, "added", B)], [])).cause == "routed-before-listening"


def test_the_slice_watcher_marks_its_first_list_as_listed_and_later_arrivals_as_added() -> None:
    import kubernetes.client

    from harness.datapath import EndpointSliceWatcher

    def slice_of(*addresses: str) -> dict[str, object]:
        eps = [{"addresses": [a], "conditions": {"ready": True, "serving": True}} for a in addresses]
        return {"metadata": {"name": "web-abc"}, "endpoints": eps}

    watcher = EndpointSliceWatcher(kubernetes.client.ApiClient(), "ns", "web")
    watcher._on_list([slice_of("10.0.0.1")])
    watcher.listed_at = 1.0  # as `_relist` marks the first list done
    watcher._on_event("modified", slice_of("10.0.0.1", "10.0.0.2"))
    watcher._on_list([slice_of("10.0.0.1", "10.0.0.2", "10.0.0.3")])  # a relist after the watch expired
    assert [(e.kind, e.endpoint.address) for e in watcher.events] == [
        ("listed", "10.0.0.1"),
        ("added", "10.0.0.2"),
        ("added", "10.0.0.3"),
    ]


def test_the_data_path_is_at_rest_when_the_rules_read_hold_the_ready_endpoints_alone() -> None:
    import kubernetes.client

    from harness.datapath import DataPathRecorder

    recorder = DataPathRecorder(kubernetes.client.ApiClient(), "ns", "web", {"app": "web"}, {"node-1": 1})
    recorder.slices._known = {A.address: A, B.address: B}
    assert recorder.converged() == (False, f"ready endpoints {A.address}, {B.address}; rules on node-1: not read yet")
    recorder.proxy.records.append(ProxySync("node-1", 1.0, 1.1, 0.9, (A.address,)))
    assert recorder.converged() == (
        False,
        f"ready endpoints {A.address}, {B.address}; rules on node-1: {A.address}",
    )
    recorder.proxy.records.append(ProxySync("node-1", 2.0, 2.1, 1.9, (A.address, B.address)))
    assert recorder.converged() is not None and recorder.converged()[0] is True
    recorder.proxy.rules_errors["node-1"] = "kube-proxy's rules not read: ..."
    assert recorder.converged() is None  # cannot be told


def test_an_endpoint_not_yet_in_the_rules_as_read_was_not_routed_to_before_listening() -> None:
    tl = timeline([ep(0.0, "listed", A), ep(7.0, "added", B)], [pod(6.5, "web-new-b", "created", B.address, NEW_IMG)])
    before = (
        ProxySync("node-1", 1.0, 1.1, 0.9, (A.address,)),
        ProxySync("node-1", 7.5, 7.6, 7.4, (A.address, B.address)),
    )
    read = dataclasses.replace(tl, proxy=before)
    assert attribute(failed(7.1, "connect-refused"), read).cause != "routed-before-listening"
    assert attribute(failed(7.6, "connect-refused"), read).cause == "routed-before-listening"


def test_resets_from_a_pod_whose_deletion_the_watch_showed_late() -> None:
    """Run s15b, naive variant: six resets at +4.189..+4.201 s were put down to a pod deleted 53 ms
    before (stale-conntrack, no source port to show it). Pod web-old-a's kernel sent 46 resets over
    the counter poll +4.039..+4.246 s, and the watch showed its deletion (no preStop hook) at +4.242 s,
    within that poll, after the failures: it was being stopped when they came."""
    pods = [dataclasses.replace(pod(4.242, "web-old-a", "terminating", A.address), pre_stop=False)]
    tl = with_counters(
        dataclasses.replace(
            timeline([ep(0.0, "listed", A), ep(0.0, "listed", B)], pods),
            proxy=(ProxySync("node-1", 3.602, 3.65, 3.52, (A.address, B.address)),),
        ),
        CounterChange(4.246, 4.039, "pod web-old-a", "Tcp.EstabResets", 37),
        CounterChange(4.246, 4.039, "pod web-old-a", "Tcp.OutRsts", 46),
    )
    a = attribute(failed(4.189, "reset"), tl, versions=VERSIONS)
    assert a.cause == "stopped-while-routed" and a.pod == "web-old-a"
    assert a.text == (
        "reset at +4.189s: pod web-old-a (nginx/1.22.1) reset connections meanwhile (Tcp.EstabResets +37, "
        "Tcp.OutRsts +46 over +4.039s..+4.246s) and was seen terminating 53 ms later, at +4.242s (the watch "
        "shows a deletion late): the app stops on SIGTERM (it has no preStop hook to hold it) while still routed"
    )
    # a pod the rules, as read, no longer sent anything to is not the one
    dropped = dataclasses.replace(tl, proxy=(ProxySync("node-1", 3.602, 3.65, 3.52, (B.address,)),))
    assert attribute(failed(4.189, "reset"), dropped).pod != "web-old-a"
    # nor is a pod held by a preStop hook, or one whose deletion came after that poll
    held = dataclasses.replace(tl, pods=(dataclasses.replace(pods[0], pre_stop=True),))
    assert attribute(failed(4.189, "reset"), held).pod != "web-old-a"
    later = dataclasses.replace(tl, pods=(dataclasses.replace(pods[0], t=4.3),))
    assert attribute(failed(4.189, "reset"), later).pod != "web-old-a"


def test_the_data_path_at_rest_after_an_instant_as_the_rules_read_say() -> None:
    tl = _j1(routes=True)  # A left the ready set at +3.641 s; the rules dropped it at the sync of +5.840 s
    assert tl.at_rest_after(3.7) == 5.840
    assert tl.at_rest_after(6.0) == 6.0
    assert tl.at_rest_after(2.0) == 2.651  # A and B ready, both in the first rules read, after +2.651 s
    assert _j1(routes=False).at_rest_after(3.7) is None


def test_a_paws_drop_counted_during_the_request_comes_before_an_entry_inferred_from_a_stop() -> None:
    """Three-node run s15g, StatefulSet: a connect-timeout at +36.245 s was put down to a stale
    conntrack entry of a pod that had stopped with resets 22.4 s before, while pod web-new-b's
    TcpExt.PAWSTimewait rose by 2 in the poll covering the request: the counter is the evidence."""
    eps = [ep(0.0, "listed", A), ep(0.0, "listed", B), ep(13.0, "removed", A, ready=False, terminating=True)]
    pods = [pod(12.9, "web-old-a", "terminating", A.address), pod(13.835, "web-old-a", "deleted", A.address)]
    tl = with_counters(
        timeline(eps, pods, syncs=[13.2]),
        CounterChange(13.9, 13.7, "pod web-old-a", "Tcp.OutRsts", 1),
        CounterChange(36.348, 36.138, "pod web-new-b", "TcpExt.PAWSTimewait", 2),
    )
    a = attribute(ProbeSample(36.245, 37.245, None, "connect-timeout"), tl)
    assert a.cause == "paws-timewait" and a.pod == "web-new-b"
    # without the counter the inference remains
    bare = dataclasses.replace(tl, counters=tl.counters[:1])
    assert attribute(ProbeSample(36.245, 37.245, None, "connect-timeout"), bare).cause == "stale-conntrack"


def test_of_two_pods_a_rule_could_blame_the_one_whose_kernel_reset_is_named() -> None:
    """Run 3 of the naive variant (twenty-third session): refusals at +4.359..+4.366 while kube-proxy's
    rules still held two stopped pods; the rule named the first it met (cclk2, exited, whose interface
    the CNI plugin had removed), but only gjmdj's kernel counted resets in the poll covering them."""
    c = EndpointState("10.244.0.48", "web-old-c", "node-1", True, True, False)
    g = EndpointState("10.244.0.47", "web-old-g", "node-1", True, True, False)
    tl = timeline(
        [
            ep(0.0, "added", c),
            ep(0.0, "added", g),
            ep(4.145, "changed", c, ready=False, terminating=True),
            ep(4.272, "changed", g, ready=False, terminating=True),
        ],
        [
            pod(4.073, "web-old-c", "terminating", c.address),
            pod(4.265, "web-old-g", "terminating", g.address),
            pod(4.355, "web-old-c", "exited", c.address, code=0),
            pod(4.783, "web-old-g", "exited", g.address, code=0),
        ],
        syncs=[3.267, 4.493],
    )
    sample = failed(4.359, "connect-refused")
    assert attribute(sample, tl).pod == "web-old-c"  # no counters: the first pod a rule fits
    tl = with_counters(
        tl,
        CounterChange(4.358, 4.154, "pod web-old-c", "Tcp.OutRsts", 7),
        CounterChange(4.358, 4.154, "pod web-old-g", "Tcp.OutRsts", 13),
        CounterChange(4.561, 4.358, "pod web-old-g", "Tcp.OutRsts", 29),
    )
    a = attribute(sample, tl, versions=VERSIONS)
    assert a.cause == "stopped-while-routed" and a.pod == "web-old-g"
    assert a.text.endswith("; its kernel counted resets meanwhile (Tcp.OutRsts +29)")
    assert attribute(failed(4.3, "connect-refused"), tl).pod == "web-old-c"  # both reset then: the rules' order


def test_a_new_pod_whose_kernel_sent_no_reset_did_not_refuse() -> None:
    """Routed before listening is a 2 s window after the endpoint became ready; a refusal inside it
    while only an old pod's kernel reset connections is not the new pod's."""
    tl = timeline([ep(0.0, "added", A), ep(7.0, "added", B)], [pod(6.5, "web-new-b", "created", B.address, NEW_IMG)])
    sample = failed(8.9, "connect-refused")
    assert attribute(sample, tl).cause == "routed-before-listening"
    elsewhere = with_counters(tl, CounterChange(9.0, 8.8, "pod web-old-a", "Tcp.OutRsts", 5))
    assert attribute(sample, elsewhere).cause == "unattributed"
    itself = with_counters(tl, CounterChange(9.0, 8.8, "pod web-new-b", "Tcp.OutRsts", 1))
    a = attribute(sample, itself)
    assert a.cause == "routed-before-listening" and a.text.endswith("(Tcp.OutRsts +1)")


def test_a_sync_begun_before_a_change_can_write_the_endpoint_in_after_it_left() -> None:
    """Run 2 of the naive variant (twenty-third session): the rules first read held only
    10.244.0.78 (kube-proxy had not yet taken in three pods made ready just before); qvtnv
    (10.244.0.79) left the ready set at +3.633 s, and the sync begun at +3.621 s wrote it in at
    +3.969 s, until the sync of +5.650 s. Its refusals from +4.662 s were `unattributed`: the rules
    in place at the change, lacking it, were taken to say it was never routed to since."""
    q = EndpointState("10.244.0.79", "web-old-q", "node-1", True, True, False)
    m = EndpointState("10.244.0.78", "web-old-m", "node-1", True, True, False)
    tl = dataclasses.replace(
        timeline(
            [ep(2.9, "listed", m), ep(2.9, "listed", q), ep(3.633, "changed", q, ready=False, terminating=True)],
            [dataclasses.replace(pod(3.603, "web-old-q", "terminating", q.address), pre_stop=False)],
        ),
        proxy=(
            ProxySync("node-1", 2.618, 3.002, None, (m.address,)),
            ProxySync("node-1", 3.969, 4.113, 3.621, (m.address, q.address)),
            ProxySync("node-1", 5.650, 5.932, 4.985, (m.address,)),
        ),
    )
    assert tl.rules_dropped("node-1", q.address, 3.633) == 5.650
    a = attribute(failed(4.662, "connect-refused"), tl, versions=VERSIONS)
    assert a.cause == "stopped-while-routed" and a.pod == "web-old-q"
    # a sync begun after the change cannot write it in: never routed to since
    late = dataclasses.replace(tl, proxy=(tl.proxy[0], dataclasses.replace(tl.proxy[1], started_at=3.7), tl.proxy[2]))
    assert late.rules_dropped("node-1", q.address, 3.633) == 2.618


def test_a_reused_connection_reset_names_the_stopping_pod_whose_kernel_reset() -> None:
    """Run 2 of the naive variant (twenty-third session): a keep-alive reset at +5.868 s was put on
    the stopping pod nearest in time, while the kernels that counted resets then were two others'."""
    c = EndpointState("10.244.0.80", "web-old-c", "node-1", True, True, False)
    tl = timeline(
        [ep(0.0, "added", A), ep(0.0, "added", c)],
        [pod(4.956, "web-old-c", "terminating", c.address), pod(5.85, "web-old-a", "exited", A.address)],
    )
    sample = failed(5.868, "reset", reused=True)
    assert attribute(sample, tl).pod == "web-old-a"
    counted = with_counters(tl, CounterChange(5.95, 5.75, "pod web-old-c", "Tcp.EstabResets", 2))
    a = attribute(sample, counted)
    assert a.cause == "keepalive-closed-at-shutdown" and a.pod == "web-old-c"
    assert a.text.endswith("; its kernel counted resets meanwhile (Tcp.EstabResets +2)")


def test_a_reused_connection_reset_by_a_pod_whose_deletion_the_watch_showed_late() -> None:
    """Run 2 of the naive variant (twenty-third session, again): a keep-alive reset at +7.057 s, pod
    br6rc seen terminating 4 ms later and its kernel counting 26 established resets in that poll; the
    only stopping pod the rule saw was one deleted 0.4 s before."""
    b = EndpointState("10.244.0.161", "web-old-b", "node-1", True, True, False)
    tl = with_counters(
        timeline(
            [ep(0.0, "added", A), ep(0.0, "added", b)],
            [
                pod(6.645, "web-old-a", "deleted", A.address),
                dataclasses.replace(pod(7.061, "web-old-b", "terminating", b.address), pre_stop=False),
            ],
        ),
        CounterChange(7.142, 6.931, "pod web-old-b", "Tcp.EstabResets", 26),
    )
    a = attribute(failed(7.057, "reset", reused=True), tl, versions=VERSIONS)
    assert a.cause == "keepalive-closed-at-shutdown" and a.pod == "web-old-b"
    assert a.text.startswith("reset at +7.057s on a reused connection, 4 ms before pod web-old-b (nginx/1.22.1)")
