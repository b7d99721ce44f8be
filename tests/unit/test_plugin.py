"""The pytest plugin, driven through pytester (no cluster: the `cluster` fixture is overridden)."""

import pytest

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def _no_rollproof_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The caller's ROLLPROOF_* settings (CI sets some) must not leak into these sessions."""
    import os

    for name in list(os.environ):
        if name.startswith("ROLLPROOF_"):
            monkeypatch.delenv(name)

CLUSTER_OVERRIDE = """
import pytest
from pathlib import Path
from harness.cluster.model import Cluster

@pytest.fixture(scope="session")
def cluster():
    return Cluster(name="fake", provider="existing", kubeconfig=Path("/nonexistent"), context=None,
                   git_version="v1.34.4", major=1, minor=34)
"""


def test_options_are_in_their_own_group(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["rollproof: rolling-update conformance on real clusters:",
                                 "*--cluster-provider*", "*--nodes*", "*--report-dir*"])


def test_markers_are_registered_with_an_example(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["*k8s_version(spec)*@pytest.mark.k8s_version('>=1.16')*"])


def test_header_names_cluster_and_report_dir(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing():\n    assert True\n")
    result = pytester.runpytest("--nodes", "3", "--report-dir", "out")
    result.stdout.fnmatch_lines(["rollproof: kind cluster 'rollproof' (3 nodes); reports in out/*"])
    assert result.ret == 0


def test_bad_setting_is_a_one_line_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--nodes", "2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*option --nodes: '2' is not a valid nodes (expected 1 or 3)*"])


def test_version_marker_skips_with_the_reason(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CLUSTER_OVERRIDE)
    pytester.makepyfile("""
        import pytest

        @pytest.mark.k8s_version("<1.16")
        def test_old_only():
            assert False, "must not run on 1.34"

        @pytest.mark.k8s_version(">=1.16")
        def test_new_enough():
            assert True
    """)
    result = pytester.runpytest("-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*needs Kubernetes <1.16; cluster runs v1.34.4*"])


def test_fixtures_are_documented(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = pytester.runpytest("--fixtures")
    result.stdout.fnmatch_lines(["cluster [[]session scope[]]*", "*a kind cluster created (or reused) once*",
                                 "namespace*", "probed_service*"])
