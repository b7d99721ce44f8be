"""The behaviour matrix as one self-contained HTML page (inline CSS, no script, no external asset).

Cells whose behaviour differs from the version to their left are highlighted;
with a baseline comparison, cells changed since the baseline are outlined (red
when no expectation announced the change) and say what they were before.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from .matrix import COMPARED_KINDS, MEASUREMENT, SCENARIO, Matrix, version_changes

if TYPE_CHECKING:
    from .matrixdiff import Comparison

__all__ = ["matrix_html"]

_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #1b1f24; }
h1 { font-size: 1.4em; margin: 0 0 .3em; }
h2 { font-size: 1.15em; margin: 1.2em 0 .4em; }
p { margin: .3em 0; }
table { border-collapse: collapse; }
th, td { border: 1px solid #d0d7de; padding: .3em .5em; vertical-align: top; text-align: left; }
thead th { position: sticky; top: 0; background: #f6f8fa; }
tbody th { font-weight: normal; max-width: 34em; }
td { max-width: 26em; overflow-wrap: anywhere; }
td.kind { color: #57606a; font-size: .85em; white-space: nowrap; }
tr.measurement th, tr.measurement td { color: #57606a; }
tr.scenario th { font-weight: 600; }
tr.differs th::before { content: "\\2260  "; color: #9a6700; font-weight: 700; }
td.empty { color: #8c959f; text-align: center; }
td.version-change { background: #fff1c2; font-weight: 600; }
td.since-announced { outline: 2px solid #0969da; outline-offset: -2px; }
td.since-unannounced { outline: 3px solid #cf222e; outline-offset: -3px; background: #ffebe9; }
span.was { display: block; font-weight: normal; font-size: .85em; color: #57606a; }
.legend span { display: inline-block; padding: 0 .4em; margin-right: .6em; border: 1px solid #d0d7de; }
.legend .version-change { background: #fff1c2; }
.legend .since-announced { outline: 2px solid #0969da; outline-offset: -2px; }
.legend .since-unannounced { outline: 3px solid #cf222e; outline-offset: -3px; background: #ffebe9; }
ul.changes li.unannounced { color: #cf222e; }
"""


def _values(values: tuple[str, ...] | None) -> str:
    if values is None:
        return "(no such row, or a measurement)"
    return "; ".join(values) if values else "(not observed)"


def _changes_section(comparison: Comparison) -> list[str]:
    out = [f"<h2>Changes since {escape(comparison.baseline)}</h2>"]
    pairs = ", ".join(
        f"{escape(c)} against {escape(b)}" if b else f"{escape(c)} (nothing to compare with)"
        for c, b in comparison.pairs
    )
    out.append(f"<p>Compared: {pairs}.</p>")
    if comparison.dropped_columns:
        out.append(f"<p>No longer run: {escape(', '.join(comparison.dropped_columns))}.</p>")
    if comparison.new_rows:
        out.append(f"<p>New rows (not compared): {escape(', '.join(comparison.new_rows))}.</p>")
    if not comparison.changes:
        out.append("<p>No behaviour changed.</p>")
        return out
    out.append(
        f"<p>{len(comparison.changes)} change(s), <strong>{len(comparison.unannounced)} not announced"
        "</strong> by any expectation.</p>"
    )
    out.append('<ul class="changes">')
    for c in comparison.changes:
        verdict = f"announced by {escape(c.announced_by)}" if c.announced else "NOT ANNOUNCED"
        css = "announced" if c.announced else "unannounced"
        out.append(
            f'<li class="{css}">{escape(c.row)} on {escape(c.column)} (against {escape(c.reference)}): '
            f"{escape(_values(c.before))} &rarr; {escape(_values(c.after))}; {verdict}</li>"
        )
    out.append("</ul>")
    return out


def matrix_html(matrix: Matrix, comparison: Comparison | None = None) -> str:
    """The whole page."""
    changed = version_changes(matrix)
    differing = {row for row, _ in changed}
    behaviour_rows = [r for r in matrix.rows if matrix.kind(r) in COMPARED_KINDS]
    measured = [r for r in matrix.rows if matrix.kind(r) == MEASUREMENT]
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>rollproof behaviour matrix</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        "<h1>Behaviour matrix</h1>",
        f"<p>Kubernetes {escape(', '.join(matrix.columns)) or '(no version)'}: {len(behaviour_rows)} behaviour rows "
        f"(scenario outcomes and checks), <strong>{len(differing)} differ between versions</strong>; "
        f"{len(measured)} measurement rows (counts, durations: shown, never compared).</p>",
        '<p class="legend"><span class="version-change">differs from the version to its left</span>',
    ]
    if comparison is not None:
        out[-1] += (
            '<span class="since-announced">changed since the baseline, announced</span>'
            '<span class="since-unannounced">changed since the baseline, not announced</span>'
        )
    out[-1] += "</p>"
    if comparison is not None:
        out += _changes_section(comparison)
    out.append("<table>")
    out.append(
        "<thead><tr><th>scenario / check</th><th>kind</th>"
        + "".join(f"<th>{escape(c)}</th>" for c in matrix.columns)
        + "</tr></thead>"
    )
    out.append("<tbody>")
    for row in matrix.rows:
        kind = matrix.kind(row)
        row_css = kind + (" differs" if row in differing else "")
        cells = []
        for column in matrix.columns:
            text = matrix.cell(row, column)
            css, title, was = [], [], ""
            if not text:
                css.append("empty")
            if (row, column) in changed:
                css.append("version-change")
                title.append("differs from the version to its left")
            change = comparison.change(row, column) if comparison is not None else None
            if change is not None:
                css.append("since-announced" if change.announced else "since-unannounced")
                title.append(
                    f"was {_values(change.before)} on {change.reference}; "
                    + (f"announced by {change.announced_by}" if change.announced else "not announced")
                )
                was = f'<span class="was">was: {escape(_values(change.before))}</span>'
            attrs = (f' class="{" ".join(css)}"' if css else "") + (
                f' title="{escape("; ".join(title))}"' if title else ""
            )
            cells.append(f"<td{attrs}>{escape(text) or '-'}{was}</td>")
        label = "scenario (outcome)" if kind == SCENARIO else kind
        out.append(
            f'<tr class="{row_css}"><th scope="row">{escape(row)}</th><td class="kind">{label}</td>'
            + "".join(cells)
            + "</tr>"
        )
    out += ["</tbody>", "</table>", "</body>", "</html>"]
    return "\n".join(out) + "\n"
