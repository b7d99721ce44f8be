from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.settings import resolve_settings


def resolve(options=None, ini=None, env=None):
    options, ini = options or {}, ini or {}
    return resolve_settings(lambda name: options.get(name), lambda name: ini.get(name), env or {})


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
    s = resolve({"nodes": "3"}, {"rollproof_nodes": "1"}, {"ROLLPROOF_NODES": "1"})
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
