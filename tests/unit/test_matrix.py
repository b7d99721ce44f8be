import json

import pytest

from harness.errors import ConfigError
from harness.matrix import Matrix, load_matrix, matrix_markdown, merge_matrices, write_matrix


def run(version: str, **cells: str) -> Matrix:
    return Matrix(tuple(cells), (version,), {(row, version): text for row, text in cells.items()})


def test_write_then_load_round_trips(tmp_path) -> None:
    m = run("v1.34.4", rollout="pass: 0 failed / 100", rollback="404")
    write_matrix(tmp_path, m)
    assert load_matrix(tmp_path) == m
    assert "| rollout | pass: 0 failed / 100 |" in (tmp_path / "matrix.md").read_text()


def test_merge_puts_versions_side_by_side_in_numeric_order() -> None:
    merged = merge_matrices([
        run("v1.35.4", rollout="pass", json_patch="400 json"),
        run("v1.9.0", rollout="fail"),
        run("v1.34.4", rollout="pass", json_patch="400 yaml"),
    ])
    assert merged.columns == ("v1.9.0", "v1.34.4", "v1.35.4")
    assert merged.rows == ("rollout", "json_patch")
    assert merged.cell("json_patch", "v1.34.4") == "400 yaml"
    assert merged.cell("json_patch", "v1.9.0") == ""
    assert "| json_patch | - | 400 yaml | 400 json |" in matrix_markdown(merged)


def test_merge_of_two_runs_of_one_version_keeps_both_answers_once() -> None:
    merged = merge_matrices([run("v1.34.4", check="404"), run("v1.34.4", check="404; 200")])
    assert merged.cell("check", "v1.34.4") == "404; 200"


@pytest.mark.parametrize("content", ["{not json", json.dumps({"columns": ["v1"]}), json.dumps([1, 2])])
def test_load_refuses_what_is_not_a_matrix(tmp_path, content) -> None:
    (tmp_path / "matrix.json").write_text(content)
    with pytest.raises(ConfigError, match="not a rollproof matrix.json"):
        load_matrix(tmp_path)


def test_load_of_a_missing_directory_names_it(tmp_path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_matrix(tmp_path / "reports-1.99")
