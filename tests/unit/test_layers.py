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
            if node.level == 0:
                names.add(node.module or "")
            else:  # relative to the module's package
                package = path.relative_to(HARNESS.parent).with_suffix("").parts[: -node.level]
                names.add(".".join([*package, node.module or ""]).rstrip("."))
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


PROBES = ("harness.prober", "harness.probeloop", "harness.probing", "harness.sampler", "harness.samplestream")

NEVER = {
    "kube": ("harness.rollout", "harness.cluster", "harness.kit", *PROBES, "harness.podprober"),
    "rollout": (*PROBES, "harness.podprober", "harness.analysis", "harness.report", "harness.plugin"),
    "cluster": ("harness.rollout", "harness.kit", *PROBES, "harness.podprober", "harness.plugin"),
    "kit": ("kubernetes", "harness.kube", "harness.rollout", "harness.cluster", *PROBES, "harness.podprober"),
}


def test_each_folder_imports_only_what_its_docstring_allows() -> None:
    for folder, never in NEVER.items():
        for path in sorted((HARNESS / folder).rglob("*.py")):
            found = {name for name in _imported(path) if any(name == n or name.startswith(n + ".") for n in never)}
            assert found == set(), f"{path.relative_to(HARNESS)} imports {sorted(found)}"


def test_only_the_plugin_imports_pytest() -> None:
    importers = sorted(str(path.relative_to(HARNESS)) for path in HARNESS.rglob("*.py") if "pytest" in _imported(path))
    assert importers == ["plugin.py"]
