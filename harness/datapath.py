"""The data path behind a Service, recorded on the harness clock while a scenario runs.

Three sources, each read without changing the system under test:

- `EndpointSliceWatcher`: the Service's EndpointSlices; every endpoint's
  ready / serving / terminating conditions (KEP-1672, what kube-proxy acts on),
  when it appeared and when it was removed;
- `harness.rollout.podwatcher.PodWatcher`: the pods behind it: created, Ready, deletion
  started (preStop begins), container exited (code), deleted;
- `ProxySyncPoller`: on kind nodes this host started, kube-proxy's
  `sync_proxy_rules_last_timestamp_seconds` metric, read from inside each node's
  network namespace (a thread that joins it) every `interval`, and after each new
  sync the endpoints its rules send the Service to (`harness.proxyrules`), so a
  failure can be placed against the rules in place when it happened;
- `harness.netcounters.NetCounterPoller`: on the same nodes, the kernel's drop and
  reset counters of the host, each node and each pod of the Service.

`DataPathRecorder` runs them together; `stop()` returns a `DataPathTimeline`,
pure data that `harness.attribution` reads.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import kubernetes.client

from .kube.patches import object_path
from .kube.watch import ListCall, ListWatchRecorder
from .netcounters import CounterChange, NetCounterPoller
from .netns import join_netns
from .proxyrules import NatTableReader, service_routes
from .rollout.pods import PodEvent
from .rollout.podwatcher import PodWatcher
from .samples import clock
from .timeouts import DEFAULT_TIMEOUTS, Timeouts

__all__ = [
    "SERVICE_NAME_LABEL",
    "EndpointState",
    "EndpointEvent",
    "ProxySync",
    "PodTransition",
    "DataPathTimeline",
    "EndpointSliceWatcher",
    "ProxySyncPoller",
    "SyncReader",
    "DataPathRecorder",
    "endpoint_states",
    "pod_transitions",
    "parse_sync_metric",
]

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
_SYNC_METRIC = re.compile(
    r"^(?:kubeproxy_)?sync_proxy_rules_last_timestamp_seconds(?:\{([^}]*)\})?\s+(\S+)", re.MULTILINE
)
_DURATION_METRIC = re.compile(
    r"^(?:kubeproxy_)?sync_proxy_rules_duration_seconds_(sum|count)(?:\{([^}]*)\})?\s+(\S+)", re.MULTILINE
)
_IP_FAMILY = re.compile(r'ip_family="([^"]*)"')
FAMILY = "IPv4"
"""The proxier whose syncs are read: kube-proxy runs one per IP family and labels its metrics with it
(since 1.2x; before, one unlabelled series); the clusters the harness probes are IPv4."""


# --------------------------------------------------------------------------- pure records


@dataclass(frozen=True)
class EndpointState:
    """One endpoint of an EndpointSlice: its address, the pod and node behind it, its conditions."""

    address: str
    pod: str | None
    node: str | None
    ready: bool
    serving: bool
    terminating: bool

    def describe(self) -> str:
        flags = [f"ready={str(self.ready).lower()}", f"serving={str(self.serving).lower()}"]
        if self.terminating:
            flags.append("terminating")
        return " ".join(flags)


@dataclass(frozen=True)
class EndpointEvent:
    """At `t`, `endpoint` appeared ("added"; "listed": it was there when the watcher first listed
    the slices), changed its conditions ("changed") or left the slices ("removed"; the state is the
    last one seen)."""

    t: float
    kind: str
    endpoint: EndpointState


@dataclass(frozen=True)
class ProxySync:
    """kube-proxy on `node` had last synced its rules at `synced_at` (harness clock), as read at `seen_at`.

    kube-proxy stamps a sync when its rules are written, and takes the endpoint changes it has
    received when the sync begins: `started_at` is that beginning (the stamp less the sync's
    duration, from its duration histogram), None where the metrics do not give it."""

    node: str
    synced_at: float
    seen_at: float
    started_at: float | None = None
    routes: tuple[str, ...] | None = None
    """The endpoint addresses the Service's rules sent traffic to after this sync, read from the
    node's nat table before any later sync (`harness.proxyrules`); None: not read."""

    @property
    def took_from(self) -> float:
        """The latest instant whose endpoint changes this sync's rules hold (its start where known)."""
        return self.started_at if self.started_at is not None else self.synced_at


@dataclass(frozen=True)
class PodTransition:
    """One step in a pod's life, at `t`: "created", "ready", "not-ready", "terminating"
    (deletion started: preStop runs), "exited" (container terminated, `exit_code`), "deleted"."""

    t: float
    pod: str
    what: str
    node: str | None = None
    ip: str | None = None
    image: str | None = None
    exit_code: int | None = None
    readiness_probe: bool | None = None
    pre_stop: bool | None = None
    pre_stop_s: float | None = None  # how long the preStop hook sleeps, where that is all it does
    finished: float | None = None
    """"exited" only: when the container terminated by its own `finishedAt`, on the harness clock
    (the start of that whole second; the exit came within the second after it)."""


@dataclass(frozen=True)
class DataPathTimeline:
    """Everything recorded about the data path of one Service, sorted by time.

    `proxy_nodes` lists the nodes whose kube-proxy was polled (empty when it could
    not be, e.g. a cluster this host did not start); `notes` says what could not be
    recorded and why. `counters` are the kernel counters that rose (`counters_read`:
    whether they were read at all)."""

    service: str
    endpoints: tuple[EndpointEvent, ...] = ()
    pods: tuple[PodTransition, ...] = ()
    proxy: tuple[ProxySync, ...] = ()
    proxy_nodes: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    counters: tuple[CounterChange, ...] = ()
    counters_read: bool = False

    def shutdowns_unseen(self, until: float) -> list[PodTransition]:
        """The "terminating" steps of pods whose exit or deletion had not been seen by `until`."""
        pending: dict[str, PodTransition] = {}
        for p in self.pods:
            if p.t > until:
                break
            if p.what == "terminating":
                pending[p.pod] = p
            elif p.what in ("exited", "deleted"):
                pending.pop(p.pod, None)
        return sorted(pending.values(), key=lambda p: p.t)

    def counters_between(self, since: float, until: float) -> list[CounterChange]:
        """Counter rises whose polling interval overlaps [since, until]."""
        return [c for c in self.counters if c.t >= since and c.since <= until]

    def endpoints_at(self, t: float) -> dict[str, EndpointState]:
        """The endpoints listed at `t`, by address."""
        state: dict[str, EndpointState] = {}
        for e in self.endpoints:
            if e.t > t:
                break
            if e.kind == "removed":
                state.pop(e.endpoint.address, None)
            else:
                state[e.endpoint.address] = e.endpoint
        return state

    def last_sync(self, node: str, before: float) -> float | None:
        """When kube-proxy on `node` last synced before `before` (None: not seen)."""
        synced = [p.synced_at for p in self.proxy if p.node == node and p.synced_at <= before]
        return max(synced) if synced else None

    def rules_at(self, node: str, t: float) -> ProxySync | None:
        """The sync whose rules kube-proxy on `node` had in place at `t` (None: not seen)."""
        synced = [p for p in self.proxy if p.node == node and p.synced_at <= t]
        return max(synced, key=lambda p: p.synced_at) if synced else None

    def next_sync(self, node: str, after: float) -> float | None:
        """When kube-proxy on `node` first wrote rules that hold a change made at `after`: the first
        sync begun after it (a sync that began before it and ended after does not have it), None:
        not seen."""
        synced = [p.synced_at for p in self.proxy if p.node == node and p.took_from > after]
        return min(synced) if synced else None

    def at_rest_after(self, t: float) -> float | None:
        """The first instant from `t` on at which kube-proxy's rules on every polled node, as read, sent
        the Service to exactly its ready endpoints then (an instant whose rules were not read is not one);
        None when none came in the record (or no node was polled)."""
        if not self.proxy_nodes:
            return None
        instants = sorted(
            {t, *(p.synced_at for p in self.proxy if p.synced_at > t), *(e.t for e in self.endpoints if e.t > t)}
        )
        for at in instants:
            ready = tuple(sorted(a for a, state in self.endpoints_at(at).items() if state.ready))
            if hold_ready_alone([self.rules_at(node, at) for node in self.proxy_nodes], ready):
                return at
        return None

    def routed_at(self, address: str, t: float) -> bool | None:
        """Whether kube-proxy's rules on some polled node sent the Service to `address` at `t`, as read
        after the sync in place then; None when that is not known (a node's rules then not read)."""
        held = []
        for node in self.proxy_nodes:
            rules = self.rules_at(node, t)
            if rules is None or rules.routes is None:
                return None
            held.append(address in rules.routes)
        return any(held) if held else None

    def rules_dropped(self, node: str, address: str, after: float) -> float | None:
        """When kube-proxy's rules on `node` stopped sending the Service's traffic to `address` (an
        endpoint that left the ready set at `after`), as read from them: the stamp of the first sync
        whose rules were read without it, from the one in place at `after` on, provided every sync's
        rules up to it were read (else they may have dropped it at a sync in between: None, as when
        they were not read at all). Infinity: they still held it at the last sync recorded. Rules in
        place at `after` without it had not yet taken it in: a sync begun before `after` (from the
        endpoints as they were, it ready) can still write it in, and then holds it from its stamp."""
        syncs = sorted((p for p in self.proxy if p.node == node), key=lambda p: p.synced_at)
        since = [p for p in syncs if p.synced_at > after]
        seq = [p for p in syncs if p.synced_at <= after][-1:] + since
        if seq and seq[0].routes is not None and address not in seq[0].routes:
            begun = [p for p in since if p.took_from <= after]  # began before the change, ended after it
            if any(p.routes is None for p in begun):
                return None
            late = next((p for p in begun if address in (p.routes or ())), None)
            if late is None:
                return seq[0].synced_at  # never held it since
            seq = seq[seq.index(late) :]
        for p in seq:
            if p.routes is None:
                return None
            if address not in p.routes:
                return p.synced_at
        return float("inf") if seq else None

    def pod_history(self, pod: str) -> list[PodTransition]:
        return [p for p in self.pods if p.pod == pod]


def hold_ready_alone(syncs: Sequence[ProxySync | None], ready: tuple[str, ...]) -> bool:
    """Whether each node's rules, as read after its sync (`syncs`, one per node), send the Service to
    exactly the `ready` addresses (sorted, as `ProxySync.routes` are)."""
    return all(s is not None and s.routes == ready for s in syncs)


def endpoint_states(slices: Sequence[Mapping[str, Any]]) -> dict[str, EndpointState]:
    """The union of endpoints over a Service's EndpointSlices, by address (first address of each)."""
    out: dict[str, EndpointState] = {}
    for slc in slices:
        for ep in slc.get("endpoints") or []:
            addresses = ep.get("addresses") or []
            if not addresses:
                continue
            cond = ep.get("conditions") or {}
            ready = cond.get("ready")
            ready = True if ready is None else bool(ready)  # nil means ready (API docs)
            serving = cond.get("serving")
            serving = ready if serving is None else bool(serving)
            ref = ep.get("targetRef") or {}
            out[str(addresses[0])] = EndpointState(
                address=str(addresses[0]),
                pod=ref.get("name") if ref.get("kind", "Pod") == "Pod" else None,
                node=ep.get("nodeName"),
                ready=ready,
                serving=serving,
                terminating=bool(cond.get("terminating")),
            )
    return out


def pod_transitions(events: Sequence[PodEvent]) -> list[PodTransition]:
    """Pod watcher events as the steps of each pod's life."""
    out: list[PodTransition] = []
    last: dict[str, Any] = {}
    for e in sorted(events, key=lambda e: e.t):
        p = e.pod
        prev = last.get(p.uid)
        common = dict(
            pod=p.name,
            node=p.node,
            ip=p.ip,
            image=p.image,
            readiness_probe=p.readiness_probe,
            pre_stop=p.pre_stop,
            pre_stop_s=p.pre_stop_s,
        )
        if prev is None and e.kind != "deleted":
            out.append(PodTransition(e.t, what="created" if e.kind == "added" else "listed", **common))
        if e.kind == "deleted":
            out.append(PodTransition(e.t, what="deleted", **common))
            last.pop(p.uid, None)
            continue
        if p.ready and not (prev is not None and prev.ready):
            out.append(PodTransition(e.t, what="ready", **common))
        if not p.ready and prev is not None and prev.ready:
            out.append(PodTransition(e.t, what="not-ready", **common))
        if p.terminating and not (prev is not None and prev.terminating):
            out.append(PodTransition(e.t, what="terminating", **common))
        if p.exit_code is not None and (prev is None or prev.exit_code is None):
            finished = None if p.finished_at is None or e.wall is None else e.t - (e.wall - p.finished_at)
            out.append(PodTransition(e.t, what="exited", exit_code=p.exit_code, finished=finished, **common))
        last[p.uid] = p
    return out


def _family(labels: str) -> str | None:
    """The `ip_family` label of a series (None: unlabelled, the only proxier of an older kube-proxy)."""
    found = _IP_FAMILY.search(labels or "")
    return found.group(1) if found else None


def _ours(labels: str, family: str) -> bool:
    return _family(labels) in (None, family)


def sync_lines(text: str) -> str:
    """The lines of a /metrics text that name kube-proxy's sync metrics: its whole text is ~114 KB
    (1.34), polled ten times a second, and the two parses below cost 2.1 ms over it."""
    lines, at = [], text.find("sync_proxy_rules_")
    while at >= 0:
        start, end = text.rfind("\n", 0, at) + 1, text.find("\n", at)
        end = len(text) if end < 0 else end
        lines.append(text[start:end])
        at = text.find("sync_proxy_rules_", end)
    return "\n".join(lines)


def parse_sync_durations(text: str, family: str = FAMILY) -> tuple[float, int] | None:
    """kube-proxy's sync duration histogram from its /metrics text: (sum of seconds, count) of the
    `family` proxier (or of the unlabelled series), None when absent."""
    found = {kind: value for kind, labels, value in _DURATION_METRIC.findall(text) if _ours(labels, family)}
    try:
        return float(found["sum"]), int(float(found["count"]))
    except (KeyError, ValueError):
        return None


def parse_sync_metric(text: str, family: str = FAMILY) -> float | None:
    """kube-proxy's last-sync Unix time of the `family` proxier (or the unlabelled series) from its
    /metrics text (None when absent)."""
    for labels, raw in _SYNC_METRIC.findall(text):
        if not _ours(labels, family):
            continue
        try:
            value = float(raw)
        except ValueError:
            return None
        return value if value > 0 else None
    return None


# --------------------------------------------------------------------------- EndpointSlices


class EndpointSliceWatcher(ListWatchRecorder[EndpointEvent]):
    """Records an `EndpointEvent` (on `clock`) whenever an endpoint of `service` appears,
    changes its conditions or goes. List, then watch (the loop is `ListWatchRecorder`'s)."""

    noun = "endpoint events"

    def __init__(
        self,
        api_client: kubernetes.client.ApiClient,
        namespace: str,
        service: str,
        *,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
        max_events: int = 100_000,
        max_duration: float | None = None,
    ) -> None:
        super().__init__(
            path=object_path("discovery.k8s.io/v1", "endpointslices", None, namespace),
            thread_name=f"eps-watch-{namespace}-{service}",
            namespace=namespace,
            timeouts=timeouts,
            max_records=max_events,
            max_duration=max_duration,
        )
        self.service = service
        self._api = kubernetes.client.DiscoveryV1Api(api_client)
        self._slices: dict[str, Mapping[str, Any]] = {}
        self._known: dict[str, EndpointState] = {}

    def __repr__(self) -> str:
        return f"EndpointSliceWatcher({self.namespace}/{self.service}, events={len(self._records)})"

    def start(self, wait_listed: bool = True) -> EndpointSliceWatcher:
        self._start((lambda: f"the first EndpointSlice list of {self!r}") if wait_listed else None)
        return self

    @property
    def events(self) -> list[EndpointEvent]:
        return self._records_copy()

    def _what(self) -> str:
        return f"EndpointSlice watcher of {self.namespace}/{self.service}"

    def _list_call(self) -> ListCall:
        return (
            self._api.list_namespaced_endpoint_slice,
            (self.namespace,),
            {"label_selector": f"{SERVICE_NAME_LABEL}={self.service}"},
        )

    def _on_list(self, items: list[dict[str, Any]]) -> None:
        self._slices = {str((s.get("metadata") or {}).get("name")): s for s in items}
        self._diff(clock(), added="listed" if self.listed_at is None else "added")

    def _on_event(self, kind: str, obj: dict[str, Any]) -> None:
        name = str((obj.get("metadata") or {}).get("name"))
        if kind == "deleted":
            self._slices.pop(name, None)
        else:
            self._slices[name] = obj
        self._diff(clock())

    def ready_addresses(self) -> tuple[str, ...]:
        """The addresses of the endpoints ready now, as last seen (sorted)."""
        with self._lock:
            return tuple(sorted(a for a, state in self._known.items() if state.ready))

    def _diff(self, t: float, added: str = "added") -> None:
        now = endpoint_states(list(self._slices.values()))
        with self._lock:
            for address, state in now.items():
                before = self._known.get(address)
                if before is None:
                    self._keep(EndpointEvent(t, added, state))
                elif before != state:
                    self._keep(EndpointEvent(t, "changed", state))
            for address, state in self._known.items():
                if address not in now:
                    self._keep(EndpointEvent(t, "removed", state))
            self._known = now


def endpoints_as_slice(endpoints: Mapping[str, Any]) -> dict[str, Any]:
    """A v1 Endpoints object as one EndpointSlice-shaped dict (for `endpoint_states`): its
    `addresses` ready, its `notReadyAddresses` not (v1 Endpoints have no terminating condition:
    the endpoints controller drops a pod once its deletion begins)."""
    out = []
    for subset in endpoints.get("subsets") or []:
        for key, ready in (("addresses", True), ("notReadyAddresses", False)):
            for a in subset.get(key) or []:
                if a.get("ip"):
                    out.append(
                        {
                            "addresses": [a["ip"]],
                            "conditions": {"ready": ready, "serving": ready},
                            "targetRef": a.get("targetRef") or {},
                            "nodeName": a.get("nodeName"),
                        }
                    )
    return {"metadata": endpoints.get("metadata") or {}, "endpoints": out}


class EndpointsWatcher(EndpointSliceWatcher):
    """`EndpointSliceWatcher` over the Service's v1 Endpoints object, for servers before 1.21."""

    noun = "endpoint events"

    def __init__(self, api_client: kubernetes.client.ApiClient, namespace: str, service: str, **kwargs: Any) -> None:
        super().__init__(api_client, namespace, service, **kwargs)
        self._path = object_path("v1", "endpoints", None, namespace)
        self._core = kubernetes.client.CoreV1Api(api_client)

    def __repr__(self) -> str:
        return f"EndpointsWatcher({self.namespace}/{self.service}, events={len(self._records)})"

    def _what(self) -> str:
        return f"Endpoints watcher of {self.namespace}/{self.service}"

    def _list_call(self) -> ListCall:
        return (
            self._core.list_namespaced_endpoints,
            (self.namespace,),
            {"field_selector": f"metadata.name={self.service}"},
        )

    def _on_list(self, items: list[dict[str, Any]]) -> None:
        super()._on_list([endpoints_as_slice(e) for e in items])

    def _on_event(self, kind: str, obj: dict[str, Any]) -> None:
        super()._on_event(kind, endpoints_as_slice(obj))


# --------------------------------------------------------------------------- kube-proxy


def _http_get(host: str, port: int, path: str, timeout: float) -> str:
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(f"GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\n\r\n".encode())
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    raw = b"".join(chunks)
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0]
    if not status_line.startswith(b"HTTP/1.") or b" 200" not in status_line:
        raise OSError(f"GET {path}: {status_line.decode('latin-1', 'replace')}")
    return body.decode("utf-8", "replace")


class ProxySyncPoller:
    """Polls kube-proxy's last-sync metric on each node, from inside the node's network namespace.

    `nodes` maps node names to the host PIDs of their containers (kind nodes this
    host started). One thread per node joins that namespace (it does nothing else)
    and reads http://127.0.0.1:10249/metrics every `interval`. Records a `ProxySync`
    whenever the value changes. Errors are kept per node in `errors`, never raised
    into the test: a node whose metrics cannot be read is listed there.

    With `service` (`namespace/name`), each new sync's rules for it are read from the node's nat
    table (`harness.proxyrules`) and kept as the record's `routes` once the next poll shows no
    later sync wrote over them; `rules_errors` says per node why they could not be read.
    """

    def __init__(
        self,
        nodes: Mapping[str, int],
        *,
        interval: float = 0.1,
        port: int = 10249,
        timeout: float = 1.0,
        max_records: int = 100_000,
        service: str | None = None,
    ) -> None:
        self.service = service
        self.rules_errors: dict[str, str] = {}
        self.nodes = dict(nodes)
        self.interval = interval
        self.port = port
        self.timeout = timeout
        self.max_records = max_records
        self.records: list[ProxySync] = []
        self.errors: dict[str, str] = {}
        self.polls: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._first: dict[str, threading.Event] = {node: threading.Event() for node in self.nodes}

    def start(self) -> ProxySyncPoller:
        """Start one thread per node; return once each has polled once (or failed), at most 3 timeouts."""
        for node, pid in self.nodes.items():
            thread = threading.Thread(target=self._run, args=(node, pid), name=f"proxy-sync-{node}", daemon=True)
            thread.start()
            self._threads.append(thread)
        deadline = clock() + self.timeout * 3
        for event in self._first.values():
            event.wait(max(0.0, deadline - clock()))
        return self

    def latest(self) -> dict[str, ProxySync]:
        """Each polled node's latest sync record (a node not yet seen to sync is absent)."""
        with self._lock:
            return {r.node: r for r in self.records}

    def stop(self) -> list[ProxySync]:
        self._stop.set()
        for thread in self._threads:
            thread.join(self.timeout * 2 + self.interval)
        with self._lock:
            return list(self.records)

    def _run(self, node: str, pid: int) -> None:
        reader = SyncReader(node)
        service = self.service
        rules = NatTableReader() if service is not None else None
        index: int | None = None  # of this node's latest record in `records`
        read: tuple[float, tuple[str, ...]] | None = None  # routes read after the sync stamped at [0]
        try:
            join_netns(pid)
        except OSError as exc:
            self.errors[node] = str(exc)
            self._first[node].set()
            return
        while not self._stop.is_set():
            again = False
            try:
                text = _http_get("127.0.0.1", self.port, "/metrics", self.timeout)
                seen_mono, seen_wall = clock(), time.time()
                self.polls[node] = self.polls.get(node, 0) + 1
                record = reader.take(text, seen_mono, seen_wall)
                if reader.missing:
                    self.errors[node] = "no sync_proxy_rules_last_timestamp_seconds in kube-proxy's metrics"
                    read = None
                else:
                    fresh = False
                    with self._lock:
                        if record is not None:
                            if index is not None and self.records[index].synced_at == record.synced_at:
                                # its start, read one poll later
                                self.records[index] = replace(record, routes=self.records[index].routes)
                            elif len(self.records) < self.max_records:
                                index, fresh = len(self.records), True
                                self.records.append(record)
                        if read is not None and not fresh and index is not None:
                            # no later sync stamped since the read: the rules read were this sync's
                            self.records[index] = replace(self.records[index], routes=read[1])
                        read = None
                    if fresh and rules is not None and service is not None and index is not None:
                        table = rules.read()
                        routes = service_routes(table, service) if table is not None else None
                        if routes is not None:
                            read, again = (self.records[index].synced_at, routes), True
                        if rules.error is not None:
                            self.rules_errors[node] = rules.error
                    self.errors.pop(node, None)
            except OSError as exc:
                self.errors[node] = f"kube-proxy metrics on {node}: {exc}"
            self._first[node].set()
            if not again:
                self._stop.wait(self.interval)


@dataclass
class SyncReader:
    """One node's kube-proxy metrics, poll by poll: a `ProxySync` for each new last-sync stamp, with
    its start where the duration histogram gives it.

    kube-proxy stamps a sync before it records the sync's duration, so a poll that falls between
    the two sees the new stamp with the old count: that sync's start is then given at the next poll
    that sees the count rise, as the same record again (same `synced_at`)."""

    node: str
    family: str = FAMILY
    missing: bool = False
    _last: float | None = None
    _durations: tuple[float, int] | None = None
    _pending: tuple[ProxySync, tuple[float, int]] | None = None  # a stamp seen before its duration

    def take(self, text: str, seen_mono: float, seen_wall: float) -> ProxySync | None:
        """The record this poll brings (new, or the pending one completed), None if nothing changed."""
        text = sync_lines(text)
        value = parse_sync_metric(text, self.family)
        durations = parse_sync_durations(text, self.family)
        before, self._durations = self._durations, durations
        self.missing = value is None
        if value is None:
            return None
        if value != self._last:
            first = self._last is None
            self._last = value
            synced = seen_mono - (seen_wall - value)  # the wall-clock instant on the harness clock
            took = None if first else sync_took(before, durations)
            record = ProxySync(self.node, synced, seen_mono, synced - took if took is not None else None)
            same_count = before is not None and durations is not None and durations[1] == before[1]
            self._pending = (record, before) if not first and took is None and same_count else None
            return record
        if self._pending is not None:
            record, counted = self._pending
            took = sync_took(counted, durations)
            if took is not None:
                self._pending = None
                return replace(record, started_at=record.synced_at - took)
        return None


def sync_took(before: tuple[float, int] | None, after: tuple[float, int] | None) -> float | None:
    """How long the latest sync took, from two readings of the duration histogram around it: exact
    when one sync ended between them; when several did, the longest any of them may have taken (the
    whole rise of the sum), so its start is never placed later than it was. None when not known."""
    if before is None or after is None or after[1] <= before[1]:
        return None
    return max(0.0, after[0] - before[0])


# --------------------------------------------------------------------------- all three


@dataclass
class DataPathRecorder:
    """The Service's EndpointSlices, its pods and (where this host can read it) kube-proxy's syncs.

    `start()` returns once both watchers recorded their first list; `stop()` returns
    the `DataPathTimeline`. `evidence_problems(since, until)` says why the record
    cannot be trusted over a window (a watcher that listed late, stopped early, failed)."""

    api_client: kubernetes.client.ApiClient
    namespace: str
    service: str
    selector: Mapping[str, str]
    proxy_nodes: Mapping[str, int] = field(default_factory=dict)
    timeouts: Timeouts = DEFAULT_TIMEOUTS
    proxy_note: str = ""
    proxy_interval: float = 0.1
    endpoint_slices: bool = True  # False where the server has no discovery.k8s.io/v1 (before 1.21): v1 Endpoints

    def __post_init__(self) -> None:
        watcher = EndpointSliceWatcher if self.endpoint_slices else EndpointsWatcher
        self.slices = watcher(self.api_client, self.namespace, self.service, timeouts=self.timeouts)
        self.pods = PodWatcher(self.api_client, self.namespace, self.selector, timeouts=self.timeouts)
        self.proxy = ProxySyncPoller(
            self.proxy_nodes, interval=self.proxy_interval, service=f"{self.namespace}/{self.service}"
        )
        self.counters = NetCounterPoller(self.proxy_nodes, self.pods.seen_pods) if self.proxy_nodes else None
        self.timeline: DataPathTimeline | None = None

    def start(self) -> DataPathRecorder:
        if self.slices is not None:
            self.slices.start()
        self.pods.start()
        self.proxy.start()
        if self.counters is not None:
            self.counters.start()
        return self

    @property
    def running(self) -> bool:
        return self.timeline is None

    def shutdowns(self) -> tuple[list[str], float | None]:
        """`PodWatcher.shutdowns`: the pods still shutting down, and when the last exit was seen; none
        to wait for once the pod watcher has ended (its evidence problems say why, and the timeline
        names the shutdowns it did not see end)."""
        pending, last = self.pods.shutdowns()
        return (pending if self.pods.running else []), last

    def converged(self) -> tuple[bool, str] | None:
        """Whether the data path has come to rest: kube-proxy's rules on every polled node, as read
        after its latest sync, send the Service to exactly its ready endpoints, and no pod of it is
        shutting down; with what was seen. None when that cannot be told (no node polled, or a node's
        rules not read)."""
        if not self.proxy_nodes or self.proxy.errors or self.proxy.rules_errors:
            return None
        ready = self.slices.ready_addresses()
        latest = self.proxy.latest()
        pending, _ = self.shutdowns()
        seen = [f"ready endpoints {', '.join(ready) or 'none'}"]
        ok = not pending and hold_ready_alone([latest.get(node) for node in self.proxy_nodes], ready)
        for node in self.proxy_nodes:
            sync = latest.get(node)
            routes = sync.routes if sync is not None else None
            seen.append(f"rules on {node}: {'not read yet' if routes is None else ', '.join(routes) or 'none'}")
        if pending:
            seen.append(f"still shutting down: {', '.join(pending)}")
        return ok, "; ".join(seen)

    def stop(self) -> DataPathTimeline:
        if self.timeline is not None:
            return self.timeline
        endpoint_events = self.slices.stop(raise_error=False) if self.slices is not None else []
        pod_events = self.pods.stop(raise_error=False)
        syncs = self.proxy.stop()
        counters = self.counters.stop() if self.counters is not None else []
        notes = [self.proxy_note] if self.proxy_note else []
        if self.counters is not None and self.counters.error is not None:
            notes.append(f"kernel counters: reading stopped early: {self.counters.error}")
        if not self.endpoint_slices:
            notes.append(
                "no EndpointSlices on this server (discovery.k8s.io/v1 arrived in 1.21): endpoint events from its "
                "v1 Endpoints, which have no terminating condition"
            )
        notes += [f"kube-proxy on {node}: {error}" for node, error in sorted(self.proxy.errors.items())]
        notes += [f"kube-proxy on {node}: {error}" for node, error in sorted(self.proxy.rules_errors.items())]
        for watcher in (self.slices, self.pods):
            if watcher is not None and watcher.error is not None:
                notes.append(f"{watcher._what()} failed: {watcher.error}")
        self.timeline = DataPathTimeline(
            service=self.service,
            endpoints=tuple(sorted(endpoint_events, key=lambda e: e.t)),
            pods=tuple(pod_transitions(pod_events)),
            proxy=tuple(sorted(syncs, key=lambda s: s.synced_at)),
            proxy_nodes=tuple(n for n in self.proxy_nodes if n not in self.proxy.errors),
            notes=tuple(notes),
            counters=tuple(sorted(counters, key=lambda c: c.t)),
            counters_read=self.counters is not None and self.counters.error is None,
        )
        return self.timeline

    def evidence_problems(self, since: float, until: float) -> list[str]:
        """Why the record cannot be trusted over [since, until], and every shutdown the window did not
        see to its end (a pod seen terminating whose exit was not seen before `until`): one line each."""
        slices = self.slices.evidence_problems(since, until) if self.slices is not None else []
        out = slices + self.pods.evidence_problems(since, until)
        if self.timeline is not None:
            out += [
                f"pod {p.pod} was seen terminating {until - p.t:.3f}s before the window closed and its exit "
                "was not seen: its shutdown was not probed to its end"
                for p in self.timeline.shutdowns_unseen(until)
            ]
        return out
