"""The behaviour matrix: what each Kubernetes version did, one column per version.

Each run writes `matrix.json` and `matrix.md` into its report directory; runs
against several versions are merged into one matrix (`rollproof matrix DIR...`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError
from .expectations import parse_version

__all__ = ["Matrix", "MatrixBuilder", "version_key", "matrix_markdown", "write_matrix", "load_matrix", "merge_matrices"]


@dataclass(frozen=True)
class Matrix:
    """Observed behaviour: rows are scenarios or checks, columns Kubernetes versions."""

    rows: tuple[str, ...]
    columns: tuple[str, ...]
    cells: Mapping[tuple[str, str], str] = field(default_factory=dict)

    def cell(self, row: str, column: str) -> str:
        return self.cells.get((row, column), "")


def version_key(version: str) -> tuple[int, tuple[int, int], str]:
    """Sort key: parseable versions numerically (1.9 < 1.10), anything else after them."""
    try:
        return (0, parse_version(version), version)
    except ConfigError:
        return (1, (0, 0), version)


def matrix_markdown(matrix: Matrix) -> str:
    def esc(text: str) -> str:
        return text.replace("|", "\\|")

    lines = [
        "| scenario / check | " + " | ".join(esc(c) for c in matrix.columns) + " |",
        "|---|" + "---|" * len(matrix.columns),
    ]
    for row in matrix.rows:
        cells = (esc(matrix.cell(row, c)) or "-" for c in matrix.columns)
        lines.append(f"| {esc(row)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_matrix(directory: Path, matrix: Matrix) -> Path:
    """Write matrix.json and matrix.md into `directory`; returns the JSON's path."""
    directory.mkdir(parents=True, exist_ok=True)
    data = {
        "columns": list(matrix.columns),
        "rows": [{"name": row, "cells": {c: matrix.cell(row, c) for c in matrix.columns}} for row in matrix.rows],
    }
    path = directory / "matrix.json"
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    (directory / "matrix.md").write_text(matrix_markdown(matrix), encoding="utf-8")
    return path


def load_matrix(path: Path) -> Matrix:
    """Read a matrix.json (or the one inside a report directory)."""
    path = path / "matrix.json" if path.is_dir() else path
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        columns = tuple(data["columns"])
        rows = tuple(row["name"] for row in data["rows"])
        cells = {(row["name"], c): text for row in data["rows"] for c, text in row["cells"].items() if text}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror}); give a report directory of a finished run") from None
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ConfigError(f"{path}: not a rollproof matrix.json; give a report directory of a finished run") from None
    return Matrix(rows, columns, cells)


class MatrixBuilder:
    """Collects cells: rows keep their first-seen order, a cell lists each distinct text once."""

    def __init__(self) -> None:
        self._rows: dict[str, None] = {}
        self._columns: set[str] = set()
        self._cells: dict[tuple[str, str], list[str]] = {}

    def column(self, column: str) -> None:
        self._columns.add(column)

    def put(self, row: str, column: str, text: str) -> None:
        self._rows.setdefault(row)
        self._columns.add(column)
        seen = self._cells.setdefault((row, column), [])
        if text not in seen:
            seen.append(text)

    def build(self) -> Matrix:
        columns = tuple(sorted(self._columns, key=version_key))
        return Matrix(tuple(self._rows), columns, {key: "; ".join(texts) for key, texts in self._cells.items()})


def merge_matrices(matrices: Sequence[Matrix]) -> Matrix:
    """One matrix over all versions; rows keep their first-seen order, repeated cells are joined."""
    builder = MatrixBuilder()
    for matrix in matrices:
        for column in matrix.columns:
            builder.column(column)
        for row in matrix.rows:
            for column in matrix.columns:
                for part in filter(None, matrix.cell(row, column).split("; ")):
                    builder.put(row, column, part)
    return builder.build()
