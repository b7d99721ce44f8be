"""What one scenario records while it runs, turned into its report at the end."""

from __future__ import annotations

import dataclasses
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from .report import CheckOutcome, HistoryEntry, TestReport, file_stem, plot_timeline, write_test_report
from .samples import ProbeSample, clock
from .steps import ReplicaPoint, ScaleStep
from .timeline import ProbeAnalysis, analyse

__all__ = ["ScenarioRecord"]


def _as_dict(item: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(item) and not isinstance(item, type):
        return dataclasses.asdict(item)
    return dict(item)


@dataclass
class ScenarioRecord:
    """Steps, replica points, probe samples, history and API exchanges of one scenario."""

    scenario: str
    t0: float = field(default_factory=clock)
    steps: list[ScaleStep] = field(default_factory=list)
    points: list[ReplicaPoint] = field(default_factory=list)
    samples: list[ProbeSample] = field(default_factory=list)
    history: list[HistoryEntry] = field(default_factory=list)
    checks: list[CheckOutcome] = field(default_factory=list)
    expected_versions: tuple[str, ...] | None = None
    rollout_seconds: float = 0.0
    exchange_sources: list[Callable[[], Sequence[Any]]] = field(default_factory=list)

    @contextmanager
    def rollout(self) -> Iterator[None]:
        """Time the rollout itself (summed over several), as against the harness's own overhead."""
        started = clock()
        try:
            yield
        finally:
            self.rollout_seconds += clock() - started

    def check(self, name: str, observed: object) -> None:
        """Record an observed behaviour: a matrix row that nightly comparisons look at."""
        self.checks.append(CheckOutcome(name, str(observed)))

    def measure(self, name: str, value: object) -> None:
        """Record a measurement (count, duration): a matrix row shown, never compared."""
        self.checks.append(CheckOutcome(name, str(value), measurement=True))

    def analysis(self) -> ProbeAnalysis | None:
        if not self.samples:
            return None
        return analyse(sorted(self.samples, key=lambda s: s.start), expected_versions=self.expected_versions)

    def exchanges(self) -> tuple[dict[str, Any], ...]:
        out: list[dict[str, Any]] = []
        for source in self.exchange_sources:
            out.extend(_as_dict(item) for item in source())
        return tuple(out)

    def write(self, report_dir: Path, nodeid: str, outcome: str, k8s_version: str, message: str = "") -> TestReport:
        """Write the JSON report (and the timeline picture when there is a timeline)."""
        report_dir.mkdir(parents=True, exist_ok=True)
        picture = None
        samples = sorted(self.samples, key=lambda s: s.start)
        if samples or self.points:
            picture = plot_timeline(report_dir / f"{file_stem(nodeid)}.png", samples, self.points, self.steps, self.t0,
                                    f"{self.scenario} (Kubernetes {k8s_version})")
        report = TestReport(
            scenario=self.scenario,
            nodeid=nodeid,
            outcome=outcome,
            k8s_version=k8s_version,
            t0=self.t0,
            duration_s=clock() - self.t0,
            rollout_s=self.rollout_seconds or None,
            steps=tuple(self.steps),
            probe=self.analysis(),
            history=tuple(self.history),
            api_exchanges=self.exchanges(),
            checks=tuple(self.checks),
            picture=picture,
            message=message,
        )
        write_test_report(report_dir, report)
        return report
