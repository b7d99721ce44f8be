import json

import pytest

from harness.errors import ConfigError
from harness.matrix import (
    CHECK,
    MEASUREMENT,
    SCENARIO,
    UNCLASSIFIED,
    Matrix,
    MatrixBuilder,
    Observation,
    load_matrix,
    matrix_data,
    matrix_markdown,
    merge_matrices,
    version_changes,
    write_matrix,
)


def run(version: str, **cells: str) -> Matrix:
    """One version's matrix of check rows (behaviour = text)."""
    builder = MatrixBuilder()
    for row, text in cells.items():
        builder.put(row, version, text)
    return builder.build()


def session_matrix() -> Matrix:
    b = MatrixBuilder()
    for version, total, status in (("v1.34.4", 100, "404"), ("v1.35.4", 120, "404"), ("v1.36.3", 90, "200")):
        b.put("rollout", version, f"pass: 0 failed / {total}", kind=SCENARIO, behaviour="pass")
        b.put("rollback", version, status)
        b.put("lag-s", version, f"+0.0{total % 7}", kind=MEASUREMENT)
    return b.build()


def test_rows_keep_their_kind_and_only_behaviour_is_compared() -> None:
    m = session_matrix()
    assert [m.kind(r) for r in m.rows] == [SCENARIO, CHECK, MEASUREMENT]
    assert m.cell("rollout", "v1.35.4") == "pass: 0 failed / 120"
    assert m.behaviour("rollout", "v1.35.4") == ("pass",)
    assert m.behaviour("rollback", "v1.36.3") == ("200",)
    assert m.behaviour("lag-s", "v1.34.4") is None
    assert m.behaviour("rollback", "v9.99") == ()


def test_version_changes_marks_the_version_where_behaviour_changed_not_counts() -> None:
    assert version_changes(session_matrix()) == {("rollback", "v1.36.3")}


def test_a_scenario_missing_on_one_version_stands_out() -> None:
    b = MatrixBuilder()
    b.put("rollout", "v1.34.4", "pass", kind=SCENARIO, behaviour="pass")
    b.put("rollout", "v1.36.3", "pass", kind=SCENARIO, behaviour="pass")
    b.column("v1.35.4")
    assert version_changes(b.build()) == {("rollout", "v1.35.4"), ("rollout", "v1.36.3")}


def test_write_then_load_round_trips_with_kinds_and_behaviour(tmp_path) -> None:
    m = session_matrix()
    write_matrix(tmp_path, m)
    assert load_matrix(tmp_path) == m
    data = json.loads((tmp_path / "matrix.json").read_text())
    assert data["format"] == 2
    assert data["rows"][0] == {
        "name": "rollout",
        "kind": "scenario",
        "cells": {
            "v1.34.4": [{"text": "pass: 0 failed / 100", "behaviour": "pass"}],
            "v1.35.4": [{"text": "pass: 0 failed / 120", "behaviour": "pass"}],
            "v1.36.3": [{"text": "pass: 0 failed / 90", "behaviour": "pass"}],
        },
    }
    assert data["rows"][2]["cells"]["v1.34.4"] == [{"text": "+0.02"}]  # a measurement has no behaviour
    assert (tmp_path / "matrix.html").read_text().startswith("<!DOCTYPE html>")


def test_markdown_bolds_changed_cells_and_labels_measurements() -> None:
    md = matrix_markdown(session_matrix()).splitlines()
    assert md[0] == "| scenario / check | v1.34.4 | v1.35.4 | v1.36.3 |"
    assert md[2] == "| rollout | pass: 0 failed / 100 | pass: 0 failed / 120 | pass: 0 failed / 90 |"
    assert md[3] == "| rollback | 404 | 404 | **200** |"
    assert md[4] == "| lag-s _(measurement)_ | +0.02 | +0.01 | +0.06 |"


def test_merge_puts_versions_side_by_side_in_numeric_order() -> None:
    merged = merge_matrices(
        [
            run("v1.35.4", rollout="pass", json_patch="400 json"),
            run("v1.9.0", rollout="fail"),
            run("v1.34.4", rollout="pass", json_patch="400 yaml"),
        ]
    )
    assert merged.columns == ("v1.9.0", "v1.34.4", "v1.35.4")
    assert merged.rows == ("rollout", "json_patch")
    assert merged.cell("json_patch", "v1.34.4") == "400 yaml"
    assert merged.cell("json_patch", "v1.9.0") == ""
    assert "| json_patch | - | **400 yaml** | **400 json** |" in matrix_markdown(merged)


def test_merge_of_two_runs_of_one_version_keeps_each_answer_once_even_with_semicolons() -> None:
    merged = merge_matrices(
        [
            run("v1.34.4", check="200; items ['b']"),
            run("v1.34.4", check="200; items ['c']"),
            run("v1.34.4", check="200; items ['b']"),
        ]
    )
    assert merged.cell("check", "v1.34.4") == "200; items ['b']; 200; items ['c']"
    assert merged.behaviour("check", "v1.34.4") == ("200; items ['b']", "200; items ['c']")


def test_merge_refuses_a_row_of_two_kinds() -> None:
    b = MatrixBuilder()
    b.put("lag", "v1.34.4", "1", kind=MEASUREMENT)
    with pytest.raises(ConfigError, match="'lag' is a measurement in one matrix and a check in another"):
        merge_matrices([b.build(), run("v1.35.4", lag="1")])


def test_builder_needs_a_scenario_outcome_and_a_known_kind() -> None:
    with pytest.raises(ValueError, match="needs its outcome"):
        MatrixBuilder().put("rollout", "v1.34.4", "pass", kind=SCENARIO)
    with pytest.raises(ValueError, match="unknown row kind"):
        MatrixBuilder().put("rollout", "v1.34.4", "pass", kind="verdict")


def test_a_format_1_matrix_loads_with_unclassified_rows(tmp_path) -> None:
    (tmp_path / "matrix.json").write_text(
        json.dumps({"columns": ["v1.34.4"], "rows": [{"name": "rollback", "cells": {"v1.34.4": "404"}}]})
    )
    m = load_matrix(tmp_path)
    assert m.kind("rollback") == UNCLASSIFIED
    assert m.cell("rollback", "v1.34.4") == "404"
    assert m.behaviour("rollback", "v1.34.4") is None
    merged = merge_matrices([m, run("v1.35.4", rollback="404")])
    assert merged.kind("rollback") == CHECK


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        json.dumps({"columns": ["v1"]}),
        json.dumps([1, 2]),
        json.dumps({"columns": ["v1"], "rows": [{"name": "r", "kind": "verdict", "cells": {}}]}),
        json.dumps({"columns": ["v1"], "rows": [{"name": "r", "kind": "check", "cells": {"v1": [{"text": "404"}]}}]}),
        json.dumps(
            {
                "columns": ["v1"],
                "rows": [{"name": "r", "kind": "measurement", "cells": {"v1": [{"text": "4", "behaviour": "4"}]}}],
            }
        ),
        json.dumps({"columns": ["v1"], "rows": [{"name": "r", "kind": "check", "cells": {"v2": []}}]}),
    ],
)
def test_load_refuses_what_is_not_a_matrix(tmp_path, content) -> None:
    (tmp_path / "matrix.json").write_text(content)
    with pytest.raises(ConfigError, match="not a rollproof matrix.json"):
        load_matrix(tmp_path)


def test_load_of_a_missing_directory_names_it(tmp_path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_matrix(tmp_path / "reports-1.99")


def test_matrix_data_lists_empty_cells_as_empty_lists() -> None:
    b = MatrixBuilder()
    b.put("rollback", "v1.34.4", "404")
    b.column("v1.35.4")
    assert matrix_data(b.build())["rows"][0]["cells"] == {
        "v1.34.4": [{"text": "404", "behaviour": "404"}],
        "v1.35.4": [],
    }
    assert Observation("x").behaviour is None


def test_an_old_report_directory_still_reads_and_merges_with_a_new_run(tmp_path) -> None:
    """A report directory written before k8s_version was split into kit_version and server_version
    (data/matrix-before-server-version.json, the 1.34-1.36 nightly's matrix once in docs/, and a
    per-test report with only k8s_version) loads, and its columns meet a new run's: both are named by
    the server's version."""
    from pathlib import Path

    from harness.matrixdiff import compare
    from harness.report import TestReport, behaviour_matrix

    data = Path(__file__).resolve().parent / "data"
    old = tmp_path / "old"
    old.mkdir()
    (old / "matrix.json").write_text((data / "matrix-before-server-version.json").read_text())
    (old / "suites_test_statefulset.json").write_text(
        json.dumps({"scenario": "s", "outcome": "passed", "k8s_version": "v1.36.3", "t0": 0.0, "duration_s": 1.0})
    )
    before = load_matrix(old)
    assert before.columns == ("v1.34.4", "v1.35.4", "v1.36.3")
    scenario = before.rows[0]
    assert before.behaviour(scenario, "v1.36.3") == ("pass",)

    new = behaviour_matrix(
        [
            TestReport(
                scenario, "n::t", "passed", server_version="v1.37.2", t0=0.0, duration_s=1.0, kit_version="v1.37.2"
            )
        ]
    )
    merged = merge_matrices([before, new])
    assert merged.columns == ("v1.34.4", "v1.35.4", "v1.36.3", "v1.37.2")
    assert merged.behaviour(scenario, "v1.37.2") == merged.behaviour(scenario, "v1.36.3") == ("pass",)
    assert compare(before, new).pairs == (("v1.37.2", "v1.36.3"),)
