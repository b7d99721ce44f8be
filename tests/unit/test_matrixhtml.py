import re
from html.parser import HTMLParser

from harness.matrix import MEASUREMENT, SCENARIO, MatrixBuilder
from harness.matrixdiff import compare
from harness.matrixhtml import matrix_html


def matrix(order_137: str = "3,2,1,0", lag: str = "+0.00"):
    b = MatrixBuilder()
    for version, order in (("v1.35.4", "3,2,1,0"), ("v1.36.3", "3,2,1,0"), ("v1.37.0", order_137)):
        b.put(
            "Deployment rolling update <v0.1 -> v0.2>", version, "pass: 0 failed / 10", kind=SCENARIO, behaviour="pass"
        )
        b.put("statefulset-update-order", version, order)
        b.put("lag-s", version, lag, kind=MEASUREMENT)
    return b.build()


class Cells(HTMLParser):
    """Collects every <td>'s class and text, and every external reference."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[tuple[str, str]] = []
        self.external: list[str] = []
        self._in_td = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in ("src", "href"):
            if name in attrs:
                self.external.append(attrs[name])
        if tag in ("link", "script", "img"):
            self.external.append(tag)
        if tag == "td":
            self._in_td = True
            self.cells.append((attrs.get("class") or "", ""))

    def handle_endtag(self, tag):
        if tag == "td":
            self._in_td = False

    def handle_data(self, data):
        if self._in_td:
            css, text = self.cells[-1]
            self.cells[-1] = (css, text + data)


def parse(page: str) -> Cells:
    parser = Cells()
    parser.feed(page)
    return parser


def test_page_is_self_contained_and_escapes_text() -> None:
    page = matrix_html(matrix())
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page
    assert parse(page).external == []
    assert "Deployment rolling update &lt;v0.1 -&gt; v0.2&gt;" in page
    assert "<v0.1" not in page


def test_cells_that_differ_from_the_previous_version_stand_out_measurements_never() -> None:
    page = matrix_html(matrix(order_137="0,1,2,3", lag="+9.99"))
    cells = parse(page).cells
    highlighted = [text for css, text in cells if "version-change" in css]
    assert highlighted == ["0,1,2,3"]
    assert re.search(r'<tr class="check differs"><th scope="row">statefulset-update-order</th>', page)
    assert "1 differ between versions" in page
    assert '<tr class="measurement"><th scope="row">lag-s</th>' in page


def test_identical_versions_highlight_nothing() -> None:
    cells = parse(matrix_html(matrix())).cells
    assert not [c for c in cells if "version-change" in c[0] or "since-" in c[0]]
    assert "0 differ between versions" in matrix_html(matrix())


def test_changes_since_the_baseline_are_outlined_and_say_what_was_there() -> None:
    comparison = compare(matrix(), matrix(order_137="0,1,2,3"), "nightly-41/matrix.json")
    page = matrix_html(matrix(order_137="0,1,2,3"), comparison)
    (cell,) = [(css, text) for css, text in parse(page).cells if "since-unannounced" in css]
    assert cell == ("version-change since-unannounced", "0,1,2,3was: 3,2,1,0")
    assert "Changes since nightly-41/matrix.json" in page
    assert (
        '<li class="unannounced">statefulset-update-order on v1.37.0 (against v1.37.0): 3,2,1,0 &rarr; 0,1,2,3; '
        "NOT ANNOUNCED</li>" in page
    )


def test_empty_cells_show_a_dash() -> None:
    b = MatrixBuilder()
    b.put("order", "v1.34.4", "3,2,1,0")
    b.column("v1.35.4")
    cells = parse(matrix_html(b.build())).cells
    assert cells[-1] == ("empty version-change", "-")
