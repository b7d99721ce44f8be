"""The package layers hold: each folder imports only what its docstring allows, pure modules load no client."""

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


def _qualified(path: Path) -> set[str]:
    """Every name `path` imports, module-qualified (`from harness import samples` is `harness.samples`)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0:
                module = node.module or ""
            else:
                package = path.relative_to(HARNESS.parent).with_suffix("").parts[: -node.level]
                module = ".".join([*package, node.module or ""]).rstrip(".")
            names.update(f"{module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


SHARED = (
    "harness.errors",
    "harness.kubeversion",
    "harness.owner",
    "harness.poll",
    "harness.rolloutsteps",
    "harness.rundir",
    "harness.samples",
    "harness.timeouts",
)
"""The top-level modules every folder may use (harness/__init__.py): they import only each other."""

CLIENT = ("kubernetes", "yaml")

MAY_IMPORT = {
    "kube": (
        *CLIENT,
        "requests",
        "urllib3",
        "harness.__version__",
        "harness.errors",
        "harness.kubeversion",
        "harness.poll",
        "harness.rundir",
        "harness.samples",
        "harness.rolloutsteps",
        "harness.timeouts",
    ),
    "rollout": (
        *CLIENT,
        "harness.kube",
        "harness.errors",
        "harness.poll",
        "harness.samples",
        "harness.rolloutsteps",
        "harness.timeouts",
    ),
    "cluster": (
        *CLIENT,
        "harness.kube",
        "harness.errors",
        "harness.kubeversion",
        "harness.poll",
        "harness.rundir",
        "harness.timeouts",
    ),
    "kit": ("harness.errors", "harness.kubeversion", "harness.poll"),
    "rollout/rcupdate/plan.py": ("yaml", "harness.errors", "harness.rollout.rcupdate.checks"),
    "rollout/rcupdate/checks.py": ("yaml", "harness.errors", "harness.rollout.rcupdate.plan"),
}
"""What each folder (and file) may import besides the standard library and its own folder, as its
`__init__.py` docstring says."""


def _outside(path: Path, allowed: tuple[str, ...]) -> set[str]:
    """What `path` imports beyond the standard library, its own module and `allowed`."""
    own = "harness." + ".".join(path.relative_to(HARNESS).with_suffix("").parts)
    return {
        name
        for name in _qualified(path)
        if name.split(".")[0] not in sys.stdlib_module_names | {"__future__"}
        and not any(name == a or name.startswith(a + ".") for a in (own, *allowed))
    }


def test_each_folder_imports_only_what_its_docstring_allows() -> None:
    for where, allowed in MAY_IMPORT.items():
        target = HARNESS / where
        if target.suffix == ".py":
            paths, own = [target], ()
        else:
            paths, own = sorted(target.rglob("*.py")), ("harness." + where.replace("/", "."),)
        for path in paths:
            found = _outside(path, (*own, *allowed))
            assert found == set(), f"{path.relative_to(HARNESS)} imports {sorted(found)}"


def test_the_shared_modules_import_only_each_other() -> None:
    for module in SHARED:
        path = HARNESS / (module.split(".", 1)[1] + ".py")
        found = _outside(path, SHARED)
        assert found == set(), f"{path.relative_to(HARNESS)} imports {sorted(found)}"


def test_every_folder_has_its_rule() -> None:
    folders = {p.parent.name for p in HARNESS.glob("*/__init__.py")}
    assert folders == {where for where in MAY_IMPORT if "/" not in where}, "a new folder needs its MAY_IMPORT entry"


def test_only_the_plugin_imports_pytest() -> None:
    importers = sorted(
        str(path.relative_to(HARNESS))
        for path in HARNESS.rglob("*.py")
        if any(name == "pytest" or name.startswith("pytest.") for name in _qualified(path))
    )
    assert importers == ["plugin.py"]
