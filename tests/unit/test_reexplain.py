"""A report's evidence read back and its failed requests explained again (`rollproof explain`)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.cli import main
from harness.datapath import DataPathTimeline, EndpointEvent, EndpointState, PodTransition, ProxySync
from harness.errors import ConfigError
from harness.reexplain import explain_report, load_samples, load_timeline, render
from harness.report import _datapath_dict, write_samples
from harness.samples import ProbeSample

S1 = EndpointState("10.244.0.24", "statefulset-demo-1", "node-1", True, True, False)
OTHER = EndpointState("10.244.0.28", "statefulset-demo-2", "node-1", True, True, False)
IMG = "rollproof/nginx:1.22.1"


def _timeline() -> DataPathTimeline:
    """The StatefulSet case of README finding 22: a refusal from a pod whose exit was reported after it."""
    held = dict(node="node-1", ip=S1.address, image=IMG, readiness_probe=True, pre_stop=True, pre_stop_s=4.0)
    return DataPathTimeline(
        "web",
        (
            EndpointEvent(0.0, "added", S1),
            EndpointEvent(0.0, "added", OTHER),
            EndpointEvent(32.836, "changed", EndpointState(S1.address, S1.pod, "node-1", False, True, True)),
        ),
        (
            PodTransition(32.848, S1.pod, "terminating", **held),
            PodTransition(33.736, S1.pod, "exited", exit_code=0, **held),
        ),
        (
            ProxySync("node-1", 25.458, 25.49, 25.416),
            ProxySync("node-1", 32.934, 33.04, 29.364),
            ProxySync("node-1", 33.979, 34.08, 33.935),
        ),
        ("node-1",),
    )


def _write_report(tmp_path: Path, timeline: DataPathTimeline, samples: list[ProbeSample], recorded: str) -> Path:
    path = tmp_path / "suites_test_x.py__test_y.json"
    failures = [{"t": s.start, "error": s.error, "cause": recorded} for s in samples if not s.ok]
    report = {
        "format": 1,
        "probes": {"new-connection": {"kind": "new-connection", "route": "node", "failures": failures}},
        "datapath": [_datapath_dict(timeline, 0.0)],
    }
    path.write_text(json.dumps(report))
    write_samples(
        tmp_path / "suites_test_x.py__test_y.samples.jsonl.gz",
        [SimpleNamespace(label="new-connection", samples=samples, unjudged_failures=())],
        0.0,
    )
    return path


SAMPLES = [
    ProbeSample(33.40, 33.401, 200, None, "nginx/1.22.1", seq=1, conn=1, port=40000, witness=1),
    ProbeSample(33.449, 33.4495, None, "connect-refused", seq=2, conn=2, port=40002, witness=2),
]


def test_a_report_reads_back_as_what_it_was_written_from(tmp_path: Path) -> None:
    timeline = _timeline()
    path = _write_report(tmp_path, timeline, SAMPLES, "unattributed")
    report = json.loads(path.read_text())
    back = load_timeline(report["datapath"][0])
    assert back.endpoints == timeline.endpoints and back.pods == timeline.pods and back.proxy == timeline.proxy
    assert back.proxy_nodes == ("node-1",) and not back.counters_read
    assert load_samples(tmp_path / "suites_test_x.py__test_y.samples.jsonl.gz") == ({"new-connection": SAMPLES}, {})


def test_a_failure_recorded_unattributed_gets_its_cause_now(tmp_path: Path) -> None:
    [explained] = explain_report(_write_report(tmp_path, _timeline(), SAMPLES, "unattributed"))
    assert [a.cause for a in explained.attributions] == ["stale-proxy-rules"]
    assert explained.recorded == ("unattributed",) and explained.changed == 1
    text = render([explained])
    assert text.splitlines()[0] == (
        "suites_test_x.py__test_y.json [new-connection]: 1 failed: stale-proxy-rules 1 (1 changed)"
    )
    assert "its preStop hook over, as the connect-refused says" in text


def test_explain_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write_report(tmp_path, _timeline(), SAMPLES, "stale-proxy-rules")
    assert main(["explain", str(tmp_path)]) == 0
    assert "1 failed: stale-proxy-rules 1 (0 changed)" in capsys.readouterr().out
    assert main(["explain", str(tmp_path / "missing.json")]) == 2
    assert "no such report" in capsys.readouterr().err


def test_a_report_without_its_samples_is_refused(tmp_path: Path) -> None:
    path = _write_report(tmp_path, _timeline(), SAMPLES, "unattributed")
    (tmp_path / "suites_test_x.py__test_y.samples.jsonl.gz").unlink()
    with pytest.raises(ConfigError, match="its samples .* are missing"):
        explain_report(path)


def test_failures_outside_the_window_are_kept_for_their_source_ports(tmp_path: Path) -> None:
    """A connection attempt before the window (a new NodePort drops SYNs for about a second) leaves a
    SYN_SENT conntrack entry; a later request from the same source port meets it. The samples file
    keeps such failures apart (`"out": 1`), so the explanation again finds the same cause."""
    from harness.analysis import analyse

    early = ProbeSample(2.631, 3.631, None, "connect-timeout", seq=1, conn=1, port=40022, witness=1)
    later = ProbeSample(36.088, 37.088, None, "connect-timeout", seq=9, conn=9, port=40022, witness=1)
    ok = [
        ProbeSample(30.0 + i / 10, 30.0 + i / 10 + 0.001, 200, None, "nginx/1.22.1", seq=2 + i, conn=2 + i)
        for i in range(5)
    ]
    analysis = analyse([early, *ok, later], window=(30.0, 40.0))
    assert analysis.unjudged_failures == (early,) and early not in analysis.samples
    path = tmp_path / "suites_test_x.py__test_y.samples.jsonl.gz"
    write_samples(path, [analysis], 0.0)
    judged, outside = load_samples(path)
    assert outside == {analysis.label: [early]}
    assert later in judged[analysis.label] and early not in judged[analysis.label]
    report = {
        "probes": {
            analysis.label: {"route": "node", "failures": [{"t": 36.088, "error": "connect-timeout", "cause": "x"}]}
        },
        "datapath": [_datapath_dict(_timeline(), 0.0)],
    }
    (tmp_path / "suites_test_x.py__test_y.json").write_text(json.dumps(report))
    [explained] = explain_report(tmp_path / "suites_test_x.py__test_y.json")
    assert [a.cause for a in explained.attributions] == ["stale-conntrack"]
    assert "its source port 40022 had carried the request sent at +2.631s" in explained.attributions[0].text
