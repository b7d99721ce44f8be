"""A cluster the user already has: a kubeconfig and context, used as they are."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ConfigError
from ..kube.config import ClusterAccess, load_kubeconfig
from ..timeouts import Timeouts
from .model import Cluster, NodePortMap

__all__ = ["ExistingProvider", "kubeconfig_path"]


def kubeconfig_path(given: str | None) -> Path:
    """--kubeconfig, else the first of $KUBECONFIG, else ~/.kube/config; ConfigError when it is not a file."""
    source = "--kubeconfig" if given else "$KUBECONFIG" if os.environ.get("KUBECONFIG") else "default kubeconfig"
    path = given or os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or str(Path.home() / ".kube/config")
    p = Path(path).expanduser()
    if p.is_dir():
        raise ConfigError(f"{source} {path} is a directory: pass --kubeconfig with the kubeconfig file")
    if not p.is_file():
        raise ConfigError(f"{source} {path} not found: pass --kubeconfig PATH (and --context NAME)")
    return p.resolve()


class ExistingProvider:
    """Never creates or deletes anything cluster-wide; NodePorts are not assumed reachable.

    With a namespace (given, or the kubeconfig context's) every test runs in
    it and no namespace is created; without one, each test gets its own.
    """

    def __init__(
        self, kubeconfig: str | None, context: str | None, timeouts: Timeouts, namespace: str | None = None
    ) -> None:
        self.path = kubeconfig_path(kubeconfig)
        self.context = context
        self.timeouts = timeouts
        self.namespace = namespace

    def access(self) -> ClusterAccess:
        """The kubeconfig read (pure; a bad one is a one-line ConfigError that never quotes it)."""
        return load_kubeconfig(self.path, self.context)

    def up(self) -> Cluster:
        access = self.access()
        self.namespace = self.namespace or access.namespace
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
            namespace=self.namespace,
        )

    def down(self) -> None:
        """Nothing: an existing cluster is left as it was (test namespaces are the namespace fixture's)."""
