"""Clusters the suites run on: a kind cluster the harness creates, or an existing one."""

from __future__ import annotations

from .model import Cluster, NodePortMap

__all__ = ["Cluster", "NodePortMap"]
