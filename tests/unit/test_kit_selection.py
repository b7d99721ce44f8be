"""Which kit build a run uses: --kit-manifest, --kit-version, or the last build."""

import json

import pytest

from harness.errors import ConfigError
from harness.kit.versions import DEFAULT_KIT_VERSION, SUPPORTED_MINORS, kit_versions
from harness.session import kit_manifest
from harness.settings import resolve_settings


def settings(**env):
    return resolve_settings(lambda name: None, lambda name: None, env)


def write_manifest(path, kubernetes):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "kubernetes": kubernetes,
                "kind_version": "v0.30.0",
                "kind_bin": "/k/kind",
                "kubectl_bin": "/k/kubectl",
                "node_image": f"rollproof/node:{kubernetes}",
                "prober_image": "rollproof/prober:v1",
                "built_at": 0.0,
                "app_images": [
                    {"tag": "rollproof/nginx:1.22.1", "server": "nginx/1.22.1", "role": "old"},
                    {"tag": "rollproof/nginx:1.26.3", "server": "nginx/1.26.3", "role": "new"},
                ],
            }
        )
    )


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ROLLPROOF_CACHE", str(tmp_path))
    write_manifest(tmp_path / "kit/manifest-1.34.json", "v1.34.4")
    write_manifest(tmp_path / "kit/manifest-1.35.json", "v1.35.4")
    write_manifest(tmp_path / "kit/manifest.json", "v1.35.4")
    return tmp_path


def test_kit_version_picks_that_minors_build(cache) -> None:
    assert kit_manifest(settings(ROLLPROOF_KIT_VERSION="1.34")).node_image == "rollproof/node:v1.34.4"
    assert kit_manifest(settings(ROLLPROOF_K8S_VERSION="1.34")).node_image == "rollproof/node:v1.34.4"  # old name
    assert kit_manifest(settings()).node_image == "rollproof/node:v1.35.4"


def test_an_explicit_manifest_wins(cache) -> None:
    chosen = settings(ROLLPROOF_KIT_MANIFEST=str(cache / "kit/manifest-1.34.json"), ROLLPROOF_KIT_VERSION="1.35")
    assert kit_manifest(chosen).kubernetes == "v1.34.4"


def test_a_minor_not_built_says_how_to_build_it(cache) -> None:
    (cache / "kit/manifest-1.35.json").unlink()
    with pytest.raises(ConfigError, match=r"run `rollproof kit build --kit-version 1.35`"):
        kit_manifest(settings(ROLLPROOF_KIT_VERSION="1.35"))


def test_a_minor_the_kit_cannot_build_lists_those_it_can(cache) -> None:
    known = ", ".join(f"1.{m}" for m in SUPPORTED_MINORS)
    with pytest.raises(ConfigError, match=f"^environment ROLLPROOF_KIT_VERSION '1.30': the kit builds {known}; pass"):
        kit_manifest(settings(ROLLPROOF_KIT_VERSION="1.30"))


def test_a_missing_manifest_file_is_an_error(cache) -> None:
    with pytest.raises(ConfigError, match="not a kit manifest"):
        kit_manifest(settings(ROLLPROOF_KIT_MANIFEST=str(cache / "nope.json")))


def test_every_pinned_minor_resolves_to_its_own_release() -> None:
    for minor in SUPPORTED_MINORS:
        v = kit_versions(f"1.{minor}")
        assert (
            v.minor == minor
            and v.kubernetes.startswith(f"v1.{minor}.")
            and v.staging == f"v0.{minor}." + v.kubernetes.split(".")[2]
        )


# `rollproof kit build`: which minor it builds (--kit-version > ROLLPROOF_KIT_VERSION > the one default)


@pytest.mark.parametrize(
    ("argv", "env", "called"),
    [
        ([], {}, (DEFAULT_KIT_VERSION, "default")),
        ([], {"ROLLPROOF_KIT_VERSION": "1.35"}, ("1.35", "environment ROLLPROOF_KIT_VERSION")),
        ([], {"ROLLPROOF_K8S_VERSION": "1.35"}, ("1.35", "environment ROLLPROOF_K8S_VERSION")),
        (["--kit-version", "1.37"], {"ROLLPROOF_KIT_VERSION": "1.35"}, ("1.37", "option --kit-version")),
        (["--k8s-version", "1.36"], {"ROLLPROOF_KIT_VERSION": "1.35"}, ("1.36", "option --k8s-version")),
    ],
)
def test_kit_build_takes_the_option_then_the_environment_then_the_default(
    argv, env, called, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from harness import cli
    from harness.kit import build

    for name in ("ROLLPROOF_KIT_VERSION", "ROLLPROOF_K8S_VERSION"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    calls = []
    manifest = build.KitManifest("v1", "v0", "/k", "/c", "n", (), "p", 0.0)
    monkeypatch.setattr(build, "build_kit", lambda *args: calls.append(args) or manifest)
    assert cli.main(["kit", "build", *argv]) == 0
    assert calls == [called]
    assert json.loads(capsys.readouterr().out)["node_image"] == "n"


def test_kit_build_refuses_a_minor_it_cannot_build_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    from harness import cli

    known = ", ".join(f"1.{m}" for m in SUPPORTED_MINORS)
    assert cli.main(["kit", "build", "--kit-version", "1.99"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"rollproof: error: option --kit-version '1.99': the kit builds {known}; pass one of those"
    ]


def test_the_default_minor_is_one_the_kit_builds_and_is_written_nowhere_else() -> None:
    import re
    from pathlib import Path

    assert kit_versions(DEFAULT_KIT_VERSION).minor in SUPPORTED_MINORS
    root = Path(__file__).resolve().parents[2]
    tox = (root / "tox.ini").read_text()
    kit_build = [line for line in tox.splitlines() if "rollproof kit build" in line]
    assert kit_build and not any(re.search(r"\d+\.\d+", line) for line in kit_build)


# the session's kit build: its manifest read once, however many parts of the session ask


def test_a_session_reads_the_kit_manifest_once(cache, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness import session

    reads = []
    real = session.load_manifest
    monkeypatch.setattr(session, "load_manifest", lambda path=None: reads.append(path) or real(path))
    chosen = settings(ROLLPROOF_KIT_VERSION="1.34", ROLLPROOF_REPORT_DIR=str(tmp_path / "reports"))
    kit = session.SessionKit(chosen)
    session.check_settings(chosen, lambda name, default=None: default, kit)
    images = session.resolve_app_images(chosen, kit.manifest())
    assert kit.describe() == "kit_version v1.34.4 (environment ROLLPROOF_KIT_VERSION)"
    assert images["old"].image == "rollproof/nginx:1.22.1"
    assert reads == [cache / "kit/manifest-1.34.json"]


def test_the_kit_line_says_which_build_and_why(cache, tmp_path) -> None:
    from harness.session import SessionKit

    assert SessionKit(settings()).describe() == "kit_version v1.35.4 (the last kit build)"
    chosen = settings(ROLLPROOF_KIT_MANIFEST=str(cache / "kit/manifest-1.34.json"))
    assert SessionKit(chosen).describe() == f"kit_version v1.34.4 (--kit-manifest {cache / 'kit/manifest-1.34.json'})"
    (cache / "kit/manifest.json").unlink()
    assert SessionKit(settings()).describe() == "kit_version none (no kit built: `rollproof kit build`)"
    existing = settings(ROLLPROOF_CLUSTER_PROVIDER="existing", ROLLPROOF_OLD_IMAGE="a=a/1", ROLLPROOF_NEW_IMAGE="b=b/2")
    kit = SessionKit(existing)
    assert kit.describe() == "kit_version none (an existing cluster, both images given)"
    assert kit.used_version() is None


def test_kubeadm_is_told_the_etcd_the_kit_runs_where_its_own_is_not_served() -> None:
    import yaml

    from harness.cluster.kindconfig import KindConfig
    from harness.kit.versions import kit_versions

    assert kit_versions("1.31").kubernetes == "v1.31.4" and kit_versions("1.31").etcd_override == "3.5.24-0"
    assert kit_versions("1.32").etcd_override == "3.5.24-0"
    assert kit_versions("1.34").etcd_override is None  # the etcd its kubeadm asks for
    config = yaml.safe_load(KindConfig(etcd_image_tag="3.5.24-0").render())
    patch = yaml.safe_load(config["kubeadmConfigPatches"][0])
    assert patch == {"kind": "ClusterConfiguration", "etcd": {"local": {"imageTag": "3.5.24-0"}}}
    assert "kubeadmConfigPatches" not in yaml.safe_load(KindConfig().render())


def test_the_node_image_names_etcd_by_the_version_it_runs() -> None:
    from harness.kit.nodeimage import _with_etcd_override
    from harness.kit.versions import kit_versions

    old, current = kit_versions("1.32"), kit_versions("1.34")
    assert _with_etcd_override("registry.k8s.io/etcd:3.5.16-0", old) == "registry.k8s.io/etcd:3.5.24-0"
    assert _with_etcd_override("registry.k8s.io/pause:3.10", old) == "registry.k8s.io/pause:3.10"
    assert _with_etcd_override("registry.k8s.io/etcd:3.6.5-0", current) == "registry.k8s.io/etcd:3.6.5-0"
