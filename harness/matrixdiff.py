"""What changed in behaviour since a baseline matrix (the last nightly's), and whether it was announced.

Only behaviour is compared (scenario outcomes and check answers, see `harness.matrix`);
measurement rows never are.

Columns are paired by Kubernetes minor: each version is compared with the
baseline's column of the same minor (a new patch release is still "1.34"), else
with the baseline's nearest lower minor (a newly added 1.37 against last night's
1.36), else the nearest higher one (a newly added 1.31 against 1.32).

A change is *announced* when the expectations already say the new value:

- a check row named in `harness.expectations.TABLE` whose every new answer
  ("<status> <message>", as `rawscenarios.observed` writes it) matches the one
  expectation row for that version (its status, and its body fragment if any);
- a scenario row whose new outcome is "pass" (every scenario's docstring is its
  expectation: it MUST pass).

Anything else is unannounced: another answer, a failure or skip, a row that
disappeared, a row that turned from behaviour into a measurement. Rows new since
the baseline are listed but not compared (there is nothing to compare them with).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .errors import ConfigError
from .expectations import checks as expectation_checks
from .expectations import expected
from .kubeversion import parse_version
from .matrix import COMPARED_KINDS, SCENARIO, UNCLASSIFIED, Matrix

__all__ = [
    "Change",
    "Comparison",
    "compare",
    "pair_columns",
    "parse_answer",
    "announcement",
    "changes_markdown",
    "changes_data",
]

_ANSWER = re.compile(r"(\d{3})(?:[;:]?\s+|$)(.*)", re.S)


@dataclass(frozen=True)
class Change:
    """One behaviour cell that differs from the baseline.

    `before`/`after` are the behaviours observed (() when the cell was empty),
    None when the row was absent, or was a measurement, on that side.
    """

    row: str
    column: str
    reference: str
    before: tuple[str, ...] | None
    after: tuple[str, ...] | None
    announced_by: str = ""

    @property
    def announced(self) -> bool:
        return bool(self.announced_by)


@dataclass(frozen=True)
class Comparison:
    """A current matrix against its baseline."""

    baseline: str
    pairs: tuple[tuple[str, str | None], ...]  # (current column, baseline column compared with)
    changes: tuple[Change, ...]
    new_rows: tuple[str, ...]
    dropped_columns: tuple[str, ...]  # baseline versions no current column was compared with

    @property
    def unannounced(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if not c.announced)

    def change(self, row: str, column: str) -> Change | None:
        return next((c for c in self.changes if c.row == row and c.column == column), None)


def _version(column: str) -> tuple[int, int, int] | None:
    try:
        version = parse_version(column)
    except ConfigError:
        return None  # a column named otherwise ("nightly") pairs only with its own name
    return version.major, version.minor, version.patch or 0


def pair_columns(current: Sequence[str], baseline: Sequence[str]) -> tuple[tuple[str, str | None], ...]:
    """Each current column with the baseline column it is compared with (None: nothing to compare)."""
    known = [(v, c) for c in baseline if (v := _version(c)) is not None]
    pairs = []
    for column in current:
        version = _version(column)
        if version is None:
            pairs.append((column, column if column in baseline else None))
            continue
        minor = version[:2]
        same = [(v, c) for v, c in known if v[:2] == minor]
        lower = [(v, c) for v, c in known if v[:2] < minor]
        higher = [(v, c) for v, c in known if v[:2] > minor]
        if same:
            pairs.append((column, max(same)[1]))
        elif lower:
            pairs.append((column, max(lower)[1]))
        elif higher:
            pairs.append((column, min(higher)[1]))
        else:
            pairs.append((column, None))
    return tuple(pairs)


def parse_answer(text: str) -> tuple[int, str] | None:
    """(status, message) of a check answer written as "<status> <message>", else None."""
    match = _ANSWER.fullmatch(text.strip())
    return (int(match[1]), match[2]) if match else None


def announcement(row: str, kind: str, column: str, after: tuple[str, ...] | None) -> str:
    """Which expectation announces `after` on `column`'s version, or "" when none does."""
    if not after:
        return ""
    if kind == SCENARIO:
        return "scenario expectation: pass" if all(a == "pass" for a in after) else ""
    if row not in expectation_checks():
        return ""
    try:
        row_expected = expected(row, column)
    except ConfigError:  # no row for that version (or overlapping rows): nothing announces it
        return ""
    answers = [parse_answer(a) for a in after]
    if all(a is not None and row_expected.matches(*a) for a in answers):
        body = f" with {row_expected.body!r}" if row_expected.body else ""
        return f"expectations: {row} {row_expected.versions} -> {row_expected.status}{body}"
    return ""


def _refuse_unclassified(matrix: Matrix, what: str) -> None:
    old = [r for r in matrix.rows if matrix.kind(r) == UNCLASSIFIED]
    if old:
        raise ConfigError(
            f"{what} has rows without a kind (a matrix.json written before rows had kinds, "
            f"e.g. {old[0]!r}): compare against a matrix written by this rollproof"
        )


def compare(baseline: Matrix, current: Matrix, baseline_name: str = "baseline") -> Comparison:
    """Every behaviour cell of `current` that differs from its baseline cell, each marked announced or not."""
    _refuse_unclassified(baseline, baseline_name)
    _refuse_unclassified(current, "the current matrix")
    pairs = pair_columns(current.columns, baseline.columns)
    compared = [(c, b) for c, b in pairs if b is not None]
    changes: list[Change] = []
    new_rows = []
    current_rows = set(current.rows)
    baseline_rows = set(baseline.rows)
    for row in (*current.rows, *(r for r in baseline.rows if r not in current_rows)):
        was, now = baseline.kind(row), current.kind(row)
        if was not in COMPARED_KINDS and now not in COMPARED_KINDS:
            continue
        if row not in baseline_rows:
            new_rows.append(row)
            continue
        for column, reference in compared:
            before = baseline.behaviour(row, reference)
            after = current.behaviour(row, column) if row in current_rows else None
            if before == after or (before == () and after is None):
                continue
            kind = now if row in current_rows else was
            changes.append(
                Change(
                    row,
                    column,
                    reference,
                    before,
                    after,
                    announcement(row, kind, column, after) if kind in COMPARED_KINDS else "",
                )
            )
    used = {b for _, b in compared}
    dropped = tuple(b for b in baseline.columns if b not in used)
    return Comparison(baseline_name, pairs, tuple(changes), tuple(new_rows), dropped)


def _show(values: tuple[str, ...] | None) -> str:
    if values is None:
        return "(no such row, or a measurement)"
    return "; ".join(values) if values else "(not observed)"


def changes_markdown(comparison: Comparison) -> str:
    """A Markdown report of the comparison: what was compared with what, then every change."""

    def esc(text: str) -> str:
        return text.replace("|", "\\|")

    lines = [f"## Behaviour changes since {comparison.baseline}", ""]
    pairs = ", ".join(f"{c} against {b}" if b else f"{c} (nothing to compare with)" for c, b in comparison.pairs)
    lines.append(f"Compared: {pairs}.")
    if comparison.dropped_columns:
        lines.append(f"No longer run: {', '.join(comparison.dropped_columns)}.")
    if comparison.new_rows:
        lines.append(f"New rows (not compared): {', '.join(comparison.new_rows)}.")
    lines.append("")
    if not comparison.changes:
        lines.append("No behaviour changed.")
        return "\n".join(lines) + "\n"
    unannounced = len(comparison.unannounced)
    lines.append(f"{len(comparison.changes)} change(s), {unannounced} not announced by any expectation.")
    lines += ["", "| row | version (compared with) | before | after | announced by |", "|---|---|---|---|---|"]
    for c in comparison.changes:
        verdict = esc(c.announced_by) if c.announced else "**NOT ANNOUNCED**"
        lines.append(
            f"| {esc(c.row)} | {esc(c.column)} ({esc(c.reference)}) | {esc(_show(c.before))} | "
            f"{esc(_show(c.after))} | {verdict} |"
        )
    return "\n".join(lines) + "\n"


def changes_data(comparison: Comparison) -> dict:
    """The JSON form of the comparison."""
    return {
        "baseline": comparison.baseline,
        "pairs": [{"column": c, "compared_with": b} for c, b in comparison.pairs],
        "dropped_columns": list(comparison.dropped_columns),
        "new_rows": list(comparison.new_rows),
        "changes": [
            {
                "row": c.row,
                "column": c.column,
                "compared_with": c.reference,
                "before": None if c.before is None else list(c.before),
                "after": None if c.after is None else list(c.after),
                "announced_by": c.announced_by or None,
            }
            for c in comparison.changes
        ],
        "unannounced": len(comparison.unannounced),
    }
