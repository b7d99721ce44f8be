"""The flake hunter's summary: chosen scenarios run many times on one cluster, every failed
request listed with its cause, and the totals people quote.

Pure: reads the `TestReport`s of a session (`pytest --repeat N`, or `rollproof soak`) and
writes `soak.json` and `soak.md` beside the other reports.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .report import TestReport

__all__ = ["SoakFailure", "SoakScenario", "SoakSummary", "soak_summary", "write_soak"]


@dataclass(frozen=True)
class SoakFailure:
    """One failed request of one run: which run, which sampler, when (s since the run started), why."""

    nodeid: str
    kind: str
    t: float
    error: str
    cause: str
    text: str


@dataclass
class SoakScenario:
    """Totals of one scenario over its runs, per sampler kind."""

    scenario: str
    runs: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    requests: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    incomplete: int = 0
    max_gap_ms: float = 0.0
    by_cause: Counter[str] = field(default_factory=Counter)
    wall_s: float = 0.0
    rollout_s: float = 0.0


@dataclass
class SoakSummary:
    scenarios: list[SoakScenario]
    failures: list[SoakFailure]

    @property
    def runs(self) -> int:
        return sum(s.runs for s in self.scenarios)

    @property
    def requests(self) -> int:
        return sum(sum(s.requests.values()) for s in self.scenarios)

    @property
    def failed_requests(self) -> int:
        return sum(sum(s.failed.values()) for s in self.scenarios)

    def as_dict(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "requests": self.requests,
            "failed_requests": self.failed_requests,
            "failures_by_cause": dict(sum((s.by_cause for s in self.scenarios), Counter())),
            "scenarios": [
                {
                    "scenario": s.scenario,
                    "runs": s.runs,
                    "outcomes": dict(s.outcomes),
                    "requests": dict(s.requests),
                    "failed": dict(s.failed),
                    "runs_with_incomplete_evidence": s.incomplete,
                    "max_gap_ms": round(s.max_gap_ms, 3),
                    "failures_by_cause": dict(s.by_cause),
                    "wall_s": round(s.wall_s, 3),
                    "rollout_s": round(s.rollout_s, 3),
                }
                for s in self.scenarios
            ],
            "failures": [f.__dict__ for f in self.failures],
        }


def soak_summary(reports: Sequence[TestReport]) -> SoakSummary:
    """Totals per scenario and every failed request with its cause, in run order."""
    scenarios: dict[str, SoakScenario] = {}
    failures: list[SoakFailure] = []
    for r in reports:
        s = scenarios.setdefault(r.scenario, SoakScenario(r.scenario))
        s.runs += 1
        s.outcomes[r.outcome] += 1
        s.wall_s += r.duration_s
        s.rollout_s += r.rollout_s or 0.0
        if any(not p.complete for p in r.probes):
            s.incomplete += 1
        for p in r.probes:
            s.requests[p.label] += p.total
            s.failed[p.label] += p.failed
            s.max_gap_ms = max(s.max_gap_ms, p.coverage.max_gap * 1000)
            for a in p.attributions:
                s.by_cause[a.cause] += 1
                failures.append(SoakFailure(r.nodeid, p.label, round(a.t - r.t0, 6), a.error, a.cause, a.text))
            unexplained = p.failed - len(p.attributions)
            if unexplained > 0:  # no data-path timeline: said, never dropped
                s.by_cause["no data-path record"] += unexplained
    return SoakSummary(list(scenarios.values()), failures)


def _markdown(summary: SoakSummary) -> str:
    lines = [
        f"# Soak: {summary.runs} runs, {summary.requests} requests, {summary.failed_requests} failed",
        "",
        "| scenario | runs | outcomes | requests (by sampler) | failed | incomplete evidence | max gap ms | causes |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for s in summary.scenarios:
        outcomes = ", ".join(f"{k} {n}" for k, n in sorted(s.outcomes.items()))
        requests = ", ".join(f"{k} {n}" for k, n in s.requests.items())
        failed = ", ".join(f"{k} {n}" for k, n in s.failed.items())
        causes = ", ".join(f"{k} {n}" for k, n in sorted(s.by_cause.items())) or "none"
        lines.append(
            f"| {s.scenario} | {s.runs} | {outcomes} | {requests} | {failed} | {s.incomplete} | "
            f"{s.max_gap_ms:.1f} | {causes} |"
        )
    if summary.failures:
        lines += ["", "## Every failed request", ""]
        lines += [f"- `{f.nodeid}` {f.kind} +{f.t:.3f}s [{f.cause}] {f.text}" for f in summary.failures]
    return "\n".join(lines) + "\n"


def write_soak(report_dir: Path | str, reports: Sequence[TestReport]) -> Path:
    """Write soak.json and soak.md; returns soak.md's path."""
    directory = Path(report_dir)
    directory.mkdir(parents=True, exist_ok=True)
    summary = soak_summary(reports)
    (directory / "soak.json").write_text(json.dumps(summary.as_dict(), indent=2) + "\n", encoding="utf-8")
    path = directory / "soak.md"
    path.write_text(_markdown(summary), encoding="utf-8")
    return path
