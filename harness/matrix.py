"""The behaviour matrix: what each Kubernetes version did, one column per version.

Every row says what kind of thing it holds, and so what a comparison may look at:

- ``scenario``: a test's verdict. Its *behaviour* is the outcome word (pass, fail,
  skip, error); the probe counts shown with it ("pass: 0 failed / 2147") are not.
- ``check``: an observed behaviour (a status code and message, an ordering, a
  reason). Its behaviour is the whole observed text.
- ``measurement``: counts, durations, lags. Shown, never compared: they vary from
  run to run without anything having changed.

Each observation in ``matrix.json`` carries its ``behaviour`` explicitly (absent
for measurements), so a comparison never has to guess from the shown text.
Each run writes ``matrix.json``, ``matrix.md`` and ``matrix.html`` into its report
directory; runs against several versions merge into one (``rollproof matrix DIR...``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ConfigError
from .kubeversion import parse_version

if TYPE_CHECKING:
    from .matrixdiff import Comparison

__all__ = [
    "SCENARIO",
    "CHECK",
    "MEASUREMENT",
    "UNCLASSIFIED",
    "COMPARED_KINDS",
    "Observation",
    "Matrix",
    "MatrixBuilder",
    "version_key",
    "version_changes",
    "matrix_markdown",
    "matrix_data",
    "write_matrix",
    "load_matrix",
    "merge_matrices",
]

SCENARIO = "scenario"
CHECK = "check"
MEASUREMENT = "measurement"
UNCLASSIFIED = "unclassified"  # rows of a matrix.json written before rows had kinds
COMPARED_KINDS = frozenset({SCENARIO, CHECK})
_KINDS = (SCENARIO, CHECK, MEASUREMENT, UNCLASSIFIED)
FORMAT = 2


@dataclass(frozen=True)
class Observation:
    """One answer in a cell: the text shown, and the behaviour compared (None for a measurement)."""

    text: str
    behaviour: str | None = None


@dataclass(frozen=True)
class Matrix:
    """Observed behaviour: rows are scenarios, checks or measurements, columns Kubernetes versions."""

    rows: tuple[str, ...]
    columns: tuple[str, ...]
    cells: Mapping[tuple[str, str], tuple[Observation, ...]] = field(default_factory=dict)
    kinds: Mapping[str, str] = field(default_factory=dict)

    def kind(self, row: str) -> str:
        return self.kinds.get(row, UNCLASSIFIED)

    def observations(self, row: str, column: str) -> tuple[Observation, ...]:
        return self.cells.get((row, column), ())

    def cell(self, row: str, column: str) -> str:
        """The text shown: every distinct observation, joined with "; "."""
        return "; ".join(o.text for o in self.observations(row, column))

    def behaviour(self, row: str, column: str) -> tuple[str, ...] | None:
        """What a comparison looks at: the behaviours observed (() when none), None for rows never compared."""
        if self.kind(row) not in COMPARED_KINDS:
            return None
        return tuple(dict.fromkeys(o.behaviour or "" for o in self.observations(row, column)))


def version_key(version: str) -> tuple[int, tuple[int, int], str]:
    """Sort key: parseable versions numerically (1.9 < 1.10), anything else after them."""
    try:
        return (0, parse_version(version).release, version)
    except ConfigError:
        return (1, (0, 0), version)


def version_changes(matrix: Matrix) -> frozenset[tuple[str, str]]:
    """The (row, column) cells whose behaviour differs from the version to their left.

    An empty cell counts as a behaviour ("not observed there"), so a scenario that
    stops running on some version stands out as well. Measurements never do.
    """
    changed = set()
    for row in matrix.rows:
        if matrix.kind(row) not in COMPARED_KINDS:
            continue
        for left, right in zip(matrix.columns, matrix.columns[1:]):
            if matrix.behaviour(row, left) != matrix.behaviour(row, right):
                changed.add((row, right))
    return frozenset(changed)


def matrix_markdown(matrix: Matrix) -> str:
    """A Markdown table; a cell whose behaviour differs from the version to its left is bold."""
    changed = version_changes(matrix)

    def esc(text: str) -> str:
        return text.replace("|", "\\|")

    lines = [
        "| scenario / check | " + " | ".join(esc(c) for c in matrix.columns) + " |",
        "|---|" + "---|" * len(matrix.columns),
    ]
    for row in matrix.rows:
        name = esc(row) + (" _(measurement)_" if matrix.kind(row) == MEASUREMENT else "")
        cells = []
        for column in matrix.columns:
            text = esc(matrix.cell(row, column)) or "-"
            cells.append(f"**{text}**" if (row, column) in changed else text)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def matrix_data(matrix: Matrix) -> dict:
    """The JSON form (format 2): each row's kind, each observation's text and behaviour."""

    def observation(o: Observation) -> dict:
        return {"text": o.text} if o.behaviour is None else {"text": o.text, "behaviour": o.behaviour}

    return {
        "format": FORMAT,
        "columns": list(matrix.columns),
        "rows": [
            {
                "name": row,
                "kind": matrix.kind(row),
                "cells": {c: [observation(o) for o in matrix.observations(row, c)] for c in matrix.columns},
            }
            for row in matrix.rows
        ],
    }


def write_matrix(directory: Path, matrix: Matrix, comparison: Comparison | None = None) -> Path:
    """Write matrix.json, matrix.md and matrix.html into `directory`; returns the JSON's path.

    `comparison` (against a baseline) marks the cells changed since it in the HTML.
    """
    from .matrixhtml import matrix_html

    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "matrix.json"
    path.write_text(json.dumps(matrix_data(matrix), indent=2) + "\n", encoding="utf-8")
    (directory / "matrix.md").write_text(matrix_markdown(matrix), encoding="utf-8")
    (directory / "matrix.html").write_text(matrix_html(matrix, comparison), encoding="utf-8")
    return path


def _observations(kind: str, value: object) -> tuple[Observation, ...]:
    if isinstance(value, str):  # format 1: one text per cell, no kinds
        return (Observation(value),) if value else ()
    out = []
    for item in value:  # type: ignore[union-attr]
        text, behaviour = item["text"], item.get("behaviour")
        if not isinstance(text, str) or not (behaviour is None or isinstance(behaviour, str)):
            raise TypeError("observation text and behaviour are strings")
        if (behaviour is None) == (kind in COMPARED_KINDS):
            raise ValueError(
                f"a {kind} row's observation must {'' if kind in COMPARED_KINDS else 'not '}carry a behaviour"
            )
        out.append(Observation(text, behaviour))
    return tuple(out)


def load_matrix(path: Path) -> Matrix:
    """Read a matrix.json (or the one inside a report directory); format 1 rows load as unclassified."""
    path = path / "matrix.json" if path.is_dir() else path
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        columns = tuple(data["columns"])
        rows, kinds, cells = [], {}, {}
        for row in data["rows"]:
            name, kind = row["name"], row.get("kind", UNCLASSIFIED)
            if not isinstance(name, str) or kind not in _KINDS:
                raise ValueError(f"row {name!r}: kind {kind!r}")
            rows.append(name)
            kinds[name] = kind
            for column, value in row["cells"].items():
                if column not in columns:
                    raise ValueError(f"row {name!r}: column {column!r} is not in the columns")
                observations = _observations(kind, value)
                if observations:
                    cells[(name, column)] = observations
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror}); give a report directory of a finished run") from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(
            f"{path}: not a rollproof matrix.json ({exc}); give a report directory of a finished run"
        ) from None
    return Matrix(tuple(rows), columns, cells, kinds)


class MatrixBuilder:
    """Collects observations: rows keep their first-seen order, a cell lists each distinct one once."""

    def __init__(self) -> None:
        self._rows: dict[str, str] = {}
        self._columns: set[str] = set()
        self._cells: dict[tuple[str, str], list[Observation]] = {}

    def column(self, column: str) -> None:
        self._columns.add(column)

    def row(self, row: str, kind: str) -> None:
        """Declare a row's kind; an unclassified row takes the kind another source gives it."""
        if kind not in _KINDS:
            raise ValueError(f"unknown row kind {kind!r}")
        known = self._rows.setdefault(row, kind)
        if known == UNCLASSIFIED:
            self._rows[row] = kind
        elif kind not in (known, UNCLASSIFIED):
            raise ConfigError(
                f"row {row!r} is a {known} in one matrix and a {kind} in another: merge runs of one rollproof version"
            )

    def put(self, row: str, column: str, text: str, *, kind: str = CHECK, behaviour: str | None = None) -> None:
        """Add an observation. A check's behaviour is its text unless given; a measurement has none."""
        if kind == CHECK and behaviour is None:
            behaviour = text
        if kind == SCENARIO and behaviour is None:
            raise ValueError(f"scenario row {row!r} needs its outcome as behaviour")
        if kind in (MEASUREMENT, UNCLASSIFIED):
            behaviour = None
        self.add(row, column, kind, Observation(text, behaviour))

    def add(self, row: str, column: str, kind: str, observation: Observation) -> None:
        self.row(row, kind)
        self._columns.add(column)
        seen = self._cells.setdefault((row, column), [])
        if observation not in seen:
            seen.append(observation)

    def build(self) -> Matrix:
        columns = tuple(sorted(self._columns, key=version_key))
        cells = {key: tuple(obs) for key, obs in self._cells.items()}
        return Matrix(tuple(self._rows), columns, cells, dict(self._rows))


def merge_matrices(matrices: Sequence[Matrix]) -> Matrix:
    """One matrix over all versions; rows keep their first-seen order, repeated observations appear once."""
    builder = MatrixBuilder()
    for matrix in matrices:
        for column in matrix.columns:
            builder.column(column)
        for row in matrix.rows:
            builder.row(row, matrix.kind(row))
            for column in matrix.columns:
                for observation in matrix.observations(row, column):
                    builder.add(row, column, matrix.kind(row), observation)
    return builder.build()
