"""Pure builders for the suites' objects, from the walkthrough manifests in fixtures/manifests."""

from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError

__all__ = [
    "FIXTURES",
    "load_manifest",
    "first_container",
    "set_env",
    "harden",
    "deployment",
    "replication_controller",
    "small_rc",
    "service",
]

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "manifests"


@lru_cache(maxsize=None)
def _load(name: str) -> dict[str, Any]:
    path = FIXTURES / name
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"manifest {path} is missing: reinstall rollproof from a full checkout") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"manifest {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict) or "kind" not in data:
        raise ConfigError(f"manifest {path} is not a Kubernetes object (no kind)")
    return data


def load_manifest(name: str) -> dict[str, Any]:
    """A fresh copy of a fixture manifest."""
    return copy.deepcopy(_load(name))


def first_container(obj: dict[str, Any]) -> dict[str, Any]:
    """The first container of a workload's pod template."""
    container: dict[str, Any] = obj["spec"]["template"]["spec"]["containers"][0]
    return container


def set_env(container: dict[str, Any], name: str, value: str) -> None:
    """Set env var `name` of `container` (added when absent)."""
    for env in container.setdefault("env", []):
        if env["name"] == name:
            env["value"] = value
            return
    container["env"].append({"name": name, "value": value})


def harden(spec: dict[str, Any], hardened: bool) -> None:
    """Hardened pods keep the fixture's readinessProbe, preStop and keep-alive lifetime; naive ones
    lose all three (nginx as its image starts it)."""
    if not hardened:
        container = spec["containers"][0]
        container.pop("readinessProbe", None)
        container.pop("lifecycle", None)
        container.pop("command", None)


def deployment(
    name: str,
    image: str,
    version: str = "v0.1",
    *,
    replicas: int = 4,
    max_surge: int | str = 1,
    max_unavailable: int | str = 0,
    hardened: bool = True,
    history_limit: int = 10,
    progress_deadline: int = 60,
) -> dict[str, Any]:
    """The demo Deployment named `name` (label app=name) running `image` at `version`."""
    obj = load_manifest("deployment-demo.yaml")
    obj["metadata"]["name"] = name
    obj["metadata"]["labels"] = {"app": name}
    spec = obj["spec"]
    spec.update(replicas=replicas, revisionHistoryLimit=history_limit, progressDeadlineSeconds=progress_deadline)
    spec["strategy"]["rollingUpdate"] = {"maxSurge": max_surge, "maxUnavailable": max_unavailable}
    spec["selector"]["matchLabels"] = {"app": name}
    spec["template"]["metadata"]["labels"] = {"app": name}
    container = first_container(obj)
    container["image"] = image
    set_env(container, "DEPLOYMENT_DEMO_VER", version)
    harden(spec["template"]["spec"], hardened)
    return obj


def replication_controller(
    app: str, version: str, image: str, *, replicas: int = 4, hardened: bool = True
) -> dict[str, Any]:
    """The demo RC `<app>-<version>`, selector {app, ver}, running `image`."""
    obj = load_manifest("rc-demo.yaml")
    labels = {"app": app, "ver": version}
    obj["metadata"]["name"] = f"{app}-{version}"
    obj["metadata"]["labels"] = dict(labels)
    obj["spec"]["replicas"] = replicas
    obj["spec"]["selector"] = dict(labels)
    obj["spec"]["template"]["metadata"]["labels"] = dict(labels)
    container = first_container(obj)
    container["image"] = image
    set_env(container, "RC_DEMO_VER", version)
    harden(obj["spec"]["template"]["spec"], hardened)
    return obj


def service(
    name: str, selector: dict[str, str], node_port: int | None, *, external_traffic_policy: str | None = None
) -> dict[str, Any]:
    """A Service for `selector`: NodePort `node_port` (with `external_traffic_policy` when given),
    or ClusterIP when None."""
    obj = load_manifest("service-demo.yaml")
    obj["metadata"]["name"] = name
    obj["spec"]["selector"] = dict(selector)
    if node_port is None:
        obj["spec"]["type"] = "ClusterIP"
        obj["spec"]["ports"][0].pop("nodePort")
    else:
        obj["spec"]["ports"][0]["nodePort"] = node_port
        if external_traffic_policy is not None:
            obj["spec"]["externalTrafficPolicy"] = external_traffic_policy
    return obj


def small_rc(name: str, labels: dict[str, str], image: str, replicas: int = 3) -> dict[str, Any]:
    """A bare ReplicationController for the updater's referee and refusal tests: one nginx container,
    a 1 s readiness probe, a 2 s grace period, images never pulled (the kit loads them)."""
    return {
        "apiVersion": "v1",
        "kind": "ReplicationController",
        "metadata": {"name": name, "labels": {"app": labels["app"]}},
        "spec": {
            "replicas": replicas,
            "selector": dict(labels),
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "terminationGracePeriodSeconds": 2,
                    "containers": [
                        {
                            "name": "nginx",
                            "image": image,
                            "imagePullPolicy": "Never",
                            "ports": [{"containerPort": 80}],
                            "readinessProbe": {"httpGet": {"path": "/", "port": 80}, "periodSeconds": 1},
                        }
                    ],
                },
            },
        },
    }
