"""Talking to the Docker engine: image lookups, import, build, save."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Sequence

from ..errors import ProviderError
from .stages import run

__all__ = ["KIT_LABEL", "image_key", "import_tar", "build_image", "save_image", "remove_image"]

KIT_LABEL = "io.rollproof.kit.input"


def image_key(tag: str) -> str | None:
    """The kit input hash an image was built from, or None when absent (or not ours)."""
    proc = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{json .Config.Labels}}", tag],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    if proc.returncode != 0:
        return None
    labels = json.loads(proc.stdout or b"null") or {}
    return labels.get(KIT_LABEL)


def import_tar(
    stream_cmd: Sequence[str] | None, tar_path: Path | None, tag: str, key: str, changes: Sequence[str]
) -> None:
    """`docker import` a rootfs tarball (from a file, or the stdout of a command) as `tag`."""
    argv = ["docker", "import"]
    for change in [*changes, f"LABEL {KIT_LABEL}={key}"]:
        argv += ["--change", change]
    if tar_path is not None:
        run([*argv, str(tar_path), tag], what=f"docker import {tag}")
        return
    assert stream_cmd is not None
    producer = subprocess.Popen(list(stream_cmd), stdout=subprocess.PIPE)
    try:
        consumer = subprocess.run(
            [*argv, "-", tag], stdin=producer.stdout, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
    finally:
        assert producer.stdout is not None
        producer.stdout.close()
        producer.wait()
    if producer.returncode != 0 or consumer.returncode != 0:
        raise ProviderError(
            f"docker import {tag} failed (tar exit {producer.returncode}, import exit "
            f"{consumer.returncode}): {consumer.stdout.decode(errors='replace')[-500:]}"
        )


def build_image(context: Path, tag: str, key: str) -> None:
    """`docker build` a local context (FROM images must already exist locally)."""
    run(
        ["docker", "build", "--pull=false", "--label", f"{KIT_LABEL}={key}", "-t", tag, str(context)],
        what=f"docker build {tag}",
        env={"DOCKER_BUILDKIT": "0"},
    )


def save_image(tag: str, dest: Path) -> None:
    run(["docker", "save", "-o", str(dest), tag], what=f"docker save {tag}")


def remove_image(tag: str) -> None:
    subprocess.run(["docker", "image", "rm", "-f", tag], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
