"""Library tests against a live cluster: the session's cluster from the rollproof plugin.

They use the plugin's `cluster`, `cluster_access`, `core_api` and `namespace`
fixtures, so they run wherever the suites run (kind, or --cluster-provider existing).
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items):
    for item in items:
        item.add_marker(pytest.mark.cluster)
