"""The package layers hold: pure modules load no client, `harness.kube` never imports the rollout layer."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

HARNESS = Path(__file__).resolve().parents[2] / "harness"

PURE = (
    "harness.kube.patches",
    "harness.manifests",
    "harness.poll",
    "harness.rollout.history",
    "harness.rollout.status",
    "harness.rollout.pods",
    "harness.rollout.podlives",
    "harness.rollout.rcupdate.plan",
)


def test_pure_modules_load_no_client_and_no_engine() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {PURE!r}:\n"
        "    importlib.import_module(name)\n"
        "heavy = ('kubernetes', 'requests', 'urllib3', 'harness.rollout.deployments', 'harness.kube.config')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=HARNESS.parent)
    assert out.stdout.strip() == "[]"


def _imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = "harness." * (node.level > 0) + (node.module or "")
            names.add(base)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_kube_talks_to_the_api_server_only() -> None:
    for path in sorted((HARNESS / "kube").glob("*.py")):
        above = {name for name in _imported(path) if name.startswith(("harness.rollout", "rollout"))}
        assert above == set(), f"{path.name} imports the rollout layer: {above}"
