"""Per-test JSON, session summary, behaviour matrix, timeline picture and terminal table."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from harness.report import (
    CheckOutcome,
    HistoryEntry,
    TestReport,
    behaviour_matrix,
    plot_timeline,
    scrub_credentials,
    terminal_summary_lines,
    versions_line,
    write_summary,
    write_test_report,
)
from harness.cluster.model import ClusterBringUp
from harness.analysis import Phase, analyse
from harness.attribution import Attribution
from harness.datapath import DataPathTimeline, EndpointEvent, EndpointState, PodTransition, ProxySync
from harness.samples import KEEP_ALIVE, ProbeRun, ProbeSample
from harness.rolloutsteps import ReplicaPoint, ScaleStep

T0 = 500.0
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def samples(n: int = 60, fail: range = range(0)) -> list[ProbeSample]:
    out = []
    for i in range(n):
        t = T0 + 1.0 + i * 0.1
        if i in fail:
            out.append(ProbeSample(t, t + 0.05, None, "connect-refused"))
        else:
            out.append(ProbeSample(t, t + 0.01, 200, None, "v1" if i < n // 2 else "v2"))
    return out


def probe(data: list[ProbeSample], kind: str = "new-connection", attribute=None):
    run = ProbeRun(kind, "host 127.0.0.1:1", 0.1, T0 + 1.0, T0 + 8.0, "stopped", tuple(data), requests=len(data))
    return analyse(
        run,
        phases=[Phase("v1 -> v2", T0 + 2.0, T0 + 5.0, ("v1", "v2"))],
        window=(T0 + 1.0, T0 + 6.9),
        origin=T0,
        attribute=attribute,
    )


def cause(failed: list[ProbeSample]) -> list[Attribution]:
    return [
        Attribution(
            s.start,
            "connect-refused",
            "stopped-while-routed",
            "refused: pod web-a-1 exited",
            "web-a-1",
            "node-a",
            ("+1.950s (-50 ms) pod web-a-1 (v1) exited code 0",),
        )
        for s in failed
    ]


DATAPATH = DataPathTimeline(
    service="web",
    endpoints=(
        EndpointEvent(T0 + 0.5, "added", EndpointState("10.0.0.1", "web-a-1", "node-a", True, True, False)),
        EndpointEvent(T0 + 2.1, "changed", EndpointState("10.0.0.1", "web-a-1", "node-a", False, True, True)),
        EndpointEvent(T0 + 3.0, "removed", EndpointState("10.0.0.1", "web-a-1", "node-a", False, False, True)),
        EndpointEvent(T0 + 2.5, "added", EndpointState("10.0.0.2", "web-b-1", "node-a", True, True, False)),
    ),
    pods=(
        PodTransition(T0 + 2.0, "web-a-1", "terminating", "node-a", "10.0.0.1", "web:v1"),
        PodTransition(T0 + 2.9, "web-a-1", "exited", "node-a", "10.0.0.1", "web:v1", 0),
    ),
    proxy=(ProxySync("node-a", T0 + 2.2, T0 + 2.25),),
    proxy_nodes=("node-a",),
)


STEPS = (
    ScaleStep(T0 + 2.0, "scale-up", "web-a", 2, "web-b", 1, 2),
    ScaleStep(T0 + 4.0, "scale-down", "web-a", 0, "web-b", 2, 2),
)
POINTS = (
    ReplicaPoint(T0, "web-a", 2, 2, 2),
    ReplicaPoint(T0 + 2.0, "web-b", 1, 0, 0),
    ReplicaPoint(T0 + 3.0, "web-b", 1, 1, 1),
    ReplicaPoint(T0 + 4.0, "web-a", 0, 0, 0),
    ReplicaPoint(T0 + 4.5, "web-b", 2, 2, 2),
)


def make_report(**changes: object) -> TestReport:
    base: dict[str, object] = dict(
        scenario="deployment-rolling",
        nodeid="tests/cluster/test_rolling.py::test_rolling[1.34]",
        outcome="failed",
        server_version="1.34",
        kit_version="v1.34.4",
        t0=T0,
        duration_s=12.5,
        rollout_s=8.0,
        steps=STEPS,
        probes=(probe(samples(fail=range(10, 13)), attribute=cause), probe(samples(), KEEP_ALIVE)),
        datapath=(DATAPATH,),
        history=(HistoryEntry("1", None, "web:v1"), HistoryEntry("2", "bump", "web:v2")),
        api_exchanges=(
            {
                "method": "PATCH",
                "path": "/apis/apps/v1/namespaces/t/deployments/web",
                "status": 200,
                "request_headers": {"Authorization": "Bearer s3cret", "Content-Type": "application/json"},
                "client_key": "PRIVATE",
                "Token": "s3cret",
                "body": {"spec": {"password": "hunter2", "replicas": 2}},
                "header_list": [["authorization", "Bearer s3cret"], ["Accept", "application/json"]],
                "header_objects": [{"name": "Proxy-Authorization", "value": "x"}, {"name": "Accept", "value": "y"}],
            },
        ),
        checks=(CheckOutcome("rollback-apps-v1beta1", "404"),),
    )
    base.update(changes)
    return TestReport(**base)  # type: ignore[arg-type]


def test_test_report_json_has_the_promised_keys(tmp_path: Path) -> None:
    picture = tmp_path / "pictures" / "rolling.png"
    path = write_test_report(tmp_path, make_report(picture=picture))
    assert path.parent == tmp_path and path.suffix == ".json"
    data = json.loads(path.read_text())

    assert (data["scenario"], data["outcome"]) == ("deployment-rolling", "failed")
    assert (data["format"], data["kit_version"], data["server_version"]) == (2, "v1.34.4", "1.34")
    assert "k8s_version" not in data
    assert data["nodeid"] == "tests/cluster/test_rolling.py::test_rolling[1.34]"
    assert data["duration_s"] == 12.5
    assert data["timings"] == {
        "setup_s": None,
        "rollout_s": 8.0,
        "overhead_s": 4.5,
        "observe_s": 0.0,
        "samplers_s": 0.0,
        "analysis_s": 0.0,
        "picture_s": 0.0,
        "other_s": 4.5,
        "teardown_s": None,
    }
    assert data["rollout"]["steps"][0] == {
        "t": 2.0,
        "action": "scale-up",
        "old": "web-a",
        "old_replicas": 2,
        "new": "web-b",
        "new_replicas": 1,
        "available": 2,
    }
    probe = data["probes"]["new-connection"]
    assert (probe["total"], probe["failed"], probe["versions_seen"]) == (60, 3, ["v1", "v2"])
    assert probe["outages"] == [
        {"start": 2.0, "end": 2.25, "duration": 0.25, "failed": 3, "errors": ["connect-refused"]}
    ]
    assert probe["passed"] is False and probe["complete"] is True
    assert probe["verdict"].startswith("3 of 60 new-connection requests failed in 1 outage(s), first at +2.000s")
    assert probe["failures"][0] == {
        "t": 2.0,
        "error": "connect-refused",
        "cause": "stopped-while-routed",
        "text": "refused: pod web-a-1 exited",
        "pod": "web-a-1",
        "node": "node-a",
        "nearest": ["+1.950s (-50 ms) pod web-a-1 (v1) exited code 0"],
    }
    assert probe["coverage"]["window"] == [1.0, 6.9] and probe["coverage"]["max_gap_ms"] == pytest.approx(100.0)
    assert probe["coverage"]["stop_reason"] == "stopped" and probe["coverage"]["samples_lost"] == 0
    phase = probe["phases"][0]
    assert (phase["interleaved_while_both_serve"], phase["late_answers_total"]) == (0, 0)
    assert data["probes"]["keep-alive"]["passed"] is True
    assert data["datapath"][0]["endpoints"][1]["t"] == 2.1 and data["datapath"][0]["proxy_nodes"] == ["node-a"]
    assert data["history"][1] == {"revision": "2", "change_cause": "bump", "image": "web:v2"}
    assert data["checks"] == [{"name": "rollback-apps-v1beta1", "observed": "404"}]
    assert data["picture"] == "pictures/rolling.png"


def test_the_report_says_how_many_cores_each_part_of_the_machine_used(tmp_path: Path) -> None:
    from dataclasses import replace

    from harness.netcounters import CounterChange

    ledger = tuple(
        CounterChange(T0 + t + 0.5, T0 + t, where, name, ms)
        for t in (1.0, 1.5, 2.0, 2.5)
        for where, name, ms in (
            ("host", "cpu.capacity_ms", 1000),
            ("host", "cpu.idle_ms", 300),
            ("host", "cpu.samplers_ms", 175),
            ("node node-a", "cpu.node_ms", 400),
        )
    )
    timeline = replace(DATAPATH, counters=ledger, counters_read=True)
    data = json.loads(write_test_report(tmp_path, make_report(datapath=(timeline,))).read_text())
    assert data["datapath"][0]["cpu_cores"] == {"capacity": 2.0, "idle": 0.6, "node": 0.8, "samplers": 0.35}
    assert data["datapath"][0]["kernel_counters"][0]["counter"] == "cpu.capacity_ms"
    plain = json.loads(write_test_report(tmp_path, make_report()).read_text())
    assert plain["datapath"][0]["cpu_cores"] is None


def test_api_exchanges_lose_every_credential(tmp_path: Path) -> None:
    text = write_test_report(tmp_path, make_report()).read_text()
    for secret in ("s3cret", "PRIVATE", "hunter2", "Proxy-Authorization"):
        assert secret not in text
    exchange = json.loads(text)["api_exchanges"][0]
    assert exchange["request_headers"] == {"Content-Type": "application/json"}
    assert exchange["body"] == {"spec": {"replicas": 2}}
    assert exchange["header_list"] == [["Accept", "application/json"]]
    assert exchange["header_objects"] == [{"name": "Accept", "value": "y"}]
    assert (exchange["method"], exchange["status"]) == ("PATCH", 200)


def test_scrub_keeps_lookalike_names() -> None:
    kept = {"tokenReview": 1, "password_policy": 2, "x-authorization-hint": 3}
    assert scrub_credentials(kept) == kept
    assert scrub_credentials({"CLIENT-KEY-DATA": "k", "TOKEN": "t"}) == {}


def test_report_without_probe_keeps_the_schema(tmp_path: Path) -> None:
    data = json.loads(
        write_test_report(tmp_path, make_report(probes=(), datapath=(), rollout_s=None, picture=None)).read_text()
    )
    assert data["probes"] == {} and data["datapath"] == []
    assert data["timings"]["rollout_s"] is None and data["timings"]["overhead_s"] is None
    assert data["timings"]["other_s"] == 12.5
    assert data["picture"] is None


def test_report_file_names_are_safe_and_distinct(tmp_path: Path) -> None:
    a = write_test_report(tmp_path, make_report(nodeid="tests/x.py::test_y[1.33-rc/1]"))
    b = write_test_report(tmp_path, make_report(nodeid="tests/x.py::test_y[1.34]"))
    assert a != b and a.parent == b.parent == tmp_path
    assert "/" not in a.name and "[" not in a.name


def session() -> list[TestReport]:
    return [
        make_report(),
        make_report(
            server_version="1.9",
            outcome="passed",
            probes=(probe(samples()),),
            checks=(
                CheckOutcome("rollback-apps-v1beta1", "201"),
                CheckOutcome("rollout-lag-s", "+0.25", measurement=True),
            ),
        ),
        make_report(server_version="1.16", outcome="skipped", probes=(), checks=()),
        make_report(
            scenario="rc-rolling-update",
            server_version="1.34",
            kit_version=None,
            outcome="passed",
            probes=(probe(samples()),),
            checks=(),
        ),
    ]


def test_behaviour_matrix_orders_versions_numerically() -> None:
    m = behaviour_matrix(session())
    assert m.columns == ("1.9", "1.16", "1.34")
    assert m.rows == (
        "deployment-rolling",
        "deployment-rolling · new-connection",
        "deployment-rolling · keep-alive",
        "rollback-apps-v1beta1",
        "rollout-lag-s",
        "rc-rolling-update",
        "rc-rolling-update · new-connection",
    )
    assert [m.kind(r) for r in m.rows] == [
        "scenario",
        "measurement",
        "measurement",
        "check",
        "measurement",
        "scenario",
        "measurement",
    ]
    assert m.behaviour("deployment-rolling", "1.34") == ("fail",)
    assert m.behaviour("deployment-rolling · new-connection", "1.34") is None  # request counts: never compared
    assert m.behaviour("rollout-lag-s", "1.9") is None
    assert m.cell("deployment-rolling", "1.34") == "fail"
    assert m.cell("deployment-rolling · new-connection", "1.34") == "3 failed / 60"
    assert m.cell("deployment-rolling · new-connection", "1.9") == "0 failed / 60"
    assert m.cell("deployment-rolling", "1.16") == "skip"
    assert m.cell("rollback-apps-v1beta1", "1.9") == "201"
    assert m.cell("rc-rolling-update", "1.9") == ""


def test_write_summary_files(tmp_path: Path) -> None:
    bring_up = ClusterBringUp(kind_create_s=13.4521, ready_s=9.87, image_loads_s=6.1)
    path = write_summary(tmp_path, session(), session_teardown_s=11.16, bring_up=bring_up)
    assert path == tmp_path / "summary.json"
    summary = json.loads(path.read_text())
    assert summary["session_teardown_s"] == 11.16
    assert summary["cluster_bring_up"] == {"kind_create_s": 13.452, "ready_s": 9.87, "image_loads_s": 6.1}
    assert summary["tests"] == 4
    assert summary["outcomes"] == {"failed": 1, "passed": 2, "skipped": 1}
    rolling = summary["scenarios"]["deployment-rolling"]
    assert (rolling["runs"], rolling["failed_probes"], rolling["outages"], rolling["probes"]) == (3, 3, 1, 180)
    assert rolling["failures_by_cause"] == {"stopped-while-routed": 3}
    assert rolling["versions"] == ["v1", "v2"] and rolling["server_versions"] == ["1.9", "1.16", "1.34"]
    assert (summary["kit_versions"], summary["server_versions"]) == (["v1.34.4", None], ["1.9", "1.16", "1.34"])
    assert rolling["duration_s"] == 37.5

    matrix = json.loads((tmp_path / "matrix.json").read_text())
    assert matrix["columns"] == ["1.9", "1.16", "1.34"]
    assert matrix["rows"][3] == {
        "name": "rollback-apps-v1beta1",
        "kind": "check",
        "cells": {
            "1.9": [{"text": "201", "behaviour": "201"}],
            "1.16": [],
            "1.34": [{"text": "404", "behaviour": "404"}],
        },
    }
    assert matrix["rows"][4]["cells"]["1.9"] == [{"text": "+0.25"}]

    md = (tmp_path / "matrix.md").read_text().splitlines()
    assert md[0] == "| scenario / check | 1.9 | 1.16 | 1.34 |"
    assert md[2] == "| deployment-rolling | pass | **skip** | **fail** |"
    assert md[3] == "| deployment-rolling · new-connection _(measurement)_ | 0 failed / 60 | - | 3 failed / 60 |"
    assert "<table>" in (tmp_path / "matrix.html").read_text()


def test_terminal_summary_is_a_table() -> None:
    lines = terminal_summary_lines(session())
    assert len(lines) == 2 + 4 + 1
    assert lines[0].split() == [
        "scenario",
        "server",
        "outcome",
        "requests",
        "failed",
        "max",
        "gap",
        "ms",
        "evidence",
        "setup",
        "s",
        "rollout",
        "s",
        "observe",
        "s",
        "other",
        "s",
        "teardown",
        "s",
    ]
    assert set(lines[1]) <= {"-", " "}
    assert lines[2].split() == [
        "deployment-rolling",
        "1.34",
        "failed",
        "60/60",
        "3/0",
        "100.0/100.0",
        "complete",
        "-",
        "8.0",
        "0.0",
        "4.5",
        "-",
    ]
    assert lines[4].split() == [
        "deployment-rolling", "1.16", "skipped", "-", "-", "-", "-", "-", "8.0", "0.0", "4.5", "-"
    ]  # fmt: skip
    end = lines[0].index("requests") + len("requests")
    assert lines[2][:end].endswith("60/60") and lines[4][:end].endswith("-")


@pytest.mark.parametrize("with_data", [True, False])
def test_plot_timeline_writes_a_png(tmp_path: Path, with_data: bool) -> None:
    path = tmp_path / "deep" / "timeline.png"
    probes = (probe(samples(fail=range(10, 13)), attribute=cause), probe(samples(), KEEP_ALIVE)) if with_data else ()
    out = plot_timeline(
        path,
        probes,
        POINTS if with_data else [],
        STEPS if with_data else [],
        T0,
        "rolling update",
        datapath=DATAPATH if with_data else None,
    )
    assert out == path
    raw = path.read_bytes()
    assert raw.startswith(PNG_MAGIC) and len(raw) > 10_000


def test_plot_timeline_keeps_many_endpoints_readable(tmp_path: Path) -> None:
    """The history scenario's 18 endpoints once collapsed the picture's layout (a UserWarning, labels on
    top of each other, legends cut off): the endpoint lane grows with its rows."""
    import warnings

    endpoints = tuple(
        EndpointEvent(
            T0 + 0.5 + i, "added", EndpointState(f"10.0.0.{i}", f"history-demo-{i:02d}", "node-a", True, True, False)
        )
        for i in range(18)
    )
    many = DataPathTimeline("web", endpoints, (), (), ("node-a",))

    class Verbose:  # a refused verdict's whole text, as long as the history scenario's (~600 characters)
        verdict = "evidence incomplete: no probe between +26.092s and +26.175s (84 ms > bound 40 ms): " * 7

        def __init__(self, analysis: object) -> None:
            self._analysis = analysis

        def __getattr__(self, name: str) -> object:
            return getattr(self._analysis, name)

    lanes = (Verbose(probe(samples())), Verbose(probe(samples(), KEEP_ALIVE)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = plot_timeline(tmp_path / "many.png", lanes, POINTS, STEPS, T0, "history", datapath=many)  # type: ignore[arg-type]
    assert out.read_bytes().startswith(PNG_MAGIC)


def test_plot_timeline_from_steps_alone(tmp_path: Path) -> None:
    out = plot_timeline(tmp_path / "rc.png", (probe(samples()),), [], STEPS, T0, "rc")
    assert out.read_bytes().startswith(PNG_MAGIC)


def test_record_keeps_checks_and_measurements_apart() -> None:
    from harness.record import ScenarioRecord

    record = ScenarioRecord("rollout")
    record.check("rollback", 404)
    record.measure("lag-s", 0.25)
    assert record.checks == [CheckOutcome("rollback", "404"), CheckOutcome("lag-s", "0.25", measurement=True)]


def test_the_versions_line_names_the_kit_and_the_server() -> None:
    assert versions_line(session()) == "kit_version v1.34.4, none; server_version 1.9, 1.16, 1.34"
    one = make_report(server_version="v1.35.4", kit_version="v1.35.4")
    assert versions_line([one, one]) == "kit_version v1.35.4; server_version v1.35.4"


def test_timings_say_where_the_time_went() -> None:
    from harness.report import timings

    report = make_report(setup_s=2.25, parts=(("observe", 3.0), ("samplers", 0.5), ("picture", 1.0)))
    spent = timings(report)
    assert (spent["setup_s"], spent["rollout_s"], spent["observe_s"], spent["samplers_s"]) == (2.25, 8.0, 3.0, 0.5)
    assert (spent["analysis_s"], spent["picture_s"]) == (0.0, 1.0)
    assert spent["other_s"] == 0.0  # 12.5 - 8 - 4.5: nothing left unexplained
    assert spent["teardown_s"] is None  # not torn down yet
    assert timings(dataclasses.replace(report, teardown_s=1.2344))["teardown_s"] == 1.234


def test_a_test_s_teardown_leaves_the_session_s_out() -> None:
    from harness.stopwatch import TeardownClock

    clock = TeardownClock()
    clock.begin(10.0)
    clock.finalized("function", 10.5)
    clock.finalized("module", 11.0)
    assert clock.end(11.25, last=False) == (1.25, 0.0)  # not the last test: all of it is its own
    clock.begin(20.0)
    clock.finalized("function", 21.5)
    clock.finalized("session", 30.0)  # the namespaces' deletion waited for
    clock.finalized("session", 33.0)
    assert clock.end(33.5, last=True) == (1.5, 12.0)
    assert clock.end(40.0, last=True) == (0.0, 0.0)  # no teardown begun
    clock.finalized("function", 41.0)  # a fixture torn down outside a teardown moves nothing
    clock.begin(50.0)
    assert clock.end(52.0, last=True) == (0.0, 2.0)  # only session fixtures torn down


def test_the_stopwatch_sums_parts_from_the_record_on() -> None:
    from harness.record import ScenarioRecord
    from harness.stopwatch import STOPWATCH, observe_for

    STOPWATCH.add("observe", 5.0)
    ScenarioRecord(scenario="s")  # a new scenario's time counts from here
    observe_for(0.02)
    with STOPWATCH.timing("samplers"):
        pass
    assert set(STOPWATCH.parts) == {"observe", "samplers"} and 0.02 <= STOPWATCH.parts["observe"] < 1.0


def test_a_reused_cluster_has_no_bring_up_and_a_created_one_says_where_it_went(tmp_path: Path) -> None:
    summary = json.loads(write_summary(tmp_path, session()).read_text())
    assert summary["cluster_bring_up"] is None
    line = ClusterBringUp(kind_create_s=13.44, ready_s=9.87, image_loads_s=6.1).describe()
    assert line == (
        "made in 23.3 s: kind create 13.4 s, then every node and kube-system pod ready 9.9 s later "
        "(image loads 6.1 s alongside)"
    )
