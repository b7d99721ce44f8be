"""Container images made from Debian packages with debootstrap, then `docker import`."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .docker import build_image, image_key, import_tar
from .paths import cache_root
from .stages import Stamp, input_hash, run, say, stage

__all__ = ["DebianImage", "build_debian_image", "debian_file", "debian_mirror"]


def debian_mirror() -> str:
    return os.environ.get("ROLLPROOF_DEBIAN_MIRROR", "http://deb.debian.org/debian")


@dataclass(frozen=True)
class DebianImage:
    """An image whose root filesystem is `debootstrap --variant=minbase SUITE` plus packages."""

    tag: str
    suite: str
    packages: tuple[str, ...]
    changes: tuple[str, ...] = ()  # what `docker import --change` accepts (CMD, ENV, EXPOSE, ...)
    dockerfile: tuple[str, ...] = ()  # further instructions import refuses (STOPSIGNAL, ...)
    customize: Callable[[Path], None] | None = None
    customize_inputs: tuple[object, ...] = ()  # what `customize` depends on, for the cache key

    def key(self) -> str:
        return input_hash(
            "debian-image/1", self.suite, self.packages, self.changes, self.dockerfile, *self.customize_inputs
        )


_TRIM = (
    "var/cache/apt/archives",
    "var/lib/apt/lists",
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
)


def _trim(root: Path) -> None:
    for rel in _TRIM:
        target = root / rel
        if target.is_dir():
            for child in target.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                elif child.name != "lock":
                    child.unlink()


def build_debian_image(image: DebianImage) -> str:
    """Build `image` unless an image with the same inputs is already tagged; returns the tag."""
    key = image.key()
    if image_key(image.tag) == key:
        say(f"image {image.tag}: cached")
        return image.tag
    with stage(f"image {image.tag} (debootstrap {image.suite}: {' '.join(image.packages)})"):
        work = cache_root() / "tmp"
        work.mkdir(parents=True, exist_ok=True)
        root = Path(tempfile.mkdtemp(prefix="rootfs-", dir=work))
        try:
            run(
                [
                    "debootstrap",
                    "--variant=minbase",
                    f"--include={','.join(image.packages)}",
                    image.suite,
                    str(root),
                    debian_mirror(),
                ],
                what=f"debootstrap {image.suite} for {image.tag}",
                fix="check that Debian's package mirror is reachable and the disk has 2 GB free",
            )
            _trim(root)
            if image.customize is not None:
                image.customize(root)
            # Until the last step is done the label says "partial", so a rerun rebuilds.
            last_key = key if not image.dockerfile else f"partial-{key}"
            import_tar(
                ["tar", "--numeric-owner", "--xattrs", "-C", str(root), "-c", "."],
                None,
                image.tag,
                last_key,
                image.changes,
            )
        finally:
            shutil.rmtree(root, ignore_errors=True)
        if image.dockerfile:
            with tempfile.TemporaryDirectory(dir=work) as context:
                Path(context, "Dockerfile").write_text("\n".join((f"FROM {image.tag}", *image.dockerfile)) + "\n")
                build_image(Path(context), image.tag, key)
    return image.tag


def debian_file(image: DebianImage, path: str, dest: Path) -> Path:
    """The file at `path` in `image` (a static binary from a Debian package), copied to `dest` once per image key."""
    stamp = Stamp(dest.with_name(dest.name + ".key"), input_hash(image.key(), path))
    if dest.exists() and stamp.done():
        return dest
    build_debian_image(image)
    with stage(f"copy {path} out of {image.tag}"):
        # `docker create` only writes the container's configuration: nothing runs.
        container = run(["docker", "create", image.tag, path], what=f"docker create {image.tag}").split()[-1]
        tmp = dest.with_name(dest.name + ".partial")
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            run(["docker", "cp", "-L", f"{container}:{path}", str(tmp)], what=f"docker cp {path} from {image.tag}")
        finally:
            subprocess.run(["docker", "rm", container], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.replace(tmp, dest)
        stamp.mark()
    return dest
