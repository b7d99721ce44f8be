"""A finished run's failed requests, explained again with this version's rules.

Each scenario's report (`<test>.json`) keeps its data-path timeline and, beside it,
`<test>.samples.jsonl.gz` keeps every sample: together they are the evidence the
verdict rested on. `rollproof explain REPORT.json ...` reads them back and gives
each failed request its cause with the attribution rules of the installed harness,
so a run recorded before a rule was added (or corrected) can be looked at again.
Times are seconds from the report's `t0`, as in the report itself. The images'
Server headers are not in the report: pods are named by their image there.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .attribution import Attribution, attributor
from .datapath import DataPathTimeline, EndpointEvent, EndpointState, PodTransition, ProxySync
from .errors import ConfigError
from .netcounters import CounterChange
from .samples import ProbeSample, failures_with_ports

__all__ = ["Explained", "explain_report", "load_samples", "load_timeline", "render"]


def load_timeline(section: Mapping[str, Any]) -> DataPathTimeline:
    """A report's `datapath[]` entry as the `DataPathTimeline` it was written from (times from t0)."""
    counters = section.get("kernel_counters")
    return DataPathTimeline(
        service=section["service"],
        endpoints=tuple(
            EndpointEvent(
                e["t"],
                e["event"],
                EndpointState(e["address"], e["pod"], e["node"], e["ready"], e["serving"], e["terminating"]),
            )
            for e in section["endpoints"]
        ),
        pods=tuple(
            PodTransition(
                p["t"],
                p["pod"],
                p["what"],
                p["node"],
                p["ip"],
                p["image"],
                p["exit_code"],
                p.get("readiness_probe"),
                p.get("pre_stop"),
                p.get("pre_stop_s"),
                p.get("finished"),
            )
            for p in section["pods"]
        ),
        proxy=tuple(
            ProxySync(
                x["node"],
                x["synced_at"],
                x["seen_at"],
                x.get("started_at"),
                tuple(x["routes"]) if x.get("routes") is not None else None,
            )
            for x in section["proxy_syncs"]
        ),
        proxy_nodes=tuple(section["proxy_nodes"]),
        notes=tuple(section.get("notes") or ()),
        counters=tuple(CounterChange(c["t"], c["since"], c["where"], c["counter"], c["delta"]) for c in counters or ()),
        counters_read=counters is not None,
    )


def load_samples(path: Path) -> tuple[dict[str, list[ProbeSample]], dict[str, list[ProbeSample]]]:
    """`<test>.samples.jsonl.gz` read once: its judged samples, and the failed requests outside the
    window, each by sampler kind (times from t0)."""
    judged: dict[str, list[ProbeSample]] = {}
    outside: dict[str, list[ProbeSample]] = {}
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            x = json.loads(line)
            (outside if x.get("out") else judged).setdefault(x["sampler"], []).append(
                ProbeSample(
                    x["s"],
                    x["e"],
                    x["st"],
                    x["err"],
                    x["srv"],
                    seq=x["n"],
                    conn=x["c"],
                    reused=x["r"],
                    port=x["p"],
                    witness=x.get("w"),
                )
            )
    return judged, outside


@dataclass(frozen=True)
class Explained:
    """One sampler's failed requests in one report, with their causes now and as recorded."""

    report: str
    sampler: str
    attributions: tuple[Attribution, ...]
    recorded: tuple[str, ...]  # the causes the report gave, in the same order

    @property
    def changed(self) -> int:
        return sum(1 for a, was in zip(self.attributions, self.recorded) if a.cause != was)


def explain_report(path: Path) -> list[Explained]:
    """Each sampler's failed requests of the report at `path`, explained again."""
    try:
        report = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"{path}: not a readable rollproof report ({exc}); pass a test's .json from a report dir"
        ) from None
    sections = report.get("datapath") or []
    probes = report.get("probes") or {}
    samples_path = path.with_name(path.name.removesuffix(".json") + ".samples.jsonl.gz")
    if not probes:
        return []
    if not sections:
        raise ConfigError(f"{path}: no data-path timeline was recorded for this test: nothing to explain from")
    if not samples_path.exists():
        raise ConfigError(f"{path}: its samples ({samples_path.name}) are missing; copy them beside the report")
    timeline = load_timeline(sections[0])
    samples, outside = load_samples(samples_path)
    out = []
    for kind, probe in probes.items():
        failed = [s for s in samples.get(kind, ()) if not s.ok]
        if not failed:
            continue
        route = probe.get("route")
        same_route = [k for k in probes if probes[k].get("route") == route]
        host = [s for k in same_route for s in failures_with_ports((*samples.get(k, ()), *outside.get(k, ())))]
        explain = attributor(
            timeline, source_ports=route == "node", host_failures=host, run_samples=samples.get(kind, ())
        )
        recorded = {(round(f["t"], 6), f["error"]): f["cause"] for f in probe.get("failures") or ()}
        attributions = tuple(explain(failed))
        out.append(
            Explained(
                path.name,
                kind,
                attributions,
                tuple(recorded.get((round(a.t, 6), a.error), "?") for a in attributions),
            )
        )
    return out


def render(results: Sequence[Explained], *, every: bool = False) -> str:
    """Per report and sampler: the causes now (and how many differ from the report's), then the text
    of the first failure of each cause (`every`: of every failure)."""
    lines = []
    for r in results:
        counts = Counter(a.cause for a in r.attributions)
        summary = ", ".join(f"{cause} {n}" for cause, n in counts.most_common())
        lines.append(f"{r.report} [{r.sampler}]: {len(r.attributions)} failed: {summary} ({r.changed} changed)")
        shown: set[str] = set()
        for a in r.attributions:
            if every or a.cause not in shown:
                more = "" if every or counts[a.cause] == 1 else f" (first of {counts[a.cause]})"
                lines.append(f"  [{a.cause}]{more} {a.text}")
                shown.add(a.cause)
    return "\n".join(lines) if lines else "no failed request in these reports"
