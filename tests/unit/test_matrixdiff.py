import json

import pytest

from harness.cli import main
from harness.errors import ConfigError
from harness.matrix import MEASUREMENT, SCENARIO, MatrixBuilder, load_matrix, write_matrix
from harness.matrixdiff import (
    announcement,
    changes_data,
    changes_markdown,
    compare,
    pair_columns,
    parse_answer,
)

NOT_FOUND = "404 the server could not find the requested resource"


def nightly(**columns: dict[str, str]) -> MatrixBuilder:
    """A matrix from {version: {row: text}}; rows named 'scenario:*' are scenarios, 'lag*' measurements."""
    b = MatrixBuilder()
    for version, rows in columns.items():
        version = version.replace("_", ".")
        b.column(version)
        for row, text in rows.items():
            if row.startswith("scenario:"):
                b.put(row, version, text, kind=SCENARIO, behaviour=text.split(":")[0])
            elif row.startswith("lag"):
                b.put(row, version, text, kind=MEASUREMENT)
            else:
                b.put(row, version, text)
    return b


BASE = {
    "scenario:rollout": "pass: 0 failed / 2000",
    "rollback-apps-v1beta1": NOT_FOUND,
    "statefulset-update-order": "3,2,1,0",
    "lag-s": "+0.00",
}


def test_counts_and_measurements_are_not_changes() -> None:
    base = nightly(v1_34_4=BASE).build()
    now = nightly(v1_34_4={**BASE, "scenario:rollout": "pass: 0 failed / 2313", "lag-s": "+1.25"}).build()
    result = compare(base, now)
    assert result.changes == () and result.unannounced == ()
    assert "No behaviour changed." in changes_markdown(result)


def test_an_unannounced_check_change_is_listed_with_before_and_after() -> None:
    base = nightly(v1_34_4=BASE).build()
    now = nightly(v1_34_4={**BASE, "statefulset-update-order": "0,1,2,3"}).build()
    (change,) = compare(base, now, "last.json").changes
    assert (change.row, change.column, change.reference) == ("statefulset-update-order", "v1.34.4", "v1.34.4")
    assert (change.before, change.after, change.announced) == (("3,2,1,0",), ("0,1,2,3",), False)
    md = changes_markdown(compare(base, now, "last.json"))
    assert "| statefulset-update-order | v1.34.4 (v1.34.4) | 3,2,1,0 | 0,1,2,3 | **NOT ANNOUNCED** |" in md


def test_a_check_answer_the_expectation_table_predicts_is_announced() -> None:
    # rollback-apps-v1beta1: 404 on >=1.16, 201 with a Status body before (expectations.TABLE)
    base = nightly(v1_34_4=BASE).build()
    now = nightly(v1_34_4={**BASE, "rollback-apps-v1beta1": "404 404 page not found"}).build()
    (change,) = compare(base, now).changes
    assert change.announced_by == "expectations: rollback-apps-v1beta1 >=1.16 -> 404"


def test_a_check_answer_the_table_does_not_predict_is_not_announced() -> None:
    base = nightly(v1_34_4=BASE).build()
    now = nightly(v1_34_4={**BASE, "rollback-apps-v1beta1": "200 rolled back"}).build()
    assert not compare(base, now).changes[0].announced


def test_scenario_outcome_changes_pass_is_announced_fail_and_skip_are_not() -> None:
    base = nightly(v1_34_4=BASE, v1_35_4={**BASE, "scenario:rollout": "fail: 3 failed / 2000"}).build()
    now = nightly(
        v1_34_4={**BASE, "scenario:rollout": "skip"}, v1_35_4={**BASE, "scenario:rollout": "pass: 0 failed / 2000"}
    ).build()
    by_column = {c.column: c for c in compare(base, now).changes}
    assert by_column["v1.34.4"].after == ("skip",) and not by_column["v1.34.4"].announced
    assert by_column["v1.35.4"].announced_by == "scenario expectation: pass"


def test_a_new_patch_release_is_compared_with_the_same_minor() -> None:
    base = nightly(v1_34_4=BASE, v1_35_4=BASE).build()
    now = nightly(v1_34_5=BASE, v1_35_4=BASE).build()
    result = compare(base, now)
    assert result.pairs == (("v1.34.5", "v1.34.4"), ("v1.35.4", "v1.35.4"))
    assert result.changes == () and result.dropped_columns == ()


def test_a_new_minor_is_compared_with_the_nearest_older_one_and_its_differences_count() -> None:
    base = nightly(v1_35_4=BASE, v1_36_3=BASE).build()
    now = nightly(v1_36_3=BASE, v1_37_0={**BASE, "statefulset-update-order": "3,1,2,0"}).build()
    result = compare(base, now)
    assert result.pairs == (("v1.36.3", "v1.36.3"), ("v1.37.0", "v1.36.3"))
    assert result.dropped_columns == ("v1.35.4",)
    (change,) = result.unannounced
    assert (change.column, change.reference) == ("v1.37.0", "v1.36.3")


def test_pairing_prefers_lower_then_higher_and_names_for_non_versions() -> None:
    assert pair_columns(["1.31", "v1.34.10", "v1.34.9", "nightly"], ["v1.34.2", "v1.34.9", "1.33", "nightly"]) == (
        ("1.31", "1.33"),
        ("v1.34.10", "v1.34.9"),
        ("v1.34.9", "v1.34.9"),
        ("nightly", "nightly"),
    )
    assert pair_columns(["v1.34.4"], []) == (("v1.34.4", None),)


def test_a_row_that_disappeared_is_an_unannounced_change_a_new_row_is_listed() -> None:
    base = nightly(v1_34_4=BASE).build()
    now_rows = {k: v for k, v in BASE.items() if k != "statefulset-update-order"}
    now = nightly(v1_34_4={**now_rows, "statefulset-canary": "3"}).build()
    result = compare(base, now)
    (gone,) = result.changes
    assert (gone.row, gone.before, gone.after, gone.announced) == (
        "statefulset-update-order",
        ("3,2,1,0",),
        None,
        False,
    )
    assert result.new_rows == ("statefulset-canary",)


def test_a_row_that_became_a_measurement_is_an_unannounced_change() -> None:
    base = nightly(v1_34_4={"order": "3,2,1,0"}).build()
    now = nightly(v1_34_4={"lag-order": "x"})
    now.put("order", "v1.34.4", "3,2,1,0", kind=MEASUREMENT)
    (change,) = compare(base, now.build()).changes
    assert (change.before, change.after, change.announced) == (("3,2,1,0",), None, False)


def test_an_unclassified_baseline_is_refused_with_the_fix(tmp_path) -> None:
    (tmp_path / "matrix.json").write_text(
        json.dumps({"columns": ["v1.34.4"], "rows": [{"name": "rollback", "cells": {"v1.34.4": "404"}}]})
    )
    with pytest.raises(ConfigError, match="rows without a kind .* compare against a matrix written by this"):
        compare(load_matrix(tmp_path), nightly(v1_34_4=BASE).build(), "old.json")


@pytest.mark.parametrize(
    "text, answer",
    [
        (NOT_FOUND, (404, "the server could not find the requested resource")),
        (
            "200; revisionHistoryLimit 3, owned by ['rp-challenger']",
            (200, "revisionHistoryLimit 3, owned by ['rp-challenger']"),
        ),
        ("415", (415, "")),
        ("refused", None),
        ("3,2,1,0", None),
    ],
)
def test_parse_answer_reads_status_then_message(text, answer) -> None:
    assert parse_answer(text) == answer


def test_announcement_needs_every_answer_to_match_and_a_row_for_the_version() -> None:
    assert announcement("rollback-apps-v1beta1", "check", "v1.34.4", (NOT_FOUND, "404 x")).startswith("expectations")
    assert announcement("rollback-apps-v1beta1", "check", "v1.34.4", (NOT_FOUND, "200 ok")) == ""
    assert announcement("rollback-apps-v1beta1", "check", "v1.15.0", (NOT_FOUND,)) == ""  # <1.16 expects 201
    assert announcement("apply-without-field-manager", "check", "v1.17.0", ("422 fieldManager",)) == ""  # no row
    assert announcement("rollback-apps-v1beta1", "check", "v1.34.4", ()) == ""
    assert announcement("rollback-apps-v1beta1", "check", "v1.34.4", None) == ""


def test_changes_data_is_json_ready() -> None:
    base = nightly(v1_34_4=BASE).build()
    now = nightly(v1_34_4={**BASE, "statefulset-update-order": "0,1,2,3"}).build()
    data = changes_data(compare(base, now, "prev/matrix.json"))
    assert json.loads(json.dumps(data))["changes"] == [
        {
            "row": "statefulset-update-order",
            "column": "v1.34.4",
            "compared_with": "v1.34.4",
            "before": ["3,2,1,0"],
            "after": ["0,1,2,3"],
            "announced_by": None,
        }
    ]
    assert data["unannounced"] == 1


def _dirs(tmp_path, base_rows, now_rows):
    base, run = tmp_path / "base", tmp_path / "run-1.34"
    write_matrix(base, nightly(v1_34_4=base_rows).build())
    write_matrix(run, nightly(v1_34_4=now_rows).build())
    return base, run


def test_cli_exits_1_on_an_unannounced_change_and_writes_every_file(tmp_path, capsys) -> None:
    base, run = _dirs(tmp_path, BASE, {**BASE, "statefulset-update-order": "0,1,2,3"})
    out = tmp_path / "out"
    assert main(["matrix", str(run), "-o", str(out), "--baseline", str(base / "matrix.json")]) == 1
    assert {p.name for p in out.iterdir()} == {"matrix.json", "matrix.md", "matrix.html", "changes.md", "changes.json"}
    captured = capsys.readouterr()
    assert "**NOT ANNOUNCED**" in captured.out
    assert "1 not announced by any expectation: add an expectation row" in captured.err
    assert "since-unannounced" in (out / "matrix.html").read_text()


def test_cli_exits_0_when_every_change_is_announced(tmp_path, capsys) -> None:
    base, run = _dirs(tmp_path, BASE, {**BASE, "rollback-apps-v1beta1": "404 404 page not found"})
    assert main(["matrix", str(run), "-o", str(tmp_path / "out"), "--baseline", str(base)]) == 0
    assert "1 behaviour change(s)" in capsys.readouterr().err


def test_cli_without_baseline_writes_no_changes(tmp_path) -> None:
    _, run = _dirs(tmp_path, BASE, BASE)
    assert main(["matrix", str(run), "-o", str(tmp_path / "out")]) == 0
    assert not (tmp_path / "out" / "changes.md").exists()


def test_cli_bad_baseline_is_a_one_line_error(tmp_path, capsys) -> None:
    _, run = _dirs(tmp_path, BASE, BASE)
    assert main(["matrix", str(run), "-o", str(tmp_path / "out"), "--baseline", str(tmp_path / "nope.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nope.json: cannot read" in err[0]
    assert not (tmp_path / "out").exists()  # nothing written on bad input
