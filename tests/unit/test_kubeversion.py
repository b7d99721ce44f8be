"""The one Kubernetes version parser: what it reads, and the one line it says otherwise."""

from __future__ import annotations

import pytest

from harness.errors import ConfigError
from harness.kubeversion import KubeVersion, parse_version, release


@pytest.mark.parametrize(
    ("text", "version"),
    [
        ("1.34", KubeVersion(1, 34)),
        ("v1.34", KubeVersion(1, 34)),
        (" v1.9 ", KubeVersion(1, 9)),
        ("v1.29.2", KubeVersion(1, 29, 2)),
        ("1.30.0-rc.1+k3s1", KubeVersion(1, 30, 0, "-rc.1+k3s1")),
        ("v1.34.2-eks-1", KubeVersion(1, 34, 2, "-eks-1")),
    ],
)
def test_reads_minor_patch_and_suffix(text: str, version: KubeVersion) -> None:
    parsed = parse_version(text)
    assert parsed == version
    assert parsed.release == (version.major, version.minor) == release(text)


def test_writes_itself_back_as_given() -> None:
    assert str(parse_version("v1.30.0-rc.1")) == "1.30.0-rc.1"
    assert parse_version("1.34.4").tag == "v1.34.4"
    assert parse_version("1.34").tag == "v1.34"


@pytest.mark.parametrize("bad", ["stable", "1", "1.", "1.34.", "1.34.x", "1.34-rc.1", "1.34.4.5", "~1.34", ""])
def test_anything_else_is_one_line_saying_what_to_write(bad: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_version(bad)
    assert str(info.value) == (
        f"{bad!r} is not a Kubernetes version: write MAJOR.MINOR or vMAJOR.MINOR.PATCH, e.g. 1.34 or v1.34.4"
    )


def test_the_error_names_what_was_read() -> None:
    with pytest.raises(ConfigError, match=r"^'x' is not a CoreDNS version: "):
        parse_version("x", "CoreDNS version")


def test_release_takes_text_a_pair_or_a_version() -> None:
    assert release("v1.34.4") == release((1, 34)) == release(KubeVersion(1, 34, 4)) == (1, 34)


@pytest.mark.parametrize(
    ("git_version", "major", "minor", "expected"),
    [
        ("v1.34.4", 1, 34, KubeVersion(1, 34, 4)),
        ("v1.30.2+k3s1", 1, 30, KubeVersion(1, 30, 2, "+k3s1")),
        ("", 1, 31, KubeVersion(1, 31)),  # no gitVersion: major and minor as /version gave them
        ("custom-build", 1, 33, KubeVersion(1, 33)),
        ("v1.33.1", 1, 34, KubeVersion(1, 34)),  # gitVersion disagrees with major/minor: those win
    ],
)
def test_a_clusters_server_version(git_version: str, major: int, minor: int, expected: KubeVersion) -> None:
    from pathlib import Path

    from harness.cluster.model import Cluster

    cluster = Cluster("c", "existing", Path("/k"), None, git_version, major, minor)
    assert cluster.server_version == expected
