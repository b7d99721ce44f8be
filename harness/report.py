"""Reports people read: one JSON per test, a session summary, a behaviour matrix, a picture.

Times written here are seconds relative to each test's `t0` (harness clock).
Caller-supplied API exchanges are scrubbed of credentials before writing.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .matrix import CHECK, MEASUREMENT, SCENARIO, Matrix, MatrixBuilder, version_key, write_matrix
from .samples import ProbeSample
from .steps import ReplicaPoint, ScaleStep
from .timeline import ProbeAnalysis, find_outages

__all__ = [
    "file_stem",
    "HistoryEntry",
    "CheckOutcome",
    "TestReport",
    "Matrix",
    "scrub_credentials",
    "report_dict",
    "write_test_report",
    "behaviour_matrix",
    "write_summary",
    "plot_timeline",
    "terminal_summary_lines",
]

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
    """Everything one test reports; `t0` is the harness-clock origin of its times."""

    __test__ = False  # a library class, not a pytest test class

    scenario: str
    nodeid: str
    outcome: str
    k8s_version: str
    t0: float
    duration_s: float
    rollout_s: float | None = None
    steps: tuple[ScaleStep, ...] = ()
    probe: ProbeAnalysis | None = None
    history: tuple[HistoryEntry, ...] = ()
    api_exchanges: tuple[Mapping[str, Any], ...] = ()
    checks: tuple[CheckOutcome, ...] = ()
    picture: Path | None = None
    message: str = ""


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


def _probe_dict(probe: ProbeAnalysis | None, t0: float) -> dict[str, Any]:
    if probe is None:
        return {"total": 0, "failed": 0, "outages": [], "versions_seen": []}
    return {
        "total": probe.total,
        "failed": probe.failed,
        "availability": probe.availability,
        "rate_per_s": round(probe.rate, 3),
        "duration_s": round(probe.duration, 6),
        "outages": [
            {"start": _rel(o.start, t0), "end": _rel(o.end, t0), "duration": round(o.duration, 6),
             "failed": o.failed, "errors": list(o.errors)}
            for o in probe.outages
        ],
        "versions_seen": list(probe.versions_seen),
        "versions": [
            {"version": s.version, "first": _rel(s.first, t0), "last": _rel(s.last, t0), "responses": s.responses}
            for s in probe.spans
        ],
        "flip_backs": [
            {"t": _rel(f.t, t0), "from": f.from_version, "to": f.to_version}
            for f in probe.flip_backs[:_LISTED_FLIP_BACKS]
        ],
        "flip_backs_total": len(probe.flip_backs),
        "unexpected_versions": list(probe.unexpected_versions),
        "errors": dict(probe.error_counts),
    }


def report_dict(report: TestReport, report_dir: Path | None = None) -> dict[str, Any]:
    """The JSON-ready form of a report; `picture` relative to `report_dir` when given."""
    t0 = report.t0
    picture = None
    if report.picture is not None:
        picture = os.path.relpath(report.picture, report_dir) if report_dir else str(report.picture)
    overhead = None if report.rollout_s is None else round(max(report.duration_s - report.rollout_s, 0.0), 6)
    return {
        "scenario": report.scenario,
        "nodeid": report.nodeid,
        "outcome": report.outcome,
        "message": report.message,
        "k8s_version": report.k8s_version,
        "t0": report.t0,
        "duration_s": round(report.duration_s, 6),
        "timings": {"rollout_s": report.rollout_s, "overhead_s": overhead},
        "rollout": {
            "steps": [
                {"t": _rel(s.t, t0), "action": s.action, "old": s.old, "old_replicas": s.old_replicas,
                 "new": s.new, "new_replicas": s.new_replicas, "available": s.available}
                for s in report.steps
            ]
        },
        "probe": _probe_dict(report.probe, t0),
        "history": [
            {"revision": h.revision, "change_cause": h.change_cause, "image": h.image} for h in report.history
        ],
        "checks": [{"name": c.name, "observed": c.observed} for c in report.checks],
        "api_exchanges": [scrub_credentials(x) for x in report.api_exchanges],
        "picture": picture,
    }


_LISTED_FLIP_BACKS = 20  # the report lists the first ones and counts them all


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


def write_test_report(report_dir: Path | str, report: TestReport) -> Path:
    """Write `<report_dir>/<node id made file-safe>.json`; returns its path."""
    directory = Path(report_dir)
    return _write_json(directory / f"{file_stem(report.nodeid)}.json", report_dict(report, directory))


def _outcome_word(outcome: str) -> str:
    return {"passed": "pass", "failed": "fail", "skipped": "skip"}.get(outcome, outcome)


def _scenario_cell(report: TestReport) -> str:
    word = _outcome_word(report.outcome)
    if report.probe is not None and report.probe.total:
        return f"{word}: {report.probe.failed} failed / {report.probe.total}"
    return word


def behaviour_matrix(reports: Sequence[TestReport]) -> Matrix:
    """Scenario rows (outcome, compared; probe counts, shown), check rows and measurement rows per version."""
    builder = MatrixBuilder()
    for r in reports:
        builder.put(r.scenario, r.k8s_version, _scenario_cell(r), kind=SCENARIO,
                    behaviour=_outcome_word(r.outcome))
        for check in r.checks:
            builder.put(check.name, r.k8s_version, check.observed, kind=MEASUREMENT if check.measurement else CHECK)
    return builder.build()


def _scenario_summary(reports: list[TestReport]) -> dict[str, Any]:
    versions: dict[str, None] = {}
    for r in reports:
        versions.update(dict.fromkeys(r.probe.versions_seen if r.probe else ()))
    return {
        "runs": len(reports),
        "outcomes": dict(Counter(r.outcome for r in reports)),
        "k8s_versions": sorted({r.k8s_version for r in reports}, key=version_key),
        "probes": sum(r.probe.total for r in reports if r.probe),
        "failed_probes": sum(r.probe.failed for r in reports if r.probe),
        "outages": sum(len(r.probe.outages) for r in reports if r.probe),
        "versions": list(versions),
        "duration_s": round(sum(r.duration_s for r in reports), 6),
    }


def write_summary(report_dir: Path | str, reports: Sequence[TestReport]) -> Path:
    """Write summary.json, matrix.json and matrix.md; returns the summary's path."""
    directory = Path(report_dir)
    by_scenario: dict[str, list[TestReport]] = {}
    for r in reports:
        by_scenario.setdefault(r.scenario, []).append(r)
    write_matrix(directory, behaviour_matrix(reports))
    return _write_json(
        directory / "summary.json",
        {
            "tests": len(reports),
            "outcomes": dict(Counter(r.outcome for r in reports)),
            "scenarios": {name: _scenario_summary(rs) for name, rs in by_scenario.items()},
        },
    )


def terminal_summary_lines(reports: Sequence[TestReport]) -> list[str]:
    """A one-screen table: scenario, k8s, outcome, probes, failed, outages, versions, rollout s."""
    header = ("scenario", "k8s", "outcome", "probes", "failed", "outages", "versions", "rollout s")
    rows = [header]
    for r in reports:
        p = r.probe
        versions = " -> ".join(p.versions_seen) if p else ""
        rows.append((
            r.scenario, r.k8s_version, r.outcome,
            str(p.total) if p else "-", str(p.failed) if p else "-", str(len(p.outages)) if p else "-",
            versions if len(versions) <= _VERSIONS_WIDTH else versions[: _VERSIONS_WIDTH - 1] + "~",
            f"{r.rollout_s:.1f}" if r.rollout_s is not None else "-",
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    numeric = {3, 4, 5, 7}
    lines = [
        "  ".join(cell.rjust(w) if i in numeric else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths)))
        .rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
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


def plot_timeline(
    path: Path | str,
    samples: Sequence[ProbeSample],
    points: Sequence[ReplicaPoint],
    steps: Sequence[ScaleStep],
    t0: float,
    title: str,
    *,
    bin_seconds: float = _PLOT_BIN_SECONDS,
) -> Path:
    """Draw replicas, probe outcomes and answering versions over time into a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    fig = Figure(figsize=(12, 8), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    top, mid, low = fig.subplots(3, 1, sharex=True, height_ratios=(3, 2, 2))
    fig.suptitle(title, fontsize=12, fontweight="bold")
    palette = [f"C{i}" for i in range(10)]
    ordered = sorted(samples, key=lambda s: s.start)
    times = [s.start - t0 for s in ordered]
    ends = [t - t0 for t in [*(s.end for s in ordered), *(p.t for p in points), *(s.t for s in steps)]]
    x_end = max(ends, default=0.0)

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
    top.set_title("replicas per ReplicaSet / ReplicationController", loc="left", fontsize=10)

    if ordered:
        origin = min(0.0, min(times))
        count = int((max(times) - origin) // bin_seconds) + 1
        ok = [0] * count
        bad = [0] * count
        for s, t in zip(ordered, times):
            (ok if s.ok else bad)[int((t - origin) // bin_seconds)] += 1
        edges = [origin + k * bin_seconds for k in range(count + 1)]
        mid.stairs(ok, edges, fill=True, color="tab:green", alpha=0.8, label="ok")
        mid.stairs([o + b for o, b in zip(ok, bad)], edges, baseline=ok, fill=True, color="tab:red", label="failed")
    mid.set_ylabel(f"requests / {bin_seconds * 1000:.0f} ms")
    mid.set_title("probe outcomes", loc="left", fontsize=10)

    versions = list(dict.fromkeys(s.server for s in ordered if s.server is not None))
    rows = [*versions, "no answer"]
    for i, version in enumerate(versions):
        xs = [t for s, t in zip(ordered, times) if s.server == version and s.ok]
        low.scatter(xs, [i] * len(xs), marker="|", s=120, color=palette[i % 10], label=version)
    failed = [(t, rows.index(s.server or "no answer")) for s, t in zip(ordered, times) if not s.ok]
    if failed:
        low.scatter([t for t, _ in failed], [y for _, y in failed], marker="x", s=30, color="tab:red",
                    label="failed")
    low.set_yticks(range(len(rows)), rows)
    low.set_ylim(-0.6, len(rows) - 0.4)
    low.set_title("which version answered (Server header)", loc="left", fontsize=10)
    low.set_xlabel("seconds since t0")

    for o in find_outages(ordered):
        for ax in (mid, low):
            ax.axvspan(o.start - t0, o.end - t0, color="tab:red", alpha=0.12, linewidth=0)
    for s in steps:
        for ax in (top, mid, low):
            ax.axvline(s.t - t0, color="0.6", linestyle=":", linewidth=0.9)
        if len(steps) <= _MAX_STEP_LABELS:
            top.annotate(s.action, (s.t - t0, 1.0), xycoords=("data", "axes fraction"), xytext=(2, -3),
                         textcoords="offset points", rotation=90, va="top", fontsize=7, color="0.35")
    for ax in (top, mid, low):
        ax.grid(True, axis="x", alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    for ax, empty, text in ((top, not owners, "no replica records"), (mid, not ordered, "no probe samples")):
        if empty:
            ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="0.4")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path
