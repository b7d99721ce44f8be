"""Pictures drawn off the critical path: waited for before samplers start, failures kept for the session's end."""

from __future__ import annotations

import threading
from pathlib import Path

from harness.pictures import PictureDrawer


def test_wait_returns_once_every_picture_submitted_is_drawn(tmp_path: Path) -> None:
    drawer, release, drawn = PictureDrawer(), threading.Event(), []

    def draw(name: str) -> None:
        release.wait(5)
        (tmp_path / name).write_text("png")
        drawn.append(name)

    drawer.submit(tmp_path / "a.png", lambda: draw("a.png"))
    drawer.submit(tmp_path / "b.png", lambda: draw("b.png"))
    assert drawn == []  # submit does not draw
    threading.Timer(0.1, release.set).start()
    drawer.wait()
    assert drawn == ["a.png", "b.png"]  # one at a time, in order
    assert drawer.finish() == []


def test_a_picture_that_fails_is_named_at_the_end_and_the_others_are_drawn(tmp_path: Path) -> None:
    drawer = PictureDrawer()

    def broken() -> None:
        raise ValueError("no axes")

    drawer.submit(tmp_path / "bad.png", broken)
    drawer.submit(tmp_path / "good.png", lambda: (tmp_path / "good.png").write_text("png"))
    drawer.wait()  # the failure is not raised into the test that waits
    assert (tmp_path / "good.png").exists()
    assert drawer.finish() == [f"picture {tmp_path / 'bad.png'} not drawn: ValueError: no axes"]
    assert drawer.finish() == []  # said once
