"""Reports people read: one JSON per test, a session summary, a behaviour matrix, a picture.

Times written here are seconds relative to each test's `t0` (harness clock).
Caller-supplied API exchanges are scrubbed of credentials before writing.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .analysis import ProbeAnalysis
from .cluster.model import ClusterBringUp
from .datapath import DataPathTimeline
from .errors import ConfigError
from .matrix import CHECK, MEASUREMENT, SCENARIO, Matrix, MatrixBuilder, version_key, write_matrix
from .samples import NEW_CONNECTION, ProbeSample
from .stopwatch import PARTS
from .rolloutsteps import ReplicaPoint, ScaleStep

__all__ = [
    "file_stem",
    "HistoryEntry",
    "CheckOutcome",
    "TestReport",
    "Matrix",
    "scrub_credentials",
    "report_dict",
    "write_test_report",
    "write_samples",
    "behaviour_matrix",
    "write_summary",
    "plot_timeline",
    "terminal_summary_lines",
    "versions_line",
    "REPORT_FORMAT",
]

REPORT_FORMAT = 2
"""Per-test report JSON: format 2 names `kit_version` and `server_version`; format 1 (no `format` key) had
only `k8s_version`, the server's."""

_SECRET_NAMES = frozenset(
    {"authorization", "proxy-authorization", "token", "password", "client-key", "client-key-data"}
)
_PLOT_BIN_SECONDS = 0.1
_MAX_STEP_LABELS = 16
_VERSIONS_WIDTH = 32  # characters of the versions column in the terminal table


@dataclass(frozen=True)
class HistoryEntry:
    """One revision of the rolled-out object, as `rollout history` shows it."""

    revision: str
    change_cause: str | None = None
    image: str | None = None


@dataclass(frozen=True)
class CheckOutcome:
    """What one check observed, e.g. ("rollback-apps-v1beta1", "404").

    A measurement (a count, a duration) is shown in the behaviour matrix but never
    compared between versions or runs.
    """

    name: str
    observed: str
    measurement: bool = False


@dataclass(frozen=True)
class TestReport:
    """Everything one test reports; `t0` is the harness-clock origin of its times.

    `server_version` is what the API server answered ("v1.34.4"); `kit_version` the
    Kubernetes of the kit build the session used (None: it used none)."""

    __test__ = False  # a library class, not a pytest test class

    scenario: str
    nodeid: str
    outcome: str
    server_version: str
    t0: float
    duration_s: float
    rollout_s: float | None = None
    steps: tuple[ScaleStep, ...] = ()
    probes: tuple[ProbeAnalysis, ...] = ()
    datapath: tuple[DataPathTimeline, ...] = ()
    history: tuple[HistoryEntry, ...] = ()
    api_exchanges: tuple[Mapping[str, Any], ...] = ()
    checks: tuple[CheckOutcome, ...] = ()
    picture: Path | None = None
    message: str = ""
    setup_s: float | None = None
    parts: tuple[tuple[str, float], ...] = ()
    """Seconds per part of the test's time besides the rollout (`harness.stopwatch.PARTS`)."""
    kit_version: str | None = None
    teardown_s: float | None = None
    """Its fixtures' teardown (writing this report among them), the session's own left out."""

    @property
    def probe(self) -> ProbeAnalysis | None:
        """The new-connection sampler's analysis (the first one when there is none)."""
        return next((p for p in self.probes if p.label == NEW_CONNECTION), self.probes[0] if self.probes else None)


def _is_secret(name: object) -> bool:
    return isinstance(name, str) and name.strip().lower().replace("_", "-") in _SECRET_NAMES


def _is_secret_pair(item: object) -> bool:
    if isinstance(item, (list, tuple)) and len(item) == 2:
        return _is_secret(item[0])
    if isinstance(item, Mapping) and set(item) <= {"name", "value"}:
        return _is_secret(item.get("name"))
    return False


def scrub_credentials(value: Any) -> Any:
    """A copy of `value` without credential keys or headers, at any depth.

    Drops mapping keys named authorization / proxy-authorization / token /
    password / client-key / client-key-data (any case, `_` or `-`), and header
    lists' entries of those names (("Authorization", v) or {"name": ..., "value": ...}).
    """
    if isinstance(value, Mapping):
        return {str(k): scrub_credentials(v) for k, v in value.items() if not _is_secret(k)}
    if isinstance(value, (list, tuple)):
        return [scrub_credentials(v) for v in value if not _is_secret_pair(v)]
    return value


def _rel(t: float, t0: float) -> float:
    return round(t - t0, 6)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


def _opt_rel(t: float | None, t0: float) -> float | None:
    return None if t is None else _rel(t, t0)


def _probe_dict(probe: ProbeAnalysis, t0: float) -> dict[str, Any]:
    """One sampler's analysis, as the assertions read it: verdict, evidence, failures with causes."""
    c = probe.coverage
    return {
        "kind": probe.kind,
        "route": probe.route,
        "where": probe.where,
        "interval_ms": _ms(probe.interval),
        "connection_lifetime_s": probe.connection_lifetime,
        "verdict": probe.verdict,
        "passed": probe.passed,
        "complete": probe.complete,
        "failures_asserted": probe.failures_asserted,
        "problems": [{"kind": p.kind, "text": p.text, "t": _opt_rel(p.t, t0)} for p in probe.problems],
        "total": probe.total,
        "failed": probe.failed,
        "availability": probe.availability,
        "rate_per_s": round(probe.rate, 3),
        "duration_s": round(probe.duration, 6),
        "coverage": {
            "window": [_opt_rel(c.window_start, t0), _opt_rel(c.window_end, t0)],
            "first_request": _opt_rel(c.first_start, t0),
            "last_request": _opt_rel(c.last_start, t0),
            "max_gap_ms": _ms(c.max_gap),
            "max_gap_at": _opt_rel(c.max_gap_at, t0),
            "gap_bound_ms": _ms(c.gap_bound),
            "gaps_over_bound": [[_rel(a, t0), _rel(b, t0)] for a, b in c.gaps],
            "gaps_while_no_cpu_ran": [
                {"from": _rel(a, t0), "to": _rel(b, t0), "no_cpu_ran_ms": _ms(idle), "explained": (a, b) not in c.gaps}
                for a, b, idle in c.not_run
            ],
            "cpu_trace": c.trace,
            "no_cpu_ran": [[_rel(a, t0), _rel(b, t0)] for a, b in c.no_cpu_ran],
            "requests_started": c.requests,
            "samples_received": c.received,
            "samples_lost": c.lost,
            "ticks_skipped": c.skipped,
            "stop_reason": c.stop_reason,
            "stopped_at": _opt_rel(c.stopped_at, t0),
            "clock_offset_s": round(c.clock_offset, 6),
            "clock_error_ms": _ms(c.clock_error) if c.clock_error != float("inf") else "unknown",
            "samples_outside_window": c.outside_window,
        },
        "outages": [
            {
                "start": _rel(o.start, t0),
                "end": _rel(o.end, t0),
                "duration": round(o.duration, 6),
                "failed": o.failed,
                "errors": list(o.errors),
            }
            for o in probe.outages
        ],
        "failures": [
            {
                "t": _rel(a.t, t0),
                "error": a.error,
                "cause": a.cause,
                "text": a.text,
                "pod": a.pod,
                "node": a.node,
                "nearest": list(a.nearest),
            }
            for a in probe.attributions
        ],
        "errors": dict(probe.error_counts),
        "versions_seen": list(probe.versions_seen),
        "versions": [
            {"version": s.version, "first": _rel(s.first, t0), "last": _rel(s.last, t0), "responses": s.responses}
            for s in probe.spans
        ],
        "phases": [
            {
                "label": pv.phase.label,
                "start": _rel(pv.phase.start, t0),
                "settled_at": _opt_rel(pv.phase.settled_at, t0),
                "versions": list(pv.phase.versions),
                "allowed_after_settle": list(pv.phase.allowed_after_settle),
                "answers": pv.answers,
                "counts": dict(pv.counts),
                "interleaved_while_both_serve": pv.interleaved,
                "late_answers_after_settle": [
                    {"t": _rel(x.t, t0), "version": x.version, "connection_opened": _opt_rel(x.opened, t0)}
                    for x in pv.late[:_LISTED_LATE]
                ],
                "late_answers_total": len(pv.late),
                "lingering_after_settle": pv.lingering,
            }
            for pv in probe.phases
        ],
        "unexpected_versions": list(probe.unexpected_versions),
    }


def _datapath_dict(timeline: DataPathTimeline, t0: float) -> dict[str, Any]:
    return {
        "service": timeline.service,
        "endpoints": [
            {
                "t": _rel(e.t, t0),
                "event": e.kind,
                "address": e.endpoint.address,
                "pod": e.endpoint.pod,
                "node": e.endpoint.node,
                "ready": e.endpoint.ready,
                "serving": e.endpoint.serving,
                "terminating": e.endpoint.terminating,
            }
            for e in timeline.endpoints
        ],
        "pods": [
            {
                "t": _rel(p.t, t0),
                "pod": p.pod,
                "what": p.what,
                "node": p.node,
                "ip": p.ip,
                "image": p.image,
                "exit_code": p.exit_code,
                "readiness_probe": p.readiness_probe,
                "pre_stop": p.pre_stop,
                "pre_stop_s": p.pre_stop_s,
                **({"finished": _rel(p.finished, t0)} if p.finished is not None else {}),
            }
            for p in timeline.pods
        ],
        "proxy_syncs": [
            {
                "node": x.node,
                "synced_at": _rel(x.synced_at, t0),
                "started_at": _opt_rel(x.started_at, t0),
                "seen_at": _rel(x.seen_at, t0),
                "routes": list(x.routes) if x.routes is not None else None,
            }
            for x in timeline.proxy
        ],
        "proxy_nodes": list(timeline.proxy_nodes),
        "kernel_counters": [
            {"since": _rel(c.since, t0), "t": _rel(c.t, t0), "where": c.where, "counter": c.name, "delta": c.delta}
            for c in timeline.counters
        ]
        if timeline.counters_read
        else None,
        "cpu_cores": _cpu_cores(timeline),
        "notes": list(timeline.notes),
    }


def _cpu_cores(timeline: DataPathTimeline) -> dict[str, float] | None:
    """The CPU ledger over the recorded window, in cores (CPU seconds per second): the machine's CPUs
    (capacity), idle, the kind nodes, the host samplers, the harness. None when it was not read."""
    total: dict[str, int] = {}
    for c in timeline.counters:
        if c.name.startswith("cpu."):
            total[c.name] = total.get(c.name, 0) + c.delta
    ledger = [c for c in timeline.counters if c.name == "cpu.capacity_ms"]
    if not ledger:
        return None
    seconds = max(c.t for c in ledger) - min(c.since for c in ledger)
    if seconds <= 0:
        return None
    return {name[4:-3]: round(ms / 1000 / seconds, 3) for name, ms in sorted(total.items())}


def timings(report: TestReport) -> dict[str, float | None]:
    """Where the test's time went: set-up (its fixtures), the rollout, each stopwatch part, the rest
    ("other": creating and waiting for what the scenario starts from, checks, the harness's own work),
    and teardown (its fixtures', the report's writing among them)."""
    out: dict[str, float | None] = {
        "setup_s": None if report.setup_s is None else round(report.setup_s, 3),
        "rollout_s": report.rollout_s,
        "overhead_s": None if report.rollout_s is None else round(max(report.duration_s - report.rollout_s, 0.0), 6),
    }
    parts = dict(report.parts)
    for part in PARTS:
        out[f"{part}_s"] = round(parts.get(part, 0.0), 3)
    out["other_s"] = round(max(report.duration_s - (report.rollout_s or 0.0) - sum(parts.values()), 0.0), 3)
    out["teardown_s"] = None if report.teardown_s is None else round(report.teardown_s, 3)
    return out


def report_dict(report: TestReport, report_dir: Path | None = None) -> dict[str, Any]:
    """The JSON-ready form of a report; `picture` relative to `report_dir` when given."""
    t0 = report.t0
    picture = None
    if report.picture is not None:
        picture = os.path.relpath(report.picture, report_dir) if report_dir else str(report.picture)
    return {
        "format": REPORT_FORMAT,
        "scenario": report.scenario,
        "nodeid": report.nodeid,
        "outcome": report.outcome,
        "message": report.message,
        "kit_version": report.kit_version,
        "server_version": report.server_version,
        "t0": report.t0,
        "duration_s": round(report.duration_s, 6),
        "timings": timings(report),
        "rollout": {
            "steps": [
                {
                    "t": _rel(s.t, t0),
                    "action": s.action,
                    "old": s.old,
                    "old_replicas": s.old_replicas,
                    "new": s.new,
                    "new_replicas": s.new_replicas,
                    "available": s.available,
                }
                for s in report.steps
            ]
        },
        "probes": {p.label: _probe_dict(p, t0) for p in report.probes},
        "datapath": [_datapath_dict(d, t0) for d in report.datapath],
        "history": [{"revision": h.revision, "change_cause": h.change_cause, "image": h.image} for h in report.history],
        "checks": [{"name": c.name, "observed": c.observed} for c in report.checks],
        "api_exchanges": [scrub_credentials(x) for x in report.api_exchanges],
        "picture": picture,
    }


_LISTED_LATE = 20  # the report lists the first late answers of a phase and counts them all


def file_stem(nodeid: str) -> str:
    """The file name (without suffix) of a test's report and picture."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", nodeid.replace("::", "__")).strip("_.")
    if not stem:
        raise ConfigError(f"cannot name a report file after node id {nodeid!r}")
    return stem


def _write_json(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def _sample_line(label: str, s: ProbeSample, t0: float, *, judged: bool = True) -> str:
    fields: dict[str, Any] = {
        "sampler": label,
        "n": s.seq,
        "s": _rel(s.start, t0),
        "e": _rel(s.end, t0),
        "st": s.status,
        "err": s.error,
        "srv": s.server,
        "c": s.conn,
        "r": s.reused,
        "p": s.port,
        "w": s.witness,
    }
    if not judged:
        fields["out"] = 1
    return json.dumps(fields, separators=(",", ":"))


def write_samples(path: Path, probes: Sequence[ProbeAnalysis], t0: float) -> Path:
    """Every judged sample of every sampler, one JSON line each (times in seconds since `t0`), gzipped,
    and the failed requests outside the window (`"out": 1`): the raw evidence behind the report, for
    whoever wants to look again (`rollproof explain`)."""
    import gzip

    # level 6, not gzip's default 9: on a 21,418-line file 0.05 s against 0.21 s, 6% larger
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=6) as out:
        for probe in probes:
            for s in probe.samples:
                out.write(_sample_line(probe.label, s, t0) + "\n")
            for s in probe.unjudged_failures:
                out.write(_sample_line(probe.label, s, t0, judged=False) + "\n")
    return path


def write_test_report(report_dir: Path | str, report: TestReport) -> Path:
    """Write `<report_dir>/<node id made file-safe>.json`; returns its path."""
    directory = Path(report_dir)
    return _write_json(directory / f"{file_stem(report.nodeid)}.json", report_dict(report, directory))


def _outcome_word(outcome: str) -> str:
    return {"passed": "pass", "failed": "fail", "skipped": "skip"}.get(outcome, outcome)


def _probe_cell(probe: ProbeAnalysis) -> str:
    how = "" if probe.failures_asserted else " (measured)"
    evidence = "" if probe.complete else ", evidence incomplete"
    return f"{probe.failed} failed / {probe.total}{how}{evidence}"


def behaviour_matrix(reports: Sequence[TestReport]) -> Matrix:
    """Per version: a row per scenario (its outcome, compared), a row per scenario and sampler kind
    (failed / total requests: a measurement, shown and never compared), and a row per check
    (the observed answer, compared) or measurement."""
    builder = MatrixBuilder()
    for r in reports:
        outcome = _outcome_word(r.outcome)
        builder.put(r.scenario, r.server_version, outcome, kind=SCENARIO, behaviour=outcome)
        for probe in r.probes:
            builder.put(f"{r.scenario} · {probe.label}", r.server_version, _probe_cell(probe), kind=MEASUREMENT)
        for check in r.checks:
            builder.put(check.name, r.server_version, check.observed, kind=MEASUREMENT if check.measurement else CHECK)
    return builder.build()


def _scenario_summary(reports: list[TestReport]) -> dict[str, Any]:
    versions: dict[str, None] = {}
    for r in reports:
        for p in r.probes:
            versions.update(dict.fromkeys(p.versions_seen))
    probes = [p for r in reports for p in r.probes]
    return {
        "runs": len(reports),
        "outcomes": dict(Counter(r.outcome for r in reports)),
        "server_versions": _versions(r.server_version for r in reports),
        "probes": sum(p.total for p in probes),
        "failed_probes": sum(p.failed for p in probes),
        "outages": sum(len(p.outages) for p in probes),
        "failures_by_cause": dict(Counter(a.cause for p in probes for a in p.attributions)),
        "evidence_complete": all(p.complete for p in probes),
        "max_gap_ms": _ms(max((p.coverage.max_gap for p in probes), default=0.0)),
        "versions": list(versions),
        "duration_s": round(sum(r.duration_s for r in reports), 6),
        "rollout_s": round(sum(r.rollout_s or 0.0 for r in reports), 6),
    }


def _versions(versions: Iterable[str | None]) -> list[str | None]:
    """Each version once, oldest first (None, for no kit build, last)."""
    seen = set(versions)
    given: list[str | None] = sorted((v for v in seen if v is not None), key=version_key)
    return [*given, None] if None in seen else given


def write_summary(
    report_dir: Path | str,
    reports: Sequence[TestReport],
    session_teardown_s: float | None = None,
    bring_up: ClusterBringUp | None = None,
) -> Path:
    """Write summary.json, matrix.json and matrix.md; returns the summary's path. `session_teardown_s`:
    the session's own teardown (`harness.stopwatch.TeardownClock`), when it is over; `bring_up`: where
    the making of a cluster this run created went (None: the cluster was there already)."""
    directory = Path(report_dir)
    by_scenario: dict[str, list[TestReport]] = {}
    for r in reports:
        by_scenario.setdefault(r.scenario, []).append(r)
    write_matrix(directory, behaviour_matrix(reports))
    return _write_json(
        directory / "summary.json",
        {
            "tests": len(reports),
            "kit_versions": _versions(r.kit_version for r in reports),
            "server_versions": _versions(r.server_version for r in reports),
            "outcomes": dict(Counter(r.outcome for r in reports)),
            "scenarios": {name: _scenario_summary(rs) for name, rs in by_scenario.items()},
            "session_teardown_s": None if session_teardown_s is None else round(session_teardown_s, 3),
            "cluster_bring_up": None if bring_up is None else bring_up.as_dict(),
        },
    )


def _kinds_cell(probes: Sequence[ProbeAnalysis], value: Any) -> str:
    return "/".join(str(value(p)) for p in probes) if probes else "-"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def versions_line(reports: Sequence[TestReport]) -> str:
    """E.g. "kit_version v1.34.4; server_version v1.34.4": what the reports ran on."""
    kits = ", ".join(v or "none" for v in _versions(r.kit_version for r in reports))
    servers = ", ".join(str(v) for v in _versions(r.server_version for r in reports))
    return f"kit_version {kits}; server_version {servers}"


def terminal_summary_lines(reports: Sequence[TestReport]) -> list[str]:
    """A one-screen table per scenario: outcome, requests and failures per sampler (new/keep-alive),
    the largest gap between request starts, whether the evidence is complete, rollout seconds."""
    header = (
        "scenario",
        "server",
        "outcome",
        "requests",
        "failed",
        "max gap ms",
        "evidence",
        "setup s",
        "rollout s",
        "observe s",
        "other s",
        "teardown s",
    )
    rows = [header]
    for r in reports:
        ps = list(r.probes)
        evidence = "-" if not ps else "complete" if all(p.complete for p in ps) else "INCOMPLETE"
        spent = timings(r)
        rows.append(
            (
                r.scenario,
                r.server_version,
                r.outcome,
                _kinds_cell(ps, lambda p: p.total),
                _kinds_cell(ps, lambda p: p.failed),
                _kinds_cell(ps, lambda p: f"{p.coverage.max_gap * 1000:.1f}"),
                evidence,
                *(_seconds(spent[k]) for k in ("setup_s", "rollout_s", "observe_s", "other_s", "teardown_s")),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    numeric = {3, 4, 5, 7, 8, 9, 10, 11}
    lines = [
        "  ".join(
            cell.rjust(w) if i in numeric else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths))
        ).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append(
        "requests / failed / max gap: new-connection/keep-alive samplers; "
        "evidence: the whole window probed, no gap above the bound, nothing lost; "
        "setup / rollout / observe / other / teardown s: where each test's time went (its report's `timings`)"
    )
    return lines


def _owner_series(
    points: Sequence[ReplicaPoint], steps: Sequence[ScaleStep]
) -> tuple[dict[str, list[tuple[float, int]]], list[tuple[float, int]]]:
    """Replicas per owner and total available over time, from points or else from steps."""
    owners: dict[str, list[tuple[float, int]]] = {}
    available: list[tuple[float, int]] = []
    if points:
        latest: dict[str, int] = {}
        for p in sorted(points, key=lambda p: p.t):
            owners.setdefault(p.owner, []).append((p.t, p.replicas))
            latest[p.owner] = p.available
            available.append((p.t, sum(latest.values())))
    else:
        for s in sorted(steps, key=lambda s: s.t):
            owners.setdefault(s.old, []).append((s.t, s.old_replicas))
            owners.setdefault(s.new, []).append((s.t, s.new_replicas))
            available.append((s.t, s.available))
    return owners, available


def _endpoint_segments(
    timeline: DataPathTimeline, t0: float, x_end: float
) -> dict[str, list[tuple[float, float, str]]]:
    """Per endpoint (labelled by pod), (start, end, state) segments: ready, terminating, not-ready."""
    rows: dict[str, list[tuple[float, float, str]]] = {}
    current: dict[str, tuple[float, str, str]] = {}  # address -> (since, state, label)
    for e in timeline.endpoints:
        ep = e.endpoint
        label = f"{ep.pod or ep.address} ({ep.node or '?'})"
        before = current.pop(ep.address, None)
        if before is not None:
            rows.setdefault(before[2], []).append((before[0], e.t - t0, before[1]))
        if e.kind != "removed":
            state = "ready" if ep.ready else "terminating" if ep.serving else "not-ready"
            current[ep.address] = (e.t - t0, state, label)
    for since, state, label in current.values():
        rows.setdefault(label, []).append((since, x_end, state))
    return rows


_SEGMENT_COLOURS = {"ready": "tab:green", "terminating": "tab:orange", "not-ready": "0.6"}


_TITLE_CHARS = 150


def _shortened(text: str, limit: int = _TITLE_CHARS) -> str:
    """A lane title that fits the picture's width (the report and the terminal have the whole text)."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def plot_timeline(
    path: Path | str,
    probes: Sequence[ProbeAnalysis],
    points: Sequence[ReplicaPoint],
    steps: Sequence[ScaleStep],
    t0: float,
    title: str,
    *,
    datapath: DataPathTimeline | None = None,
    bin_seconds: float = _PLOT_BIN_SECONDS,
) -> Path:
    """Draw replicas, endpoints, each sampler's outcomes and the answering versions into a PNG.

    Everything comes from the one analysis per sampler (its judged samples, outages,
    phases and evidence gaps) and from the data-path timeline; times are seconds since `t0`."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    path = Path(path)
    lanes = ["replicas"] + (["endpoints"] if datapath is not None and datapath.endpoints else [])
    lanes += [f"probe:{p.label}" for p in probes] + (["versions"] if probes else [])
    endpoint_rows = len(_endpoint_segments(datapath, t0, 0.0)) if "endpoints" in lanes and datapath else 0
    # an endpoint row needs ~0.16 in: the history scenario's 18 endpoints in a 2-unit lane left
    # their labels on top of each other and the layout engine gave up (the legends were cut off)
    heights = {"replicas": 3, "endpoints": max(2.0, endpoint_rows * 0.16 / 0.8), "versions": 2}
    fig = Figure(figsize=(12, 2.2 + 0.8 * sum(heights.get(lane, 2) for lane in lanes)), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(
        len(lanes), 1, sharex=True, squeeze=False, height_ratios=[heights.get(lane, 2) for lane in lanes]
    )[:, 0]
    ax_of = dict(zip(lanes, axes))
    fig.suptitle(title, fontsize=12, fontweight="bold")
    palette = [f"C{i}" for i in range(10)]
    main = probes[0] if probes else None
    ends = [t - t0 for t in [*(p.t for p in points), *(s.t for s in steps)]]
    for probe in probes:
        if probe.end is not None:
            ends.append(probe.end - t0)
        if probe.coverage.window_end is not None:
            ends.append(probe.coverage.window_end - t0)
    x_end = max(ends, default=0.0)

    top = ax_of["replicas"]
    owners, available = _owner_series(points, steps)
    for i, (owner, series) in enumerate(owners.items()):
        xs = [t - t0 for t, _ in series] + [x_end]
        ys = [n for _, n in series] + [series[-1][1]]
        top.step(xs, ys, where="post", color=palette[i % 10], linewidth=2, label=owner)
    if available:
        xs = [t - t0 for t, _ in available] + [x_end]
        ys = [n for _, n in available] + [available[-1][1]]
        top.step(xs, ys, where="post", color="0.2", linestyle="--", linewidth=1.2, label="available (all)", zorder=3)
    peak = max((n for series in owners.values() for _, n in series), default=0)
    peak = max([peak, *(n for _, n in available)])
    top.set_ylabel("replicas")
    top.set_ylim(0, peak + 1)
    top.yaxis.get_major_locator().set_params(integer=True)
    top.set_title("replicas per ReplicaSet / ReplicationController / revision", loc="left", fontsize=10)
    if not owners:
        top.text(0.5, 0.5, "no replica records", transform=top.transAxes, ha="center", va="center", color="0.4")

    if "endpoints" in ax_of and datapath is not None:
        ax = ax_of["endpoints"]
        rows = _endpoint_segments(datapath, t0, x_end)
        labels = list(rows)
        for y, label in enumerate(labels):
            for start, end, state in rows[label]:
                ax.broken_barh(
                    [(start, max(end - start, 0.01))], (y - 0.35, 0.7), color=_SEGMENT_COLOURS[state], linewidth=0
                )
        for p in datapath.pods:
            if p.what == "exited":
                for y, label in enumerate(labels):
                    if label.startswith(f"{p.pod} "):
                        ax.plot([p.t - t0], [y], marker="x", color="black", markersize=6)
        for sync in datapath.proxy:
            ax.axvline(sync.synced_at - t0, color="tab:purple", linewidth=0.6, alpha=0.5)
        nodes = {label.rsplit(" (", 1)[-1] for label in labels}
        one_node = len(nodes) == 1
        shown = [label.rsplit(" (", 1)[0] for label in labels] if one_node else labels
        ax.set_yticks(range(len(labels)), shown, fontsize=7)
        ax.set_ylim(-0.6, len(labels) - 0.4)
        handles = [Patch(color=c, label=s) for s, c in _SEGMENT_COLOURS.items()]
        ax.legend(
            handles=handles
            + [
                Line2D([], [], color="tab:purple", linewidth=0.8, label="kube-proxy sync"),
                Line2D([], [], marker="x", color="black", linestyle="", label="container exited"),
            ],
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            fontsize=8,
            frameon=False,
        )
        where = f"pod, all on node {next(iter(nodes)).rstrip(')')}" if one_node and labels else "pod (node)"
        ax.set_title(f"EndpointSlice conditions per endpoint ({where})", loc="left", fontsize=10)

    for probe in probes:
        ax = ax_of[f"probe:{probe.label}"]
        ordered = probe.samples
        times = [s.start - t0 for s in ordered]
        if ordered:
            origin = min(0.0, min(times))
            count = int((max(times) - origin) // bin_seconds) + 1
            ok = [0] * count
            bad = [0] * count
            for sample, t in zip(ordered, times):
                (ok if sample.ok else bad)[int((t - origin) // bin_seconds)] += 1
            edges = [origin + k * bin_seconds for k in range(count + 1)]
            ax.stairs(ok, edges, fill=True, color="tab:green", alpha=0.8, label="ok")
            ax.stairs([o + b for o, b in zip(ok, bad)], edges, baseline=ok, fill=True, color="tab:red", label="failed")
        else:
            ax.text(0.5, 0.5, "no probe samples", transform=ax.transAxes, ha="center", va="center", color="0.4")
        for a, b in probe.coverage.gaps:
            ax.axvspan(a - t0, b - t0, color="0.3", alpha=0.25, hatch="//", linewidth=0, label="gap over bound")
        for a, b, _ in probe.coverage.explained:
            ax.axvspan(a - t0, b - t0, color="tab:blue", alpha=0.2, linewidth=0, label="no CPU ran")
        for o in probe.outages:
            ax.axvspan(o.start - t0, o.end - t0, color="tab:red", alpha=0.12, linewidth=0)
        ax.set_ylabel(f"req / {bin_seconds * 1000:.0f} ms")
        ax.set_title(_shortened(f"{probe.label} sampler ({probe.where}): {probe.verdict}"), loc="left", fontsize=9)

    if main is not None:
        low = ax_of["versions"]
        ordered = main.samples
        versions = list(main.versions_seen)
        rows_v = [*versions, "no answer"]
        for i, version in enumerate(versions):
            xs = [s.start - t0 for s in ordered if s.server == version and s.ok]
            low.scatter(xs, [i] * len(xs), marker="|", s=120, color=palette[i % 10], label=version)
        failed = [
            (s.start - t0, rows_v.index(s.server) if s.server in versions else len(versions))
            for s in ordered
            if not s.ok
        ]
        if failed:
            low.scatter(
                [t for t, _ in failed], [y for _, y in failed], marker="x", s=30, color="tab:red", label="failed"
            )
        if main.late_answers:  # one call for all: a call per answer took 4 s for 975 of them
            low.scatter(
                [late.t - t0 for late in main.late_answers],
                [rows_v.index(late.version) for late in main.late_answers],
                marker="o",
                s=40,
                facecolors="none",
                edgecolors="black",
            )
        low.set_yticks(range(len(rows_v)), rows_v)
        low.set_ylim(-0.6, len(rows_v) - 0.4)
        low.set_title(
            f"which version answered ({main.label}, Server header); dashed: phase settled", loc="left", fontsize=10
        )
        for pv in main.phases:
            if pv.phase.settled_at is not None:
                low.axvline(pv.phase.settled_at - t0, color="black", linestyle="--", linewidth=0.8)
    axes[-1].set_xlabel("seconds since the scenario started")

    for s_ in steps:
        for ax in axes:
            ax.axvline(s_.t - t0, color="0.6", linestyle=":", linewidth=0.9)
        if len(steps) <= _MAX_STEP_LABELS:
            top.annotate(
                s_.action,
                (s_.t - t0, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(2, -3),
                textcoords="offset points",
                rotation=90,
                va="top",
                fontsize=7,
                color="0.35",
            )
    for ax in axes:
        ax.grid(True, axis="x", alpha=0.3)
        handles, labels = ax.get_legend_handles_labels()
        if handles and ax is not ax_of.get("endpoints"):
            unique = dict(zip(labels, handles))
            ax.legend(
                unique.values(), unique.keys(), loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path
