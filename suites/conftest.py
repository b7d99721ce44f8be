"""Conformance suites: every test here runs on a real cluster.

`@pytest.mark.needs(CHECK, ...)` names rows of the expectation table
(harness/expectations.py) a scenario depends on. Where the table says a row is
not applicable on the cluster's version, the scenario records the row's reason
as its matrix cell ("not applicable: ...") and is reported as skipped with it.
"""

import pytest

from harness.expectations import not_applicable_rows


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "needs(*checks): expectation-table rows the scenario depends on, e.g. "
        "@pytest.mark.needs('daemonset-max-surge'); not applicable on versions where the table says so",
    )


def pytest_collection_modifyitems(items):
    for item in items:
        item.add_marker(pytest.mark.cluster)


@pytest.fixture(autouse=True)
def _rp_needs(request):
    """Report a scenario as not applicable (a matrix cell, with the table's reason) before it starts."""
    needed = [check for marker in request.node.iter_markers("needs") for check in marker.args]
    if not needed:
        return
    server_version = request.getfixturevalue("server_version")
    missing = not_applicable_rows(needed, server_version)
    if missing:
        record = request.getfixturevalue("record")
        for row in missing:
            record.check(row.check, f"not applicable: {row.why}")
        pytest.skip(
            f"not applicable on {server_version.tag}: " + "; ".join(f"{row.check} ({row.why})" for row in missing)
        )
