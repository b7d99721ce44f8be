"""`KindProvider.load_image` against a scripted kind binary: what it does when kind's load fails."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from harness.cluster import kind
from harness.cluster.kind import KindProvider, KindSettings
from harness.errors import ProviderError
from harness.timeouts import DEFAULT_TIMEOUTS


def fake_kind(tmp_path: Path, load_error: str) -> str:
    script = tmp_path / "kind"
    script.write_text(
        "#!/bin/sh\n"
        'case "$1 $2" in\n'
        f"  'load docker-image') echo 'ERROR: {load_error}' >&2; exit 1;;\n"
        "  'get nodes') echo web-worker; echo web-control-plane;;\n"
        "esac\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def provider(kind_bin: str) -> KindProvider:
    return KindProvider(KindSettings(name="web", kind_bin=kind_bin), DEFAULT_TIMEOUTS, lambda line: None)


def test_an_unknown_snapshotter_imports_into_every_node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    imported: list[tuple[str, str]] = []
    monkeypatch.setattr(kind, "_import_image", lambda image, node: imported.append((image, node)))
    provider(fake_kind(tmp_path, "failed to detect containerd snapshotter")).load_image("rollproof/nginx:1.22.1")
    assert imported == [("rollproof/nginx:1.22.1", "web-control-plane"), ("rollproof/nginx:1.22.1", "web-worker")]


def test_another_load_failure_says_kinds_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kind, "_import_image", lambda image, node: pytest.fail("no import on another failure"))
    with pytest.raises(ProviderError) as info:
        provider(fake_kind(tmp_path, "image not present locally")).load_image("rollproof/nginx:9")
    assert "(ERROR: image not present locally)" in str(info.value) and "rollproof/nginx:9" in str(info.value)
