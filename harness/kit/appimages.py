"""The application images the suites roll between: two real nginx versions from Debian."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..errors import ProviderError
from .rootfs import DebianImage, build_debian_image

__all__ = ["AppImage", "ACCESS_LOG_FLUSH", "NGINX_IMAGES", "PROBER_IMAGE", "build_app_images", "build_prober_image"]


@dataclass(frozen=True)
class AppImage:
    """A built application image and the `Server` header it answers with."""

    tag: str
    server: str
    role: str  # "old" or "new"


# Debian's nginx logs every request to the container's stdout, one write per request; the container
# runtime carries each line (the shim reads it, containerd writes it to the pod's log file). At the
# suites' pace (1,000 requests/s) that cost the kind node 0.2-0.4 core of this 2-core machine, taken
# from the pods a rollout starts (README finding 34). Buffered, nginx writes at most once a second.
_ACCESS_LOG = re.compile(r"^[ \t]*access_log[ \t]+/var/log/nginx/access\.log;[ \t]*$", re.M)
_BUFFERED_ACCESS_LOG = "\taccess_log /var/log/nginx/access.log combined buffer=64k flush=1s;"
ACCESS_LOG_FLUSH = 1.0
"""Seconds an access-log line may wait in nginx's buffer before it reaches the pod's log."""

_INDEX = "<!doctype html><title>rollproof</title><p>rollproof {suite} nginx</p>\n"


def _nginx_customizer(suite: str):
    def customize(root: Path) -> None:
        conf = root / "etc/nginx/nginx.conf"
        text = conf.read_text()
        # trixie ships `server_tokens off;`: the suites need the version in `Server`.
        text = re.sub(r"^\s*server_tokens\s+off;", "\tserver_tokens on;", text, flags=re.M)
        if not re.search(r"^\s*server_tokens\s+on;", text, flags=re.M):
            text = text.replace("http {", "http {\n\tserver_tokens on;", 1)
        text, found = _ACCESS_LOG.subn(_BUFFERED_ACCESS_LOG, text)
        if found != 1:
            raise ProviderError(
                f"{suite}'s /etc/nginx/nginx.conf has {found} `access_log /var/log/nginx/access.log;` lines, "
                "not one: the kit cannot buffer nginx's access log (harness/kit/appimages.py)"
            )
        conf.write_text(text)
        html = root / "var/www/html"
        html.mkdir(parents=True, exist_ok=True)
        for old in html.glob("index*.html"):
            old.unlink()
        (html / "index.html").write_text(_INDEX.format(suite=suite))
        logs = root / "var/log/nginx"
        for name, target in (("access.log", "/dev/stdout"), ("error.log", "/dev/stderr")):
            (logs / name).unlink(missing_ok=True)
            (logs / name).symlink_to(target)

    return customize


def _nginx(suite: str, package: str) -> DebianImage:
    return DebianImage(
        tag=f"rollproof/nginx-build:{suite}",
        suite=suite,
        packages=(package,),
        changes=('CMD ["nginx", "-g", "daemon off;"]', "EXPOSE 80"),
        dockerfile=("STOPSIGNAL SIGQUIT",),  # graceful shutdown, as nginx's own images do
        customize=_nginx_customizer(suite),
        customize_inputs=("nginx/3", _INDEX, _BUFFERED_ACCESS_LOG),
    )


NGINX_IMAGES = {"old": _nginx("bookworm", "nginx-light"), "new": _nginx("trixie", "nginx")}


def _nginx_version(tag: str) -> str:
    proc = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", "--entrypoint", "nginx", tag, "-v"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    match = re.search(rb"nginx/(\d+\.\d+\.\d+)", proc.stdout)
    if proc.returncode != 0 or not match:
        raise ProviderError(f"image {tag}: `nginx -v` did not print a version: {proc.stdout[-300:]!r}")
    return match.group(1).decode()


def build_app_images() -> list[AppImage]:
    """Build both nginx images and tag each by the version it really runs."""
    images = []
    for role, spec in NGINX_IMAGES.items():
        build_debian_image(spec)
        version = _nginx_version(spec.tag)
        tag = f"rollproof/nginx:{version}"
        subprocess.run(["docker", "tag", spec.tag, tag], check=True)
        images.append(AppImage(tag=tag, server=f"nginx/{version}", role=role))
    return images


PROBER_IMAGE = "rollproof/prober:v1"


def build_prober_image() -> str:
    """The in-cluster prober (a static Go program at /prober) for clusters without a reachable NodePort."""
    from .paths import cache_root
    from .proberbuild import PROBER_PATH, PROBER_SOURCE, build_prober_binary
    from .static import static_image
    from .stages import input_hash

    binary = build_prober_binary(cache_root() / "bin" / "prober")
    key = input_hash("prober/1", Path(PROBER_SOURCE))
    static_image(PROBER_IMAGE, {PROBER_PATH: binary}, (f'ENTRYPOINT ["{PROBER_PATH}"]',), key)
    return PROBER_IMAGE
