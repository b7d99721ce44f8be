"""Clusters the suites run on: a kind cluster the harness creates, or an existing one.

model       Cluster, NodePortMap: what the rest of the harness knows of a cluster
kind        create, reuse, load images into and delete kind clusters
kindconfig  the kind cluster config (NodePorts mapped to 127.0.0.1)
existing    a cluster from a kubeconfig and context, used as it is
ready       the wait for every node Ready and every kube-system pod running
flows       conntrack entries of a NodePort removed from kind nodes

May import: the standard library, the kubernetes client, yaml, `harness.kube`
(kubeconfig, the error boundary), `harness.errors`, `harness.kubeversion`, `harness.poll`,
`harness.rundir`, `harness.timeouts`. Never the rollout layer, the prober, the kit or the
plugin.
"""

from __future__ import annotations

from .model import Cluster, NodePortMap

__all__ = ["Cluster", "NodePortMap"]
