"""Images whose filesystem is a few static binaries: no distribution, nothing to patch."""

from __future__ import annotations

import io
import tarfile
import tempfile
from pathlib import Path

from .docker import image_key, import_tar
from .paths import cache_root
from .stages import say, stage

__all__ = ["static_image"]


def static_image(tag: str, files: dict[str, Path], changes: tuple[str, ...], key: str) -> None:
    """An image whose filesystem is just `files` (static binaries) and an empty /tmp."""
    if image_key(tag) == key:
        say(f"image {tag}: cached")
        return
    with stage(f"image {tag}"), tempfile.NamedTemporaryFile(suffix=".tar", dir=cache_root()) as tmp:
        with tarfile.open(fileobj=tmp, mode="w") as tar:
            for name in ("tmp", "etc", "var/run"):
                info = tarfile.TarInfo(name)
                info.type = tarfile.DIRTYPE
                info.mode = 0o1777 if name == "tmp" else 0o755
                tar.addfile(info)
            passwd = b"root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n"
            info = tarfile.TarInfo("etc/passwd")
            info.size = len(passwd)
            tar.addfile(info, io.BytesIO(passwd))
            for dest, src in files.items():
                tar.add(str(src), arcname=dest.lstrip("/"))
        tmp.flush()
        import_tar(None, Path(tmp.name), tag, key, changes + ("ENV PATH=/usr/local/bin:/usr/bin:/bin",))
