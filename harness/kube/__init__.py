"""Talking to a Kubernetes API server: kubeconfig access, a recording raw client, Deployments.

config       kubeconfig → ClusterAccess; typed ApiClient; the ApiException boundary
patches      pure builders of raw requests (PATCH flavours, PUT, legacy rollback)
raw          RawApi: requests.Session that records every exchange
deployments  kubectl-equivalent Deployment operations and a ReplicaSet watcher
"""

from __future__ import annotations

from harness.kube.config import ClusterAccess, Secret, ServerVersion, load_kubeconfig
from harness.kube.deployments import (
    Deployments,
    ReplicaSetWatcher,
    Revision,
    RolloutFailed,
    RolloutStatus,
)
from harness.kube.patches import RawRequest
from harness.kube.raw import Exchange, RawApi, RawResponse

__all__ = [
    "ClusterAccess",
    "Secret",
    "ServerVersion",
    "load_kubeconfig",
    "RawRequest",
    "RawApi",
    "RawResponse",
    "Exchange",
    "Deployments",
    "ReplicaSetWatcher",
    "Revision",
    "RolloutFailed",
    "RolloutStatus",
]
