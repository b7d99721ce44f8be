"""Library tests against a live cluster: the session's cluster from the rollproof plugin.

These modules find the cluster through ROLLPROOF_KUBECONFIG; in a pytest session
that has a `cluster` (kind, or --cluster-provider existing) it is set from it,
so they run (never skip) wherever the suites run.
"""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def _rollproof_kubeconfig(cluster):
    before = os.environ.get("ROLLPROOF_KUBECONFIG")
    os.environ["ROLLPROOF_KUBECONFIG"] = str(cluster.kubeconfig)
    yield
    if before is None:
        os.environ.pop("ROLLPROOF_KUBECONFIG", None)
    else:
        os.environ["ROLLPROOF_KUBECONFIG"] = before


def pytest_collection_modifyitems(items):
    for item in items:
        item.add_marker(pytest.mark.cluster)
