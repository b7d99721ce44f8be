"""What one scenario records while it runs, turned into its report at the end."""

from __future__ import annotations

import dataclasses
import functools
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from .analysis import ProbeAnalysis
from .datapath import DataPathTimeline
from .report import (
    CheckOutcome,
    HistoryEntry,
    TestReport,
    file_stem,
    plot_timeline,
    write_samples,
    write_test_report,
)
from .pictures import DRAWER
from .samples import clock
from .stopwatch import STOPWATCH
from .rolloutsteps import ReplicaPoint, ScaleStep

__all__ = ["ScenarioRecord"]


def _as_dict(item: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(item) and not isinstance(item, type):
        return dataclasses.asdict(item)
    return dict(item)


@dataclass
class ScenarioRecord:
    """Steps, replica points, probe analyses, data path, history and API exchanges of one scenario.

    `probes` holds the one analysis of each sampler (set by `ProbedService.finish`);
    the report, the JUnit properties and the picture read them as they are."""

    scenario: str
    t0: float = field(default_factory=clock)
    steps: list[ScaleStep] = field(default_factory=list)
    points: list[ReplicaPoint] = field(default_factory=list)
    probes: list[ProbeAnalysis] = field(default_factory=list)
    datapath: list[DataPathTimeline] = field(default_factory=list)
    history: list[HistoryEntry] = field(default_factory=list)
    checks: list[CheckOutcome] = field(default_factory=list)
    rollout_seconds: float = 0.0
    exchange_sources: list[Callable[[], Sequence[Any]]] = field(default_factory=list)
    finishers: list[Callable[[], None]] = field(default_factory=list)
    """Called before the report is written (a scenario that ended early still reports its probes)."""

    def __post_init__(self) -> None:
        STOPWATCH.reset()  # the parts of this scenario's time (`harness.stopwatch`) count from here

    @contextmanager
    def rollout(self) -> Iterator[None]:
        """Time the rollout itself (summed over several), as against the harness's own overhead."""
        started = clock()
        try:
            yield
        finally:
            self.add_rollout_time(clock() - started)

    def add_rollout_time(self, seconds: float) -> None:
        self.rollout_seconds += seconds

    def check(self, name: str, observed: object) -> None:
        """Record an observed behaviour: a matrix row that nightly comparisons look at."""
        self.checks.append(CheckOutcome(name, str(observed)))

    def measure(self, name: str, value: object) -> None:
        """Record a measurement (count, duration): a matrix row shown, never compared."""
        self.checks.append(CheckOutcome(name, str(value), measurement=True))

    def probe(self, kind: str) -> ProbeAnalysis | None:
        return next((a for a in self.probes if a.kind == kind), None)

    def exchanges(self) -> tuple[dict[str, Any], ...]:
        out: list[dict[str, Any]] = []
        for source in self.exchange_sources:
            out.extend(_as_dict(item) for item in source())
        return tuple(out)

    def finish(self) -> list[BaseException]:
        """Run the finishers (stop what still runs); their errors, which the caller reports."""
        errors = []
        while self.finishers:
            try:
                self.finishers.pop(0)()
            except BaseException as exc:  # noqa: BLE001 - reported by the caller, the rest still runs
                errors.append(exc)
        return errors

    def write(
        self,
        report_dir: Path,
        nodeid: str,
        outcome: str,
        server_version: str,
        message: str = "",
        kit_version: str | None = None,
        setup_s: float | None = None,
    ) -> TestReport:
        """Write the JSON report, and hand the timeline picture (when there is a timeline) to `harness.pictures`."""
        report_dir.mkdir(parents=True, exist_ok=True)
        picture = report_dir / f"{file_stem(nodeid)}.png" if self.probes or self.points or self.steps else None
        report = TestReport(
            scenario=self.scenario,
            nodeid=nodeid,
            outcome=outcome,
            server_version=server_version,
            kit_version=kit_version,
            t0=self.t0,
            duration_s=clock() - self.t0,
            rollout_s=self.rollout_seconds or None,
            setup_s=setup_s,
            parts=tuple(STOPWATCH.parts.items()),
            steps=tuple(self.steps),
            probes=tuple(self.probes),
            datapath=tuple(self.datapath),
            history=tuple(self.history),
            api_exchanges=self.exchanges(),
            checks=tuple(self.checks),
            picture=picture,
            message=message,
        )
        write_test_report(report_dir, report)
        if self.probes:
            write_samples(report_dir / f"{file_stem(nodeid)}.samples.jsonl.gz", self.probes, self.t0)
        if picture is not None:  # drawn after the writes: a thread drawing beside them halved their pace
            DRAWER.submit(
                picture,
                functools.partial(
                    plot_timeline,
                    picture,
                    tuple(self.probes),
                    tuple(self.points),
                    tuple(self.steps),
                    self.t0,
                    f"{self.scenario} (Kubernetes {server_version})",
                    datapath=self.datapath[0] if self.datapath else None,
                ),
            )
        return report
