"""Each cause class, from a recorded data-path timeline, with the text it gives."""

from __future__ import annotations

import dataclasses

from harness.attribution import CAUSES, attribute, attributor
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
