"""What a rolling update did to the ReplicationControllers of a namespace, as seen by a watch.

Used to compare two updaters (kubectl 1.17 and `harness.rollout.rcupdate`) from the
outside: `RcRecorder` lists and watches the RCs and records an `RcChange`
whenever an RC appears, disappears, or changes in a field either tool writes
(`RcState`: replicas, selector, template labels and images, labels,
annotations, being deleted). Status-only updates by the controller are not
changes. The pure helpers turn a list of changes into what is compared:

* `scale_steps`: each spec.replicas change after creation, `(rc, replicas)`;
* `annotations_at_steps`: every live RC's annotations right after each step;
* `writes`: every change as one line (`created web-v2 replicas=0 ...`);
* `Renamer`: one substitution for names, uids and hash values that differ
  between two runs by design (namespaces, generated names).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import kubernetes

from harness.kube.patches import object_path
from harness.kube.watch import ListCall, ListWatchRecorder
from harness.samples import clock
from harness.timeouts import DEFAULT_TIMEOUTS, Timeouts

__all__ = [
    "RcState",
    "RcChange",
    "rc_state",
    "diff_fields",
    "scale_steps",
    "annotations_at_steps",
    "writes",
    "Renamer",
    "RcRecorder",
]

Pairs = tuple[tuple[str, str], ...]


def _pairs(mapping: Mapping[str, Any] | None) -> Pairs:
    return tuple(sorted((str(k), str(v)) for k, v in (mapping or {}).items()))


@dataclass(frozen=True)
class RcState:
    """The fields of an RC that a rolling update writes."""

    name: str
    uid: str
    replicas: int
    selector: Pairs = ()
    template_labels: Pairs = ()
    images: tuple[str, ...] = ()
    labels: Pairs = ()
    annotations: Pairs = ()
    deleting: bool = False

    def describe(self) -> str:
        parts = [
            f"replicas={self.replicas}",
            f"selector={dict(self.selector)}",
            f"template={dict(self.template_labels)}",
            f"images={list(self.images)}",
            f"annotations={dict(self.annotations)}",
        ]
        if self.labels:
            parts.append(f"labels={dict(self.labels)}")
        if self.deleting:
            parts.append("deleting")
        return " ".join(parts)


def rc_state(rc: Mapping[str, Any]) -> RcState:
    """The `RcState` of an RC as the API returns it (camelCase dict)."""
    meta = rc.get("metadata") or {}
    spec = rc.get("spec") or {}
    template = spec.get("template") or {}
    containers = (template.get("spec") or {}).get("containers") or []
    replicas = spec.get("replicas")
    return RcState(
        name=str(meta.get("name", "")),
        uid=str(meta.get("uid", "")),
        replicas=1 if replicas is None else int(replicas),
        selector=_pairs(spec.get("selector")),
        template_labels=_pairs((template.get("metadata") or {}).get("labels")),
        images=tuple(str(c.get("image", "")) for c in containers),
        labels=_pairs(meta.get("labels")),
        annotations=_pairs(meta.get("annotations")),
        deleting=bool(meta.get("deletionTimestamp")),
    )


_FIELDS = ("replicas", "selector", "template_labels", "images", "labels", "annotations", "deleting")


def diff_fields(before: RcState, after: RcState) -> tuple[str, ...]:
    """The names of the `RcState` fields that differ."""
    return tuple(f for f in _FIELDS if getattr(before, f) != getattr(after, f))


@dataclass(frozen=True)
class RcChange:
    """One change of one RC: `created`, `changed` (with the fields) or `deleted` (with its last state)."""

    t: float
    kind: str
    state: RcState
    fields: tuple[str, ...] = ()

    def line(self) -> str:
        """The change in one line; a change shows only the fields it changed."""
        s = self.state
        if self.kind == "changed":
            shown = " ".join(f"{f}={_show(getattr(s, f))}" for f in self.fields)
            return f"changed {s.name} {shown}"
        if self.kind == "deleted":
            return f"deleted {s.name}"
        return f"{self.kind} {s.name} {s.describe()}"


def _show(value: Any) -> str:
    if isinstance(value, tuple) and all(isinstance(v, tuple) and len(v) == 2 for v in value):
        return str(dict(value))
    if isinstance(value, tuple):
        return str(list(value))
    return str(value)


def scale_steps(changes: Sequence[RcChange]) -> list[tuple[str, int]]:
    """(rc name, replicas) for every spec.replicas change after creation, in order."""
    return [(c.state.name, c.state.replicas) for c in changes if c.kind == "changed" and "replicas" in c.fields]


def annotations_at_steps(changes: Sequence[RcChange]) -> list[dict[str, dict[str, str]]]:
    """After each scale step: {rc name: annotations} of every RC that exists then."""
    live: dict[str, RcState] = {}
    out: list[dict[str, dict[str, str]]] = []
    for change in changes:
        if change.kind == "deleted":
            live.pop(change.state.uid, None)
        else:
            live[change.state.uid] = change.state
        if change.kind == "changed" and "replicas" in change.fields:
            out.append({s.name: dict(s.annotations) for s in sorted(live.values(), key=lambda s: s.name)})
    return out


def writes(changes: Iterable[RcChange]) -> list[str]:
    """Every change as one line (see `RcChange.line`)."""
    return [c.line() for c in changes]


@dataclass
class Renamer:
    """Replaces run-specific strings (generated names, uids, hash values) by stable placeholders.

    Longer strings are replaced first, so a name that contains a hash becomes
    one placeholder.
    """

    names: dict[str, str] = field(default_factory=dict)

    def add(self, actual: str, placeholder: str) -> None:
        if actual:
            self.names[actual] = placeholder

    def __call__(self, value: Any) -> Any:
        if isinstance(value, str):
            if not self.names:
                return value
            pattern = re.compile("|".join(re.escape(k) for k in sorted(self.names, key=len, reverse=True)))
            return pattern.sub(lambda m: self.names[m.group(0)], value)
        if isinstance(value, list):
            return [self(v) for v in value]
        if isinstance(value, tuple):
            return tuple(self(v) for v in value)
        if isinstance(value, dict):
            return {self(k): self(v) for k, v in value.items()}
        if isinstance(value, RcState):
            return RcState(
                **{f: self(getattr(value, f)) for f in ("name", "uid")}, **{f: self(getattr(value, f)) for f in _FIELDS}
            )
        if isinstance(value, RcChange):
            return replace(value, state=self(value.state))
        return value


class RcRecorder(ListWatchRecorder[RcChange]):
    """Records an `RcChange` whenever an RC of `namespace` changes in a field of `RcState`.

    The loop is `harness.kube.watch.ListWatchRecorder`'s (list, then watch from
    the list's resourceVersion, relist on 410): `start()`, then `stop()`
    returns the changes. RCs present at the first list are recorded as `listed`.
    """

    noun = "changes"

    def __init__(
        self,
        api_client: Any,
        namespace: str,
        *,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
        max_duration: float = 1800.0,
        max_changes: int = 100_000,
    ) -> None:
        super().__init__(
            path=object_path("v1", "replicationcontrollers", None, namespace),
            thread_name=f"rc-watch-{namespace}",
            namespace=namespace,
            timeouts=timeouts,
            max_records=max_changes,
            max_duration=max_duration,
        )
        self._core = kubernetes.client.CoreV1Api(api_client)
        self._known: dict[str, RcState] = {}
        self._listed_once = False

    @property
    def changes(self) -> list[RcChange]:
        return self._records_copy()

    def current(self) -> dict[str, RcState]:
        """The last recorded state of every RC that exists, by uid."""
        with self._lock:
            return dict(self._known)

    def start(self) -> RcRecorder:
        """Start the thread; return once the first list is recorded."""
        self._start(lambda: f"the first RC list of {self.namespace}")
        return self

    # -- thread side: records only

    def _what(self) -> str:
        return f"RC recorder of {self.namespace}"

    def _list_call(self) -> ListCall:
        return self._core.list_namespaced_replication_controller, (self.namespace,), {}

    def _on_list(self, items: list[dict[str, Any]]) -> None:
        states = [rc_state(i) for i in items]
        with self._lock:
            uids = {s.uid for s in states}
            for uid in [u for u in self._known if u not in uids]:
                self._keep(RcChange(clock(), "deleted", self._known.pop(uid)))
            for state in states:
                self._record("listed" if not self._listed_once else "modified", state)
            self._listed_once = True

    def _on_event(self, kind: str, obj: dict[str, Any]) -> None:
        with self._lock:
            self._record(kind, rc_state(obj))

    def _record(self, kind: str, state: RcState) -> None:
        previous = self._known.get(state.uid)
        if kind == "deleted":
            self._known.pop(state.uid, None)
            self._keep(RcChange(clock(), "deleted", previous or state))
            return
        self._known[state.uid] = state
        if previous is None:
            self._keep(RcChange(clock(), "listed" if kind == "listed" else "created", state))
        elif previous != state:
            self._keep(RcChange(clock(), "changed", state, diff_fields(previous, state)))
