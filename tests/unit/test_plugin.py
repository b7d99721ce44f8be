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
    result.stdout.fnmatch_lines(
        [
            "rollproof: rolling-update conformance on real clusters:",
            "*--cluster-provider*",
            "*--nodes*",
            "*--report-dir*",
        ]
    )


def test_markers_are_registered_with_an_example(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(
        ["*server_version(spec)*@pytest.mark.server_version('>=1.16')*", "*k8s_version(spec): old name of*"]
    )


def test_header_names_cluster_and_report_dir(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing():\n    assert True\n")
    result = pytester.runpytest("--nodes", "3", "--report-dir", "out")
    result.stdout.fnmatch_lines(["rollproof: kind cluster 'rollproof' (3 nodes); reports in out/*"])
    assert result.ret == 0


def test_header_names_the_kit_build_and_when_the_server_version_is_known(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.unit.test_kit_selection import write_manifest

    monkeypatch.setenv("ROLLPROOF_CACHE", str(pytester.path / "cache"))
    pytester.makepyfile("def test_nothing():\n    assert True\n")
    pytester.runpytest().stdout.fnmatch_lines(
        ["rollproof: kit_version none (no kit built: `rollproof kit build`); server_version: *once the cluster is up"]
    )
    write_manifest(pytester.path / "cache/kit/manifest-1.35.json", "v1.35.4")
    result = pytester.runpytest("--kit-version", "1.35")
    result.stdout.fnmatch_lines(["rollproof: kit_version v1.35.4 (option --kit-version); server_version: *"])
    assert result.ret == 0


def test_bad_setting_is_a_one_line_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--nodes", "2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*option --nodes: '2' is not a valid nodes (expected 1 or 3)*"])


@pytest.mark.parametrize("marker", ["server_version", "k8s_version"])
def test_version_marker_skips_with_the_reason(pytester: pytest.Pytester, marker: str) -> None:
    pytester.makeconftest(CLUSTER_OVERRIDE)
    pytester.makepyfile(f"""
        import pytest

        @pytest.mark.{marker}("<1.16")
        def test_old_only():
            assert False, "must not run on 1.34"

        @pytest.mark.{marker}(">=1.16")
        def test_new_enough():
            assert True
    """)
    result = pytester.runpytest("-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*needs Kubernetes <1.16; cluster runs v1.34.4*"])


def test_server_version_is_what_the_cluster_answered(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CLUSTER_OVERRIDE)
    pytester.makepyfile("""
        from harness.expectations import expected
        from harness.kubeversion import KubeVersion

        def test_it(server_version):
            assert server_version == KubeVersion(1, 34, 4) and server_version.release == (1, 34)
            assert expected("rollback-apps-v1beta1", server_version).status == 404
    """)
    pytester.runpytest().assert_outcomes(passed=1)


def test_fixtures_are_documented(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = pytester.runpytest("--fixtures")
    result.stdout.fnmatch_lines(
        ["cluster [[]session scope[]]*", "*a kind cluster created (or reused) once*", "namespace*", "probed_service*"]
    )


SCENARIO_WITH_A_RUN = """
from harness.analysis import Phase, analyse
from harness.assertions import assert_verdicts
from harness.samples import ProbeRun, ProbeSample

def samples(n, start=0.0):
    return tuple(ProbeSample(start + i * 0.01, start + i * 0.01 + 0.001, 200, None,
                             "old" if i < n // 2 else "new") for i in range(n))

def judge(record, stop_reason="stopped", lost=0, stopped_at=None):
    data = samples(1000, record.t0)
    run = ProbeRun("new-connection", "host 127.0.0.1:1", 0.01, data[0].start,
                   stopped_at if stopped_at is not None else data[-1].end + 0.01, stop_reason, data,
                   requests=len(data) + lost, lost=lost)
    a = analyse(run, phases=[Phase("roll", record.t0 + 1.0, record.t0 + 7.0, ("old", "new"))],
                window=(data[0].start, record.t0 + 9.0), origin=record.t0)
    record.probes.append(a)
    assert_verdicts([a])

def test_whole(record):
    '''a whole run'''
    judge(record)

def test_stopped_early(record):
    '''the sampler stopped by itself'''
    judge(record, stop_reason="max-duration", stopped_at=record.t0 + 6.0)

def test_lost_lines(record):
    '''the pod prober lost lines'''
    judge(record, lost=4)
"""


def test_a_scenario_whose_evidence_is_incomplete_fails_with_the_reason(pytester: pytest.Pytester) -> None:
    import json

    pytester.makepyfile(SCENARIO_WITH_A_RUN)
    result = pytester.runpytest_subprocess("--report-dir", "out", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*evidence incomplete: the sampler ended by itself at +6.000s (max-duration)*",
            "*evidence incomplete: 4 sample(s) the sampler took never reached the harness*",
        ]
    )
    reports = {
        p.name: json.loads(p.read_text())
        for p in (pytester.path / "out").glob("*.json")
        if p.name.startswith("test_a_scenario")
    }
    by_test = {r["nodeid"].rsplit("::", 1)[-1]: r for r in reports.values()}
    assert by_test["test_whole"]["probes"]["new-connection"]["passed"] is True
    early = by_test["test_stopped_early"]["probes"]["new-connection"]
    assert (early["passed"], early["complete"], early["coverage"]["stop_reason"]) == (False, False, "max-duration")
    assert by_test["test_lost_lines"]["probes"]["new-connection"]["coverage"]["samples_lost"] == 4
    assert by_test["test_stopped_early"]["outcome"] == "failed"


CLUSTER_RECORDED = (
    CLUSTER_OVERRIDE.replace(
        "def cluster():\n    return Cluster(",
        "def cluster(pytestconfig):\n    from harness import plugin\n\n"
        "    pytestconfig.stash[plugin._cluster_key] = c = Cluster(",
    )
    + "    return c\n"
)


def test_reports_name_the_kit_and_the_server_version(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The JSON report, summary.json, the JUnit properties and the terminal summary carry both versions."""
    import json
    import xml.etree.ElementTree as ET

    from tests.unit.test_kit_selection import write_manifest

    monkeypatch.setenv("ROLLPROOF_CACHE", str(pytester.path / "cache"))
    write_manifest(pytester.path / "cache/kit/manifest-1.35.json", "v1.35.4")
    pytester.makeconftest(CLUSTER_RECORDED)
    pytester.makepyfile('def test_one(cluster, record):\n    """one scenario"""\n')
    result = pytester.runpytest("--kit-version", "1.35", "--report-dir", "out", "--junitxml", "junit.xml")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["kit_version v1.35.4; server_version v1.34.4"])
    (path,) = (pytester.path / "out").glob("test_reports_name*.json")
    report = json.loads(path.read_text())
    assert (report["format"], report["kit_version"], report["server_version"]) == (2, "v1.35.4", "v1.34.4")
    summary = json.loads((pytester.path / "out/summary.json").read_text())
    assert (summary["kit_versions"], summary["server_versions"]) == (["v1.35.4"], ["v1.34.4"])
    properties = {p.get("name"): p.get("value") for p in ET.parse(pytester.path / "junit.xml").iter("property")}
    assert (properties["kit_version"], properties["server_version"]) == ("v1.35.4", "v1.34.4")


def test_repeat_runs_each_scenario_and_writes_the_soak_summary(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(SCENARIO_WITH_A_RUN)
    result = pytester.runpytest_subprocess(
        "--repeat", "3", "--report-dir", "out", "-k", "whole", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*soak: 3 runs, 2703 requests, 0 failed*"])
    assert "| a whole run | 3 | passed 3 |" in (pytester.path / "out" / "soak.md").read_text()
    bad = pytester.runpytest("--repeat", "0")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*'0' is not a valid repeat (expected a whole number >= 1)*"])


def test_each_report_carries_its_teardown_and_the_session_s_is_apart(pytester: pytest.Pytester) -> None:
    """A test's fixtures' teardown goes into its report; the session fixtures' (torn down in the last
    test's teardown) into summary.json and the terminal, not into that test."""
    import json

    pytester.makeconftest(
        CLUSTER_OVERRIDE
        + """
import time

@pytest.fixture(scope="session")
def slow_session_end():
    yield
    time.sleep(1.0)

@pytest.fixture
def slow_own_end(slow_session_end):
    yield
    time.sleep(0.2)
"""
    )
    pytester.makepyfile(
        'def test_one(record, slow_own_end):\n    """one"""\n\ndef test_two(record, slow_own_end):\n    """two"""\n'
    )
    result = pytester.runpytest("--report-dir", "out", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*the session's own teardown: * s (on a cluster that stays, the wait for the*"])
    out = pytester.path / "out"
    own = {
        name: json.loads((out / f"test_each_report_carries_its_teardown_and_the_session_s_is_apart.py__{name}.json")
                         .read_text())["timings"]["teardown_s"]
        for name in ("test_one", "test_two")
    }  # fmt: skip
    assert all(0.2 <= t < 1.0 for t in own.values()), own  # the session's 1 s is not in it
    assert json.loads((out / "summary.json").read_text())["session_teardown_s"] >= 1.0
