from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.settings import resolve_settings


def resolve(options=None, ini=None, env=None):
    """Settings from options (by dest, as pytest stores them), ini keys and an environment."""
    options, ini = options or {}, ini or {}
    return resolve_settings(lambda dest: options.get(dest), lambda key: ini.get(key), env or {})


def test_defaults_when_nothing_is_given() -> None:
    s = resolve()
    assert (s.provider, s.cluster_name, s.nodes, s.report_dir, s.timeout_scale) == (
        "kind",
        "rollproof",
        1,
        Path("reports"),
        1.0,
    )
    assert s.source("nodes") == "default"


def test_option_beats_environment_beats_ini() -> None:
    s = resolve({"rollproof_nodes": "3"}, {"rollproof_nodes": "1"}, {"ROLLPROOF_NODES": "1"})
    assert s.nodes == 3 and s.source("nodes") == "option --nodes"
    s = resolve({}, {"rollproof_nodes": "1"}, {"ROLLPROOF_NODES": "3"})
    assert s.nodes == 3 and s.source("nodes") == "environment ROLLPROOF_NODES"
    s = resolve({}, {"rollproof_report_dir": "out"}, {})
    assert s.report_dir == Path("out") and s.source("report_dir") == "ini rollproof_report_dir"


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"ROLLPROOF_NODES": "2"}, "environment ROLLPROOF_NODES: '2' is not a valid nodes (expected 1 or 3)"),
        ({"ROLLPROOF_CLUSTER_PROVIDER": "minikube"}, "expected kind or existing"),
        ({"ROLLPROOF_TIMEOUT_SCALE": "-1"}, "not a valid timeout_scale"),
        ({"ROLLPROOF_KEEP_NAMESPACES": "maybe"}, "not a valid keep_namespaces"),
    ],
)
def test_invalid_values_name_their_source(env, fragment) -> None:
    with pytest.raises(ConfigError, match=None) as caught:
        resolve(env=env)
    assert fragment in str(caught.value)


# pytest-kind's --cluster-name and --keep-cluster: the same precedence, pytest-kind's defaults mean "not given"

PYTEST_KIND_DEFAULTS = {"cluster_name": "pytest-kind", "keep_cluster": False}


def test_pytest_kind_defaults_are_not_given() -> None:
    s = resolve(PYTEST_KIND_DEFAULTS)
    assert (s.cluster_name, s.source("cluster_name")) == ("rollproof", "default")
    assert (s.keep_cluster, s.source("keep_cluster")) == (False, "default")


@pytest.mark.parametrize(
    ("options", "ini", "env", "name", "source"),
    [
        (
            {"cluster_name": "a"},
            {"rollproof_cluster_name": "c"},
            {"ROLLPROOF_CLUSTER_NAME": "b"},
            "a",
            "option --cluster-name",
        ),
        (
            {"rollproof_cluster_name": "a"},
            {},
            {"ROLLPROOF_CLUSTER_NAME": "b"},
            "a",
            "option --rollproof-cluster-name",
        ),
        ({"cluster_name": "a", "rollproof_cluster_name": "a"}, {}, {}, "a", "option --rollproof-cluster-name"),
        (
            {},
            {"rollproof_cluster_name": "c"},
            {"ROLLPROOF_CLUSTER_NAME": "b"},
            "b",
            "environment ROLLPROOF_CLUSTER_NAME",
        ),
        ({}, {"rollproof_cluster_name": "c"}, {}, "c", "ini rollproof_cluster_name"),
    ],
)
def test_cluster_name_option_beats_environment_beats_ini(options, ini, env, name, source) -> None:
    s = resolve({**PYTEST_KIND_DEFAULTS, **options}, ini, env)
    assert (s.cluster_name, s.source("cluster_name")) == (name, source)


def test_two_cluster_name_options_that_disagree_are_one_line() -> None:
    with pytest.raises(ConfigError) as info:
        resolve({"rollproof_cluster_name": "a", "cluster_name": "b"})
    assert str(info.value) == (
        "option --rollproof-cluster-name 'a' and option --cluster-name 'b' disagree: give cluster_name once"
    )


@pytest.mark.parametrize(
    ("options", "ini", "env", "keep", "source"),
    [
        (
            {"keep_cluster": True},
            {"rollproof_keep_cluster": "false"},
            {"ROLLPROOF_KEEP_CLUSTER": "0"},
            True,
            "option --keep-cluster",
        ),
        (
            {},
            {"rollproof_keep_cluster": "false"},
            {"ROLLPROOF_KEEP_CLUSTER": "yes"},
            True,
            "environment ROLLPROOF_KEEP_CLUSTER",
        ),
        (
            {},
            {"rollproof_keep_cluster": "true"},
            {"ROLLPROOF_KEEP_CLUSTER": "no"},
            False,
            "environment ROLLPROOF_KEEP_CLUSTER",
        ),
        ({}, {"rollproof_keep_cluster": "true"}, {}, True, "ini rollproof_keep_cluster"),
    ],
)
def test_keep_cluster_option_beats_environment_beats_ini(options, ini, env, keep, source) -> None:
    s = resolve({**PYTEST_KIND_DEFAULTS, **options}, ini, env)
    assert (s.keep_cluster, s.source("keep_cluster")) == (keep, source)


def test_keep_cluster_from_the_environment_must_be_a_yes_or_no() -> None:
    with pytest.raises(ConfigError, match=r"^environment ROLLPROOF_KEEP_CLUSTER: 'maybe' is not a valid keep_cluster"):
        resolve(env={"ROLLPROOF_KEEP_CLUSTER": "maybe"})


# kit_version: its old names (--k8s-version, ROLLPROOF_K8S_VERSION, rollproof_k8s_version) still set it


@pytest.mark.parametrize(
    ("options", "ini", "env", "source"),
    [
        ({"rollproof_kit_version": "1.35"}, {}, {"ROLLPROOF_K8S_VERSION": "1.34"}, "option --kit-version"),
        ({"rollproof_k8s_version": "1.35"}, {}, {"ROLLPROOF_KIT_VERSION": "1.34"}, "option --k8s-version"),
        ({}, {"rollproof_kit_version": "1.34"}, {"ROLLPROOF_K8S_VERSION": "1.35"}, "environment ROLLPROOF_K8S_VERSION"),
        ({}, {"rollproof_k8s_version": "1.35"}, {}, "ini rollproof_k8s_version"),
    ],
)
def test_kit_version_is_read_under_its_old_names_too(options, ini, env, source) -> None:
    s = resolve(options, ini, env)
    assert (s.kit_version, s.source("kit_version")) == ("1.35", source)


def test_old_and_new_kit_version_names_that_disagree_are_one_line() -> None:
    with pytest.raises(ConfigError) as info:
        resolve(env={"ROLLPROOF_KIT_VERSION": "1.35", "ROLLPROOF_K8S_VERSION": "1.34"})
    assert str(info.value) == (
        "environment ROLLPROOF_KIT_VERSION '1.35' and environment ROLLPROOF_K8S_VERSION '1.34' disagree: "
        "give kit_version once"
    )


def test_scaled_timeouts_stretch_waits_and_the_progress_deadline_not_periods() -> None:
    from harness.timeouts import DEFAULT_TIMEOUTS

    slow = DEFAULT_TIMEOUTS.scaled(2.5)
    assert slow.rollout == DEFAULT_TIMEOUTS.rollout * 2.5
    assert slow.rollout_progress_deadline == 25 and isinstance(slow.rollout_progress_deadline, int)
    assert (slow.poll_interval, slow.rc_update_period) == (
        DEFAULT_TIMEOUTS.poll_interval,
        DEFAULT_TIMEOUTS.rc_update_period,
    )
    assert DEFAULT_TIMEOUTS.scaled(0.01).rollout_progress_deadline == 1
