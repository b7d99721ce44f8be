"""The nginx images' configuration as the kit writes it (a Debian nginx.conf in a scratch root)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ProviderError
from harness.kit.appimages import NGINX_IMAGES

# The lines of Debian's nginx.conf (bookworm and trixie alike) that the kit changes.
DEBIAN_CONF = """user www-data;
worker_processes auto;
events {
\tworker_connections 768;
}
http {
\tsendfile on;
\t# server_tokens off;
\taccess_log /var/log/nginx/access.log;
\tgzip on;
\tinclude /etc/nginx/conf.d/*.conf;
}
"""


def _root(tmp_path: Path, conf: str) -> Path:
    (tmp_path / "etc/nginx").mkdir(parents=True)
    (tmp_path / "etc/nginx/nginx.conf").write_text(conf)
    (tmp_path / "var/log/nginx").mkdir(parents=True)
    (tmp_path / "var/log/nginx/access.log").write_text("")
    return tmp_path


@pytest.mark.parametrize("role", ["old", "new"])
def test_the_access_log_is_buffered_and_still_goes_to_the_pods_log(tmp_path: Path, role: str) -> None:
    root = _root(tmp_path, DEBIAN_CONF)
    NGINX_IMAGES[role].customize(root)  # type: ignore[misc]
    conf = (root / "etc/nginx/nginx.conf").read_text()
    assert "\taccess_log /var/log/nginx/access.log combined buffer=64k flush=1s;\n" in conf
    assert "access_log /var/log/nginx/access.log;" not in conf
    assert "server_tokens on;" in conf
    assert (root / "var/log/nginx/access.log").readlink() == Path("/dev/stdout")


def test_a_conf_without_debians_access_log_line_is_refused(tmp_path: Path) -> None:
    root = _root(tmp_path, DEBIAN_CONF.replace("\taccess_log /var/log/nginx/access.log;\n", ""))
    with pytest.raises(ProviderError, match="0 `access_log /var/log/nginx/access.log;` lines"):
        NGINX_IMAGES["old"].customize(root)  # type: ignore[misc]


def test_the_log_setting_is_part_of_the_images_cache_key() -> None:
    image = NGINX_IMAGES["old"]
    assert any("buffer=64k" in str(part) for part in image.customize_inputs)
