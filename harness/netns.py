"""Network namespaces of the data path: joining one (`join_netns`), and a namespace's counter files
held open, read for as long as the namespace lives, not only for as long as a process in it does.

A file of `/proc/PID/net/` shows the namespace process PID was in when it was opened, and holds a
reference to it: a read after every process of that namespace has exited still gives its live
counters. That matters for a pod. When its app exits (no preStop hook), the kubelet kills the
sandbox's pause process 30-55 ms later, and the CNI plugin removes the pod's interface some
50 ms after that (README finding 41). In between, the namespace has no process, yet its kernel
answers SYNs with resets; a reader that opens `/proc/PID/net/...` anew at each poll misses them.

Holding the namespace changes nothing on the data path: once the CNI plugin has removed the
interface, only `lo` is left, and the poller lets it go at its next poll.
"""

from __future__ import annotations

import ctypes
import os

__all__ = ["HeldNetns", "join_netns", "netns_inode", "parse_interfaces"]

_CLONE_NEWNET = 0x40000000

FILES = ("netstat", "snmp", "stat/nf_conntrack", "dev")
"""The files of `/proc/PID/net/` held; the first two are required."""


def join_netns(pid: int) -> None:
    """Move the calling thread into the network namespace of process `pid` (needs CAP_SYS_ADMIN)."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
    try:
        if libc.setns(fd, _CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns into the network namespace of pid {pid}: {os.strerror(err)}")
    finally:
        os.close(fd)


def netns_inode(pid: int | str, proc: str = "/proc") -> int | None:
    """The inode that names the network namespace process `pid` is in (None: gone, or not known)."""
    try:
        return os.stat(f"{proc}/{pid}/ns/net").st_ino
    except OSError:
        return None


def parse_interfaces(text: str) -> list[str]:
    """The interface names of a `/proc/net/dev` text (two header lines, then `name: counters`)."""
    return [line.split(":", 1)[0].strip() for line in text.splitlines()[2:] if ":" in line]


class HeldNetns:
    """The counter files of one network namespace, opened once through a process in it (`open`),
    read again at each `read` until `close`."""

    def __init__(self, fds: dict[str, int], inode: int | None, pid: int | str) -> None:
        self._fds = fds
        self.inode = inode
        self.pid = pid

    @classmethod
    def open(cls, pid: int | str, proc: str = "/proc") -> HeldNetns | None:
        """The namespace of process `pid`, held; None when the process is gone (or has no
        `netstat`/`snmp`). Its inode is read again after the files are opened: a PID reused in
        between would name another namespace, and is refused."""
        inode = netns_inode(pid, proc)
        fds: dict[str, int] = {}
        for name in FILES:
            try:
                fds[name] = os.open(f"{proc}/{pid}/net/{name}", os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                if name in FILES[:2]:
                    break
        held = cls(fds, inode, pid)
        if not all(name in fds for name in FILES[:2]) or netns_inode(pid, proc) != inode:
            held.close()
            return None
        return held

    def read(self, name: str) -> str | None:
        """The file's text now (None: not held, or unreadable)."""
        fd = self._fds.get(name)
        if fd is None:
            return None
        chunks = []
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            while chunk := os.read(fd, 65536):
                chunks.append(chunk)
        except OSError:
            return None
        return b"".join(chunks).decode("utf-8", "replace")

    def interfaces(self) -> list[str] | None:
        """The namespace's interfaces now (None: `dev` not held)."""
        text = self.read("dev")
        return None if text is None else parse_interfaces(text)

    def close(self) -> None:
        for fd in self._fds.values():
            try:
                os.close(fd)
            except OSError:
                pass
        self._fds = {}
