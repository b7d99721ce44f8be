"""The process behind a Docker port mapping, on a fake /proc tree (pure files)."""

from __future__ import annotations

from pathlib import Path

from harness.portmap import gone, mapping_process


def write(root: Path, pid: int, argv: list[str], state: str = "S") -> None:
    d = root / str(pid)
    d.mkdir(parents=True, exist_ok=True)
    (d / "cmdline").write_bytes("\0".join(argv).encode() + b"\0")
    (d / "stat").write_text(f"{pid} (docker-proxy) {state} 1 0 0\n")


def proxy(port: int, node_port: int) -> list[str]:
    return ["/usr/sbin/docker-proxy", "-proto", "tcp", "-host-ip", "127.0.0.1", "-host-port", str(port),
            "-container-ip", "172.18.0.2", "-container-port", str(node_port)]  # fmt: skip


def test_the_proxy_of_a_port_is_found_by_its_arguments_and_its_exit_seen(tmp_path: Path) -> None:
    write(tmp_path, 26447, proxy(48179, 30083))
    write(tmp_path, 26485, proxy(46103, 30080), state="Z")  # exited, not reaped by dockerd
    write(tmp_path, 300, ["/usr/bin/python3", "-host-port", "46103"])  # not Docker's proxy
    assert mapping_process("127.0.0.1", 48179, str(tmp_path)) == 26447
    assert mapping_process("127.0.0.1", 46103, str(tmp_path)) == 26485
    assert mapping_process("127.0.0.1", 40000, str(tmp_path)) is None
    assert not gone(26447, str(tmp_path)) and gone(26485, str(tmp_path)) and gone(999, str(tmp_path))
