"""A cluster the user already has: a kubeconfig and context, used as they are."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ConfigError
from ..kube.config import load_kubeconfig
from ..timeouts import Timeouts
from .model import Cluster, NodePortMap

__all__ = ["ExistingProvider"]


class ExistingProvider:
    """Never creates or deletes anything cluster-wide; NodePorts are not assumed reachable."""

    def __init__(self, kubeconfig: str | None, context: str | None, timeouts: Timeouts) -> None:
        path = kubeconfig or os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or str(Path.home() / ".kube/config")
        if not Path(path).is_file():
            raise ConfigError(f"kubeconfig {path} not found: pass --kubeconfig PATH (and --context NAME)")
        self.path = Path(path).resolve()
        self.context = context
        self.timeouts = timeouts

    def up(self) -> Cluster:
        access = load_kubeconfig(self.path, self.context)
        version = access.server_version(self.timeouts)
        return Cluster(
            name=self.context or "current-context",
            provider="existing",
            kubeconfig=self.path,
            context=self.context,
            git_version=version.git_version,
            major=version.major,
            minor=version.minor,
            node_ports=NodePortMap(),
        )

    def down(self) -> None:
        """Nothing: an existing cluster is left as it was."""
