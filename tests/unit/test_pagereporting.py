"""Free page reporting paused for a run: the order written, what turns it back on, when it is left alone."""

from __future__ import annotations

from pathlib import Path

from harness.pagereporting import pause

BUDDY = "Node 0, zone   Normal  28602  11719   2936   5520   7768   5708   3333   1364    758    573   1245\n"


def _files(tmp_path: Path, order: str) -> tuple[Path, Path]:
    param, buddy = tmp_path / "page_reporting_order", tmp_path / "buddyinfo"
    param.write_text(order + "\n")
    buddy.write_text(BUDDY)
    return param, buddy


def test_pause_sets_the_order_above_the_largest_and_restore_puts_it_back(tmp_path: Path) -> None:
    param, buddy = _files(tmp_path, "9")
    paused = pause(param, buddy)
    assert paused is not None and (paused.was, paused.off) == (9, 11)
    assert param.read_text() == "11"
    assert "order 9 -> 11" in paused.describe()
    paused.restore()
    assert param.read_text() == "9"


def test_already_off_or_absent_is_left_alone_and_a_changed_order_is_not_overwritten(tmp_path: Path) -> None:
    param, buddy = _files(tmp_path, "11")  # off already (another run paused it): that run turns it back on
    assert pause(param, buddy) is None and param.read_text() == "11\n"
    assert pause(tmp_path / "absent", buddy) is None  # a kernel without reporting
    param.write_text("9")
    paused = pause(param, buddy)
    assert paused is not None
    param.write_text("5")  # someone set another order meanwhile: theirs stays
    paused.restore()
    assert param.read_text() == "5"
