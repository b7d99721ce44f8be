"""Conformance suites: every test here runs on a real cluster."""

import pytest


def pytest_collection_modifyitems(items):
    for item in items:
        item.add_marker(pytest.mark.cluster)
