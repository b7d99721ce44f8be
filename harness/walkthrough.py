"""The walkthrough's own raw requests, as it sent them (early 2017, extensions/v1beta1).

Pure builders: the Deployment `deployment-demo`, its v0.2 manifest PATCHed whole
under each of the three patch content types (the walkthrough's
`curl -X PATCH -H "Content-Type: ..." -d "$(cat v0.2.json)"`), and its rollback
POST with the body it sent, byte for byte. No query parameters: the walkthrough
sent none (fieldManager did not exist yet).
"""

from __future__ import annotations

import copy
import json
from typing import Any

from .kube.patches import JSON, JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, RawRequest, object_path
from .manifests import deployment

__all__ = [
    "NAME",
    "GROUP_VERSION",
    "PATCH_CHECKS",
    "ROLLBACK_BODY",
    "demo_manifest",
    "walkthrough_patch",
    "walkthrough_rollback",
    "ROLLBACK_EVENT_REASON",
]

NAME = "deployment-demo"
GROUP_VERSION = "extensions/v1beta1"
PATCH_CHECKS = {
    STRATEGIC_MERGE_PATCH: "walkthrough-patch-strategic-merge",
    MERGE_PATCH: "walkthrough-patch-merge",
    JSON_PATCH: "walkthrough-patch-json-patch",
}
"""Each content type the walkthrough PATCHed with, in its order, and its expectation-table check."""

ROLLBACK_BODY = b'{"name": "deployment-demo", "rollbackTo": {"revision": 0}}'
"""The walkthrough's rollback body: no apiVersion, no kind; revision 0 is "the previous one"."""

ROLLBACK_EVENT_REASON = "DeploymentRollback"


def demo_manifest(image: str, version: str) -> dict[str, Any]:
    """The walkthrough's Deployment at `version` (the fixture's manifest) under extensions/v1beta1."""
    obj = copy.deepcopy(deployment(NAME, image, version))
    obj["apiVersion"] = GROUP_VERSION
    return obj


def walkthrough_patch(namespace: str, content_type: str, manifest: dict[str, Any]) -> RawRequest:
    """PATCH of the whole `manifest` to the extensions/v1beta1 Deployment, as `content_type`."""
    if content_type not in PATCH_CHECKS:
        raise ValueError(f"the walkthrough PATCHed as {', '.join(PATCH_CHECKS)}, not {content_type!r}")
    path = object_path(GROUP_VERSION, "deployments", NAME, namespace)
    return RawRequest("PATCH", path, content_type, json.dumps(manifest).encode())


def walkthrough_rollback(namespace: str) -> RawRequest:
    """The walkthrough's POST .../deployments/deployment-demo/rollback."""
    return RawRequest("POST", object_path(GROUP_VERSION, "deployments/rollback", NAME, namespace), JSON, ROLLBACK_BODY)
