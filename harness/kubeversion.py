"""Kubernetes versions: the one parser for "1.34", "v1.34.4" and "v1.30.0-rc.1+k3s1"."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Union

from .errors import ConfigError

__all__ = ["KubeVersion", "Release", "VersionLike", "parse_version", "release"]

Release = tuple[int, int]
"""(major, minor): what version-dependent behaviour is keyed by."""

_VERSION = re.compile(r"v?(\d+)\.(\d+)(?:\.(\d+)([-+][0-9A-Za-z.+-]+)?)?")


@dataclass(frozen=True)
class KubeVersion:
    """A version as written: major.minor, and the patch (with any pre-release or build suffix) when given."""

    major: int
    minor: int
    patch: int | None = None
    suffix: str = ""  # "-rc.1", "+k3s1", "-eks-1": only after a patch

    @property
    def release(self) -> Release:
        return (self.major, self.minor)

    @property
    def tag(self) -> str:
        """The form Kubernetes writes: "v1.34.4"."""
        return f"v{self}"

    def __str__(self) -> str:
        patch = "" if self.patch is None else f".{self.patch}{self.suffix}"
        return f"{self.major}.{self.minor}{patch}"


VersionLike = Union[str, Release, KubeVersion]


def parse_version(text: str, what: str = "Kubernetes version") -> KubeVersion:
    """The KubeVersion of "1.34", "v1.34.4" or "1.30.0-rc.1+k3s1"; a one-line ConfigError otherwise."""
    match = _VERSION.fullmatch(str(text).strip())
    if not match:
        raise ConfigError(f"{text!r} is not a {what}: write MAJOR.MINOR or vMAJOR.MINOR.PATCH, e.g. 1.34 or v1.34.4")
    patch = None if match[3] is None else int(match[3])
    return KubeVersion(int(match[1]), int(match[2]), patch, match[4] or "")


def release(version: VersionLike) -> Release:
    """(major, minor) of a version given as text, a KubeVersion or a (major, minor) pair."""
    if isinstance(version, KubeVersion):
        return version.release
    if isinstance(version, tuple):
        return (int(version[0]), int(version[1]))
    return parse_version(version).release
