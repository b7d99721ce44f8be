"""Repository root: the rollproof plugin is loaded through its pytest11 entry point.

When the package is not installed (a bare checkout on sys.path), load it here.
"""

from importlib.metadata import PackageNotFoundError, distribution

try:
    distribution("rollproof")
except PackageNotFoundError:  # pragma: no cover - only without `pip install -e .`
    pytest_plugins = ["harness.plugin"]
