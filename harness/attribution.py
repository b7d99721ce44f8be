"""Why a request failed: each failed probe placed against the data-path timeline.

A probe through a Service cannot tell which pod it reached, so the cause is
inferred from what changed around it, and the evidence is quoted with it:
the nearest preceding transitions (endpoint conditions, pod lifecycle,
kube-proxy syncs), each with how long before the failure it happened.

Cause classes, checked in this order (the first that the evidence supports):

- `keepalive-closed-at-shutdown`: a request on a reused connection failed while a
  pod was shutting down: the server closed (or reset) a connection the client
  had every reason to reuse.
- `stale-conntrack`, by its source port: a new connection whose source port an earlier failed
  request of the same host used (a new connection, or a reused one the server reset, which
  carries its connection's port) while that one's conntrack entry still lived (`SAME_PORT`:
  SYN_SENT 120 s after an unanswered or unreachable SYN; CLOSE 10 s after a reset from the
  server's side, which a new SYN does not clear): the entry keeps its NAT, so the SYN went
  where the earlier one went. (The later rule below infers the same from a stopped pod.)
- `cpu-starved`: a request that timed out while a task of a pod of the Service waited for a
  CPU for `STARVED` or longer (the run-queue delay, `harness.cpuwait`): the pod was not run
  to answer (a BestEffort pod beside a busy control plane, README finding 18). A connection
  that timed out also needs the pod's accept queue to have overflowed: the kernel answers a
  SYN whether or not the application runs.
- `stale-proxy-rules`: a pod's endpoint had left the ready set, its container had
  stopped, and kube-proxy on a node had not synced its rules since: traffic still
  went to the stopped pod.
- `stopped-while-routed`: a pod stopped (container exited, or deletion began, which
  without a preStop hook stops it at once) while its endpoint was still ready in the
  EndpointSlice: the app went before the routing did. Also an answer (a reset, a refusal)
  while such a pod's kernel sent resets, in the counter poll that covers the failure, when
  the watch showed its deletion after the failure but within that poll (seen late).
- `routed-before-listening`: an endpoint of a pod without a readiness probe became
  ready just before the failure: the pod was routed to before it accepted connections.
- `no-ready-endpoint`: the Service had no ready endpoint at that instant, or a refused
  connection came while kube-proxy's rules on a node were still those of a moment when it
  had none (kube-proxy rejects connections to a Service without endpoints).
- `paws-timewait`: a request that timed out while a pod of the Service dropped SYNs
  at a TIME_WAIT socket of the same addresses and ports (its kernel's
  `TcpExt.PAWSTimewait` rose during the request): an earlier connection on that
  4-tuple had a later TCP timestamp (masqueraded NodePort traffic maps many client
  4-tuples, each with its own timestamp offset, onto the pod's). Checked before the
  next, which infers what this one counts.
- `stale-conntrack`: a request that got no answer (or an unreachable) after a pod of
  the Service stopped with connections open (its kernel counted the resets) and had
  left the rules: a connection from a source port one of those used is taken by
  conntrack for the old one, whose entry keeps its NAT to the gone pod (CLOSE for
  10 s after a reset, SYN_SENT for 120 s after an unanswered SYN).
- `kernel-drop`: a kernel on the path counted a drop during the request (a full
  accept queue, a conntrack insert that failed): which counter, where.
- `unattributed`: nothing in the recorded data path changed nearby: the cause lies
  outside it (the host leg, the probe itself) and is said to be unknown.

A refusal or a reset was sent by some kernel, and each pod's counts its resets: where the
kernel counters were read, the pods a rule weighs are taken first among those whose
kernels counted resets in a poll overlapping the request, a pod just made ready is not
blamed for a refusal while only others' kernels reset, and the pod named says its count.

Pure: reads `DataPathTimeline` and samples; nothing waits or talks to a cluster.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from .cpuwait import WAIT_COUNTER
from .datapath import DataPathTimeline, EndpointEvent, PodTransition, ProxySync
from .samples import ProbeSample, connections_opened
from .timeline import error_class

__all__ = [
    "CAUSES",
    "Attribution",
    "attribute",
    "attributor",
    "by_port",
    "same_port_failure",
    "cpu_meanwhile",
    "failure_instant",
    "HORIZON",
    "STARTUP_WINDOW",
    "PROXY_GRACE",
]

CAUSES = (
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
)
HORIZON = 5.0
"""Seconds before a failure in which transitions are looked at."""
STARTUP_WINDOW = 2.0
"""Seconds after an endpoint became ready in which a refused connection is put down to it."""
PROXY_GRACE = 1.0
"""Seconds an endpoint that left the ready set is taken to stay in the rules when kube-proxy's
syncs were not recorded (kube-proxy's minSyncPeriod in kind's configuration)."""
COUNTER_SLACK = 0.25
"""Seconds either side of a request in which a kernel counter's rise is put next to it (one poll)."""
STARVED = 1.0
"""Seconds a task of a pod waited for a CPU during a request from which its timeout is put down to
that (half the read timeout)."""
_QUEUE_FULL = ("TcpExt.ListenOverflows", "TcpExt.ListenDrops")
CREDIT_LAG = 1.0
"""Seconds after a request in which a run-queue delay credited to a pod is still put next to it (the
kernel credits the wait when the task next runs, after the starvation)."""
_NEAREST = 4
ANSWERED = ("closed", "reset", "connect-refused")
"""Errors that are an answer (a close, a reset, a refusal): they happened when the request ended."""
LONG_REQUEST = 0.1
"""Seconds in flight from which a request's answer is placed at its end rather than its start."""
_STOPPING = ("terminating", "exited", "deleted", "not-ready")
_TIMEOUTS = ("connect-timeout", "read-timeout", "timeout")
_UNANSWERED = _TIMEOUTS + ("connect-unreachable", "connect-error", "reset")
SAME_PORT = {"connect-timeout": 120.0, "connect-unreachable": 120.0, "connect-refused": 10.0, "reset": 10.0}
"""Seconds after an earlier failure of each class during which a new SYN from its source port meets
its conntrack entry, NAT and all: SYN_SENT (`nf_conntrack_tcp_timeout_syn_sent`, an unanswered SYN,
or one answered by an ICMP unreachable) and CLOSE (`..._close`, after a reset; a reset from the
server's side leaves the entry to a new SYN, one from the client's side does not). A read-timeout
leaves none: the sampler aborts the connection with a reset from the client's side."""
STALE_ENTRY = 120.0
"""Seconds a conntrack entry can keep its NAT to a gone pod (`nf_conntrack_tcp_timeout_syn_sent`)."""
_RESETS = ("Tcp.EstabResets", "Tcp.OutRsts")
_REFUSED = ("connect-refused", "reset")
"""Failures a pod's kernel answers with a reset (a refusal is a reset to a SYN), counted in its namespace."""
STOP_SEEN_LAG = 2.0
"""Seconds a container's exit can precede the pod update that shows it (kubelet's status sync)."""
_DROPS = (
    "TcpExt.ListenOverflows",
    "TcpExt.ListenDrops",
    "conntrack.insert_failed",
    "conntrack.drop",
    "conntrack.early_drop",
    "TcpExt.TCPTimeWaitOverflow",
)


@dataclass(frozen=True)
class Attribution:
    """The cause of one failed request and the evidence for it."""

    t: float
    error: str
    cause: str
    text: str
    pod: str | None = None
    node: str | None = None
    nearest: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Mark:
    t: float
    text: str


def _version(image: str | None, versions: Mapping[str, str]) -> str:
    if image is None:
        return "?"
    return versions.get(image, image.rsplit("/", 1)[-1])


def _nearest(
    timeline: DataPathTimeline, t: float, end: float, versions: Mapping[str, str], rel: Callable[[float], str]
) -> tuple[str, ...]:
    marks: list[_Mark] = []
    for e in timeline.endpoints:
        if t - HORIZON <= e.t <= end:
            marks.append(
                _Mark(e.t, f"endpoint {e.endpoint.address} ({e.endpoint.pod}) {e.kind}: {e.endpoint.describe()}")
            )
    for p in timeline.pods:
        if t - HORIZON <= p.t <= end and p.what != "listed":
            code = f" code {p.exit_code}" if p.exit_code is not None else ""
            marks.append(_Mark(p.t, f"pod {p.pod} ({_version(p.image, versions)}) {p.what}{code}"))
    for node in timeline.proxy_nodes:
        last = timeline.last_sync(node, t)
        if last is not None:
            marks.append(_Mark(last, f"kube-proxy on {node} synced"))
    before = sorted((m for m in marks if m.t <= t), key=lambda m: m.t)[-_NEAREST:]
    after = sorted((m for m in marks if m.t > t), key=lambda m: m.t)[:2]
    counted = [
        f"{rel(c.since)}..{rel(c.t)} {c.where}: {c.name} +{c.delta}"
        for c in timeline.counters_between(t - COUNTER_SLACK, end + COUNTER_SLACK)
        if c.where != "host" and not c.name.startswith("cpu.")
    ]
    return tuple(f"{rel(m.t)} ({(m.t - t) * 1000:+.0f} ms) {m.text}" for m in [*before, *after]) + tuple(counted)


def _counted(
    timeline: DataPathTimeline, t: float, end: float, names: tuple[str, ...], where: Callable[[str], bool]
) -> list[str]:
    rises = [
        c
        for c in timeline.counters_between(t - COUNTER_SLACK, end + COUNTER_SLACK)
        if c.name in names and where(c.where)
    ]
    return [f"{c.where} {c.name} +{c.delta} ({c.meaning})" for c in rises]


def _endpoint_left(events: Sequence[EndpointEvent], address: str, after: float) -> float | None:
    """When the endpoint at `address` stopped being ready (or was removed), at or after `after`."""
    for e in events:
        if e.t >= after and e.endpoint.address == address and (e.kind == "removed" or not e.endpoint.ready):
            return e.t
    return None


_NOT_LISTENING = ("connect-refused", "connect-unreachable")
"""Answers that a pod still holding its app in a preStop hook does not give: nothing listened (a
refusal), or the pod's network was gone (an unreachable)."""


def _routed_then(timeline: DataPathTimeline, p: PodTransition, opened: float, rel: Callable[[float], str]) -> str:
    """Where the stopping pod's endpoint stood when a connection was opened: still ready, or out of
    the ready set with kube-proxy's rules still holding it (how a new connection reached it)."""
    if p.ip is None:
        return ""
    left = _endpoint_left(timeline.endpoints, p.ip, opened - HORIZON)
    if left is None:
        return ""
    if left > opened:
        return f", {(left - opened) * 1000:.0f} ms before the pod's endpoint left the ready set at {rel(left)}"
    text = f", {(opened - left) * 1000:.0f} ms after the pod's endpoint left the ready set at {rel(left)}"
    if timeline.proxy_nodes:
        until, _, _ = _routed_until(timeline, p.ip, left)
        if opened < until < float("inf"):
            text += f" while kube-proxy's rules still held it (until {rel(until)})"
    return text


def _routed_until(timeline: DataPathTimeline, address: str, left: float) -> tuple[float, str | None, bool]:
    """Until when kube-proxy's rules sent traffic to an endpoint that left the ready set at `left`,
    on the node whose rules held it longest: (until, that node, whether its rules were read). Read
    rules say it (`DataPathTimeline.rules_dropped`); else the end of the first sync begun after the
    change (a sync takes the changes kube-proxy has received when it begins; infinity: none was
    seen), or `PROXY_GRACE` after the change when no sync was recorded at all."""
    if not timeline.proxy_nodes:
        return left + PROXY_GRACE, None, False
    out: tuple[float, str | None, bool] | None = None
    for node in timeline.proxy_nodes:
        dropped = timeline.rules_dropped(node, address, left)
        until = dropped if dropped is not None else (timeline.next_sync(node, left) or float("inf"))
        if out is None or until > out[0]:
            out = (until, node, dropped is not None)
    assert out is not None
    return out


def _until(until: float, node: str, rel: Callable[[float], str]) -> str:
    if until == float("inf"):
        return f"through the last sync recorded on {node}, as read after each sync"
    return f"until its sync of {rel(until)} on {node}, as read after each sync"


def _still_held(
    timeline: DataPathTimeline,
    node: str,
    left: float,
    until: float,
    rules: ProxySync,
    rel: Callable[[float], str],
) -> str:
    """Why the rules in place (`rules`) still sent traffic to a stopped pod, read from them."""
    text = f"kube-proxy's rules on {node}, read after its sync of {rel(rules.synced_at)}, still sent traffic to it"
    late = [p for p in timeline.proxy if p.node == node and p.took_from > left and p.synced_at < until]
    if late:  # kube-proxy takes in the changes it has received when a sync begins: it had not received this one
        text += (
            f" (that sync began at {rel(late[0].took_from)}, after the change, yet had not taken it in)"
            if late[0] is rules
            else f" (its sync begun at {rel(late[0].took_from)}, after the change, had not taken it in)"
        )
    return text + (f"; its sync of {rel(until)} dropped it" if until != float("inf") else "")


def _app_stopped_by(began: PodTransition, t: float, error: str) -> bool:
    """Whether a pod with a preStop hook that was seen terminating at `began` had stopped its app by `t`:
    its preStop sleep had run out, or the answer itself says so (`_NOT_LISTENING`; the watch can show
    the deletion late, so the sleep's end is then not known). Without a hook the app stops at once,
    which `stopped-while-routed` says."""
    if not began.pre_stop:
        return False
    slept = began.pre_stop_s is not None and t >= began.t + began.pre_stop_s
    return slept or error in _NOT_LISTENING


def _exit_seen_after(history: Sequence[PodTransition], end: float) -> PodTransition | None:
    """The pod's exit (or deletion) seen after a request that ended at `end`: within `STOP_SEEN_LAG`,
    or later with its container's own `finishedAt` no later than that (the status that shows an
    exit came up to 6.4 s after the preStop sleep's end in five clean-clone runs, README finding 27)."""
    return next(
        (
            p
            for p in history
            if p.what in ("exited", "deleted")
            and end < p.t
            and (p.t <= end + STOP_SEEN_LAG or (p.finished is not None and p.finished <= end + STOP_SEEN_LAG))
        ),
        None,
    )


def failure_instant(sample: ProbeSample, error: str) -> float:
    """When the failure happened: an answer that ended the request (`ANSWERED`) came at its end,
    which for a request in flight `LONG_REQUEST` or longer (a connection that needed a SYN
    retransmission, a slow answer) is not its start; anything else (a timeout) began at the start."""
    if error in ANSWERED and sample.end - sample.start >= LONG_REQUEST:
        return sample.end
    return sample.start


def by_port(failed: Iterable[ProbeSample]) -> dict[int, list[ProbeSample]]:
    """Failed requests that can leave a conntrack entry behind (`SAME_PORT`), by source port: new
    connections, and reused ones the server reset, which carry their connection's port
    (`samples.failures_with_ports`)."""
    ports: dict[int, list[ProbeSample]] = {}
    for e in failed:
        if e.port is not None and e.error in SAME_PORT:
            ports.setdefault(e.port, []).append(e)
    return ports


def same_port_failure(sample: ProbeSample, ports: Mapping[int, Sequence[ProbeSample]]) -> ProbeSample | None:
    """The latest earlier failed request from `sample`'s source port (`ports`: `by_port` of every
    sampler of the same host and route) whose conntrack entry still lived when `sample` began."""
    if sample.port is None or sample.reused:
        return None
    earlier = [
        e
        for e in ports.get(sample.port, ())
        if e.start < sample.start and sample.start - e.end <= SAME_PORT[e.error or ""]
    ]
    return max(earlier, key=lambda e: e.start, default=None)


def attribute(
    sample: ProbeSample,
    timeline: DataPathTimeline,
    *,
    versions: Mapping[str, str] | None = None,
    origin: float = 0.0,
    same_port: ProbeSample | None = None,
    opened: float | None = None,
) -> Attribution:
    """The cause of one failed request; see the module docstring. `same_port`: the earlier failure
    from its source port whose conntrack entry it met (`same_port_failure`); `opened`: when the
    connection a reused request went over was opened (`connections_opened`). A refusal or reset
    names, among the pods a rule could blame, first one whose kernel counted resets meanwhile, and
    says so."""
    error = error_class(sample) or "failed"
    resetting = _resetting(timeline, sample.start, sample.end) if error in _REFUSED else {}
    found = _attribute(sample, timeline, versions or {}, origin, same_port, opened, resetting)
    rises = resetting.get(found.pod or "")
    if rises and not any(name in found.text for name in _RESETS):  # not quoted by its rule already
        found = replace(found, text=f"{found.text}; its kernel counted resets meanwhile ({rises})")
    return found


def _resetting(timeline: DataPathTimeline, start: float, end: float) -> dict[str, str]:
    """The pods whose kernels counted resets (`_RESETS`) in a counter poll overlapping [start, end]:
    pod -> the rises ("Tcp.OutRsts +29"), earliest poll first."""
    found: dict[str, list[str]] = {}
    for c in sorted(timeline.counters_between(start, end), key=lambda c: c.t):
        if c.name in _RESETS and c.where.startswith("pod "):
            found.setdefault(c.where[4:], []).append(f"{c.name} +{c.delta}")
    return {pod: ", ".join(rises) for pod, rises in found.items()}


def _attribute(
    sample: ProbeSample,
    timeline: DataPathTimeline,
    versions: Mapping[str, str],
    origin: float,
    same_port: ProbeSample | None,
    opened: float | None,
    resetting: Mapping[str, str],
) -> Attribution:
    start, end = sample.start, sample.end
    error = error_class(sample) or "failed"
    t = failure_instant(sample, error)

    def rel(x: float) -> str:
        return f"{x - origin:+.3f}s"

    def ms(x: float) -> str:
        return f"{abs(t - x) * 1000:.0f} ms {'after' if x <= t else 'before'}"

    nearest = _nearest(timeline, t, end, versions, rel)
    recent = [p for p in timeline.pods if t - HORIZON <= p.t <= end]
    stopping = [p for p in recent if p.what in _STOPPING]
    at_t = timeline.endpoints_at(t)
    how = f"{error} at {rel(t)}"
    if t != start:
        how += f" (the answer to a request sent at {rel(start)}, {(end - start) * 1000:.0f} ms in flight)"

    counted = [p for p in stopping if p.pod in resetting]
    if sample.reused and not counted and resetting:  # the pod that reset, its deletion seen late?
        late = _deletion_seen_late(timeline, t, end)
        counted = [late[0]] if late is not None else []
    if sample.reused and (counted or stopping):
        p = min(counted or stopping, key=lambda p: abs(p.t - t))
        since = "" if opened is None else f" (opened at {rel(opened)}{_routed_then(timeline, p, opened, rel)})"
        return Attribution(
            start,
            error,
            "keepalive-closed-at-shutdown",
            f"{how} on a reused connection, {ms(p.t)} pod {p.pod} "
            f"({_version(p.image, versions)}) {p.what}: the server closed a connection "
            f"the client was reusing{since}",
            p.pod,
            p.node,
            nearest,
        )

    if same_port is not None and error in (*_UNANSWERED, "connect-refused"):
        lives = SAME_PORT[same_port.error or ""]
        state = "SYN_SENT" if lives > 10.0 else "CLOSE"
        return Attribution(
            start,
            error,
            "stale-conntrack",
            f"{how}: its source port {sample.port} had carried the request sent at {rel(same_port.start)} "
            f"({same_port.error}{' over a reused connection' if same_port.reused else ''}, "
            f"{sample.start - same_port.end:.1f} s before), whose conntrack entry "
            f"({state}, {lives:.0f} s) keeps its NAT: this SYN went where that one went",
            None,
            None,
            nearest,
        )

    if error in _TIMEOUTS:
        starved = _starved(timeline, start, end, connecting=error == "connect-timeout")
        if starved is not None:
            pod, waited, since, until = starved
            drops = _counted(timeline, start, end, _DROPS, lambda w: w == f"pod {pod}")
            also = f"; meanwhile {'; '.join(drops)}" if drops else ""
            held = cpu_meanwhile(timeline, since, until)
            return Attribution(
                start,
                error,
                "cpu-starved",
                f"{how}: a task of pod {pod} waited {waited} ms for a CPU while runnable "
                f"(run-queue delay credited {rel(since)}..{rel(until)}){also}: the pod was not run to answer"
                + (f"; {held}" if held else ""),
                pod,
                None,
                nearest,
            )

    by_pod: dict[str, list[PodTransition]] = {}
    for p in recent:
        by_pod.setdefault(p.pod, []).append(p)
    for pod, steps in sorted(by_pod.items(), key=lambda item: item[0] not in resetting):
        ip = next((p.ip for p in steps if p.ip), None)
        if ip is None:
            continue
        version = _version(steps[0].image, versions)
        still_ready = ip in at_t and at_t[ip].ready
        left = None if still_ready else _endpoint_left(timeline.endpoints, ip, t - HORIZON)
        if not still_ready and left is None:
            continue  # never seen ready near the failure: not routed to
        stale_node, routed_until, read = None, float("inf"), False
        if left is not None:
            routed_until, stale_node, read = _routed_until(timeline, ip, left)
        if t > routed_until:
            continue  # the rules had dropped it before this request started
        stopped = next((p for p in steps if p.what in ("exited", "deleted") and p.t <= end), None)
        began = next((p for p in steps if p.what == "terminating" and p.t <= t), None)
        seen_late = False
        if stopped is None and left is not None and began is not None and _app_stopped_by(began, t, error):
            stopped = _exit_seen_after(timeline.pod_history(pod), end)
            seen_late = stopped is not None
        node = at_t[ip].node if ip in at_t else steps[0].node
        if stopped is not None and still_ready:
            return Attribution(
                start,
                error,
                "stopped-while-routed",
                f"{how}, {ms(stopped.t)} pod {pod} ({version}) {stopped.what} while its endpoint "
                f"was still ready on node {node}: the app stopped before it left the Service",
                pod,
                node,
                nearest,
            )
        if stopped is not None and left is not None:
            if stale_node is not None:
                rules = timeline.rules_at(stale_node, t)
                if read and rules is not None:
                    why = _still_held(timeline, stale_node, left, routed_until, rules, rel)
                elif rules is None:
                    why = f"kube-proxy on {stale_node} had not synced in the recorded window"
                elif rules.took_from <= left < rules.synced_at:
                    why = (
                        f"kube-proxy on {stale_node} had last synced at {rel(rules.synced_at)} with a sync begun "
                        f"at {rel(rules.took_from)}, before that change"
                    )
                else:
                    why = f"kube-proxy on {stale_node} had not synced since {rel(rules.synced_at)}"
            else:
                why = f"kube-proxy's syncs were not recorded; within {PROXY_GRACE:.0f} s of the change"
            if seen_late:
                assert began is not None
                if began.pre_stop_s is not None and t >= began.t + began.pre_stop_s:
                    hold = f"a preStop sleep of {began.pre_stop_s:g} s: its app stopped from "
                    hold += rel(began.t + began.pre_stop_s)
                else:
                    hold = f"its preStop hook over, as the {error} says"
                if stopped.t > end + STOP_SEEN_LAG and stopped.finished is not None:
                    seen = (
                        f"exited within {rel(stopped.finished)}..{rel(stopped.finished + 1)} by its container's "
                        f"finishedAt, its status seen {(stopped.t - t) * 1000:.0f} ms after this request, at "
                        f"{rel(stopped.t)}"
                    )
                else:
                    seen = (
                        f"{stopped.what} as seen {(stopped.t - t) * 1000:.0f} ms later, at {rel(stopped.t)} (the "
                        f"kubelet reports an exit up to {STOP_SEEN_LAG:.0f} s late)"
                    )
                stop = f"{how}, pod {pod} ({version}) terminating since {rel(began.t)} ({hold}), {seen}"
            else:
                stop = f"{how}, {ms(stopped.t)} pod {pod} ({version}) {stopped.what}"
            return Attribution(
                start,
                error,
                "stale-proxy-rules",
                f"{stop}; its endpoint left the ready set at {rel(left)} but {why}: traffic still went to the "
                "stopped pod",
                pod,
                stale_node or node,
                nearest,
            )
        if began is not None and not began.pre_stop:  # a preStop hook holds the app: its exit is the stop
            if still_ready or left is None:
                routing = "still ready"
            elif read and stale_node is not None:
                held = _until(routed_until, stale_node, rel)
                routing = f"ready until {rel(left)} and still in kube-proxy's rules ({held})"
            else:
                routing = f"ready until {rel(left)} and still in the rules"
            return Attribution(
                start,
                error,
                "stopped-while-routed",
                f"{how}, {ms(began.t)} pod {pod} ({version}) began terminating while its endpoint "
                f"was {routing} on node {node}: the app stops on SIGTERM (it has no preStop hook to "
                f"hold it) before the routing changes",
                pod,
                node,
                nearest,
            )
    if error in ANSWERED:
        late = _deletion_seen_late(timeline, t, end)
        if late is not None:
            p, rises, since, until = late
            return Attribution(
                start,
                error,
                "stopped-while-routed",
                f"{how}: pod {p.pod} ({_version(p.image, versions)}) reset connections meanwhile ({rises} over "
                f"{rel(since)}..{rel(until)}) and "
                f"was seen terminating {(p.t - t) * 1000:.0f} ms later, at {rel(p.t)} (the watch shows a "
                f"deletion late): the app stops on SIGTERM (it has no preStop hook to hold it) while still routed",
                p.pod,
                p.node,
                nearest,
            )
    probed = {p.pod for p in timeline.pods if p.readiness_probe}
    for e in timeline.endpoints:
        if t - STARTUP_WINDOW <= e.t <= t and e.endpoint.ready and e.kind in ("added", "changed"):
            if error in ("connect-refused", "reset", "closed") and e.endpoint.pod not in probed:
                if timeline.routed_at(e.endpoint.address, t) is False:
                    continue  # the rules, as read, did not send anything to it yet
                if resetting and e.endpoint.pod not in resetting:
                    continue  # its kernel sent no reset then; another pod's did
                return Attribution(
                    start,
                    error,
                    "routed-before-listening",
                    f"{how}, {ms(e.t)} endpoint {e.endpoint.address} ({e.endpoint.pod}) became "
                    f"ready: routed to before it accepted connections (no readiness probe?)",
                    e.endpoint.pod,
                    e.endpoint.node,
                    nearest,
                )
    if timeline.endpoints and not any(s.ready for s in at_t.values()):
        return Attribution(
            start,
            error,
            "no-ready-endpoint",
            f"{how}: the Service had no ready endpoint ({len(at_t)} listed, none ready)",
            None,
            None,
            nearest,
        )
    if error == "connect-refused" and timeline.endpoints:
        for node in timeline.proxy_nodes:
            rules = timeline.rules_at(node, t)
            if rules is None:
                continue
            if rules.routes is not None:
                empty = not rules.routes
                why = f"kube-proxy's rules on {node}, read after its sync of {rel(rules.synced_at)}, "
                why += "sent the Service nowhere"
            else:
                empty = not any(s.ready for s in timeline.endpoints_at(rules.took_from).values())
                why = (
                    f"kube-proxy on {node} last synced at {rel(rules.synced_at)}"
                    + (f" (begun at {rel(rules.took_from)})" if rules.started_at is not None else "")
                    + ", when the Service had no ready endpoint"
                )
            if empty:
                return Attribution(
                    start,
                    error,
                    "no-ready-endpoint",
                    f"{how}: {why}, so its rules still rejected connections to it",
                    None,
                    node,
                    nearest,
                )
    if error in _TIMEOUTS:  # a counter that rose during the request, before the inferred entry below
        paws = _counted(timeline, t, end, ("TcpExt.PAWSTimewait",), lambda w: w.startswith("pod "))
        if paws:
            pod = paws[0].split(" ", 2)[1]
            return Attribution(
                start,
                error,
                "paws-timewait",
                f"{how}: {'; '.join(paws)} during the request: a SYN met a TIME_WAIT socket left by "
                f"an earlier connection on the same addresses and ports with a later TCP timestamp "
                f"(masqueraded NodePort traffic maps many client 4-tuples onto the pod's) and was "
                f"dropped, and so was its retransmission",
                pod,
                None,
                nearest,
            )
    if error in _UNANSWERED and timeline.counters_read and timeline.endpoints:  # "out of the rules" needs them
        stale = _stale_conntrack(timeline, t, versions)
        if stale is not None:
            p, resets = stale
            return Attribution(
                start,
                error,
                "stale-conntrack",
                f"{how}, {ms(p.t)} pod {p.pod} ({_version(p.image, versions)}) {p.what} with "
                f"connections open ({resets}) and out of the rules: a new connection from a source "
                f"port one of them used is taken by conntrack for the old one, whose entry keeps "
                f"its NAT to the gone pod (CLOSE 10 s after a reset, SYN_SENT 120 s)",
                p.pod,
                p.node,
                nearest,
            )
    drops = _counted(timeline, t, end, _DROPS, lambda w: w != "host")
    if drops:
        return Attribution(
            start,
            error,
            "kernel-drop",
            f"{how}: the kernel counted drops during the request: {'; '.join(drops)}",
            None,
            None,
            nearest,
        )
    counters = (
        "no kernel drop counter of a node or pod rose during it"
        if timeline.counters_read
        else "kernel counters were not read"
    )
    if not timeline.endpoints:
        notes = "; ".join(timeline.notes) or "none were recorded"
        return Attribution(
            start,
            error,
            "unattributed",
            f"{how}: the Service's endpoint changes were not recorded ({notes}), so whether a "
            f"stopping pod was still routed to cannot be told, and {counters}",
            None,
            None,
            nearest,
        )
    return Attribution(
        start,
        error,
        "unattributed",
        f"{how}: no endpoint or pod transition within {HORIZON:.0f} s explains it and {counters}; "
        f"the cause lies outside the recorded data path (the host leg of the probe, the probe "
        f"itself)",
        None,
        None,
        nearest,
    )


def cpu_meanwhile(timeline: DataPathTimeline, since: float, until: float) -> str | None:
    """Where the machine's CPU time went over the polls within [since, until] (the CPU ledger of
    `harness.netcounters`), as one clause; None when it was not read."""
    total: dict[str, int] = {}
    for c in timeline.counters:
        if c.name.startswith("cpu.") and c.since >= since - COUNTER_SLACK and c.t <= until + COUNTER_SLACK:
            total[c.name] = total.get(c.name, 0) + c.delta
    if "cpu.capacity_ms" not in total:
        return None
    capacity = total["cpu.capacity_ms"]
    idle = min(total.get("cpu.idle_ms", 0), capacity)
    busy = capacity - idle
    parts = [
        (total.get("cpu.node_ms"), "the kind node"),
        (total.get("cpu.samplers_ms"), "the samplers"),
        (total.get("cpu.harness_ms"), "the harness"),
    ]
    known = sum(ms for ms, _ in parts if ms)
    shares = [f"{label} {ms}" for ms, label in parts if ms is not None]
    node, pods, ours = total.get("cpu.node_ms"), total.get("cpu.node_pods_ms"), total.get("cpu.service_pods_ms")
    if node is not None and pods is not None and ours is not None:
        shares[0] += (
            f" (the Service's pods {ours}, the node's other pods {max(0, pods - ours)}, "
            f"its kubelet, runtime and the rest {max(0, node - pods)})"
        )
    shares.append(f"everything else {max(0, busy - known)}")
    return f"meanwhile the CPUs had {capacity} ms, {idle} of them idle: {', '.join(shares)}"


def _starved(
    timeline: DataPathTimeline, start: float, end: float, *, connecting: bool = False
) -> tuple[str, int, float, float] | None:
    """The pod whose tasks waited longest for a CPU during [start, end] (credited up to `CREDIT_LAG`
    later), when that is `STARVED` or more and, for a connection that timed out (`connecting`), its
    accept queue overflowed meanwhile: (pod, ms, first poll start, last poll end)."""
    by_pod: dict[str, list[float]] = {}
    waited: dict[str, int] = {}
    for c in timeline.counters_between(start - COUNTER_SLACK, end + CREDIT_LAG):
        if c.name == WAIT_COUNTER and c.where.startswith("pod "):
            pod = c.where[4:]
            waited[pod] = waited.get(pod, 0) + c.delta
            by_pod.setdefault(pod, []).extend((c.since, c.t))
    if connecting:
        full = {
            c.where[4:]
            for c in timeline.counters_between(start - COUNTER_SLACK, end + COUNTER_SLACK)
            if c.name in _QUEUE_FULL and c.where.startswith("pod ")
        }
        waited = {pod: ms for pod, ms in waited.items() if pod in full}
    if not waited:
        return None
    pod = max(waited, key=lambda p: waited[p])
    if waited[pod] < STARVED * 1000:
        return None
    return pod, waited[pod], min(by_pod[pod]), max(by_pod[pod])


def _deletion_seen_late(
    timeline: DataPathTimeline, t: float, end: float
) -> tuple[PodTransition, str, float, float] | None:
    """A pod without a preStop hook whose kernel sent resets in a counter poll that covers the failure
    and whose deletion the watch showed after the failure but within that same poll: it was being
    stopped (SIGTERM at once) when the failure came, as seen late. Not a pod the rules, as read, had
    already dropped."""
    for c in timeline.counters_between(t - COUNTER_SLACK, end + COUNTER_SLACK):
        if c.name not in _RESETS or not c.where.startswith("pod ") or not c.since <= t <= c.t:
            continue
        pod = c.where[4:]
        began = next((p for p in timeline.pod_history(pod) if p.what == "terminating" and t < p.t <= c.t), None)
        if began is None or began.pre_stop or (began.ip and timeline.routed_at(began.ip, t) is False):
            continue
        rises = [
            f"{x.name} +{x.delta}"
            for x in timeline.counters_between(c.since, c.t)
            if x.where == c.where and x.name in _RESETS and (x.since, x.t) == (c.since, c.t)
        ]
        return began, ", ".join(rises), c.since, c.t
    return None


def _stale_conntrack(
    timeline: DataPathTimeline, t: float, versions: Mapping[str, str]
) -> tuple[PodTransition, str] | None:
    """The latest pod that stopped before `t` (within `STALE_ENTRY`) while its kernel reset connections."""
    for p in sorted(
        (p for p in timeline.pods if p.what in ("exited", "deleted") and t - STALE_ENTRY <= p.t < t),
        key=lambda p: p.t,
        reverse=True,
    ):
        rises = [
            c
            for c in timeline.counters_between(p.t - STOP_SEEN_LAG, p.t + COUNTER_SLACK)
            if c.where == f"pod {p.pod}" and c.name in _RESETS
        ]
        if rises:
            return p, ", ".join(f"{c.name} +{c.delta}" for c in rises)
    return None


def attributor(
    timeline: DataPathTimeline,
    *,
    versions: Mapping[str, str] | None = None,
    origin: float = 0.0,
    source_ports: bool = False,
    host_failures: Sequence[ProbeSample] = (),
    run_samples: Sequence[ProbeSample] = (),
) -> Callable[[Sequence[ProbeSample]], list[Attribution]]:
    """A function attributing a list of failed samples against `timeline` (for `analysis.analyse`).
    `source_ports`: the samples' ports are those the node saw (the `node` route: no proxy between);
    `host_failures`: then the failed requests of the other samplers of that host and route, which
    share the port space (`same_port_failure`); `run_samples`: every sample of the run, which says
    when each reused connection was opened."""
    opened = connections_opened(run_samples)

    def run(samples: Sequence[ProbeSample]) -> list[Attribution]:
        ports = by_port([*host_failures, *samples]) if source_ports else {}
        return [
            attribute(
                s,
                timeline,
                versions=versions,
                origin=origin,
                same_port=same_port_failure(s, ports) if source_ports else None,
                opened=opened.get(s.connection) if s.reused else None,
            )
            for s in samples
        ]

    return run
