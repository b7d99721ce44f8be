"""Pure builders for the suites' objects, from the walkthrough manifests in fixtures/manifests.

Deployments, ReplicationControllers, Services, StatefulSets and DaemonSets
(fixtures/manifests/*-demo.yaml; the builder sets name, labels, image and the
version env var), and `scaled_value`, an int-or-percent field as the controllers
resolve it."""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Mapping, Sequence
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
    "keepalive_lifetime",
    "deployment",
    "replication_controller",
    "small_rc",
    "service",
    "statefulset",
    "daemonset",
    "headless_service",
    "with_pull_policy",
    "scaled_value",
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


_KEEPALIVE_TIME = re.compile(r"\bkeepalive_time\s+(\d+(?:\.\d+)?)(ms|s|m)?\s*;")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}


def keepalive_lifetime(command: Sequence[str] | None) -> float | None:
    """The keep-alive connection lifetime (seconds) a container's command gives nginx
    (`keepalive_time`, as the hardened fixtures write it), None when it gives none."""
    found = _KEEPALIVE_TIME.search(" ".join(command or ()))
    if not found:
        return None
    return float(found.group(1)) * _UNIT[found.group(2)]


def harden(spec: dict[str, Any], hardened: bool) -> None:
    """Hardened pods keep the fixture's readinessProbe, preStop and keep-alive lifetime; naive ones
    lose all three (nginx as its image starts it). Both keep the CPU request (not a shutdown matter:
    README finding 18)."""
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
    a 1 s readiness probe, a 2 s grace period, the demo's CPU request, no service-account token,
    images never pulled (the kit loads them)."""
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
                    "automountServiceAccountToken": False,  # as the fixtures': no volume to wait for
                    "containers": [
                        {
                            "name": "nginx",
                            "image": image,
                            "imagePullPolicy": "Never",
                            "ports": [{"containerPort": 80}],
                            "readinessProbe": {"httpGet": {"path": "/", "port": 80}, "periodSeconds": 1},
                            "resources": {"requests": {"cpu": "50m", "memory": "16Mi"}},
                        }
                    ],
                },
            },
        },
    }


def _named(obj: dict[str, Any], name: str, image: str, env: str, version: str, hardened: bool) -> dict[str, Any]:
    obj["metadata"]["name"] = name
    obj["metadata"]["labels"] = {"app": name}
    spec = obj["spec"]
    spec["selector"]["matchLabels"] = {"app": name}
    spec["template"]["metadata"]["labels"] = {"app": name}
    container = first_container(obj)
    container["image"] = image
    set_env(container, env, version)
    harden(spec["template"]["spec"], hardened)
    return obj


def statefulset(
    name: str,
    image: str,
    version: str = "v0.1",
    *,
    replicas: int = 4,
    partition: int = 0,
    service_name: str | None = None,
    hardened: bool = True,
    history_limit: int = 10,
) -> dict[str, Any]:
    """The demo StatefulSet `name` (label app=name) running `image` at `version`.

    RollingUpdate with `partition` (ordinals >= partition are updated); its
    governing headless Service is `service_name` (default `<name>-headless`)."""
    if isinstance(partition, bool) or not isinstance(partition, int) or partition < 0:
        raise ConfigError(f"partition must be an int >= 0, not {partition!r}")
    obj = _named(load_manifest("statefulset-demo.yaml"), name, image, "STATEFULSET_DEMO_VER", version, hardened)
    spec = obj["spec"]
    spec.update(replicas=replicas, revisionHistoryLimit=history_limit, serviceName=service_name or f"{name}-headless")
    spec["updateStrategy"] = {"type": "RollingUpdate", "rollingUpdate": {"partition": partition}}
    return obj


def daemonset(
    name: str,
    image: str,
    version: str = "v0.1",
    *,
    max_surge: int | str = 1,
    max_unavailable: int | str = 0,
    hardened: bool = True,
    history_limit: int = 10,
) -> dict[str, Any]:
    """The demo DaemonSet `name` (label app=name) running `image` at `version`.

    RollingUpdate with `max_surge` / `max_unavailable` (the API refuses both 0)."""
    obj = _named(load_manifest("daemonset-demo.yaml"), name, image, "DAEMONSET_DEMO_VER", version, hardened)
    obj["spec"]["revisionHistoryLimit"] = history_limit
    obj["spec"]["updateStrategy"] = {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": max_surge, "maxUnavailable": max_unavailable},
    }
    return obj


def headless_service(name: str, selector: dict[str, str]) -> dict[str, Any]:
    """A headless Service (clusterIP None) for `selector`: a StatefulSet's governing Service."""
    obj = service(name, selector, None)
    obj["spec"]["clusterIP"] = "None"
    return obj


def with_pull_policy(obj: Mapping[str, Any], policy: str) -> dict[str, Any]:
    """A copy of a workload manifest whose containers use imagePullPolicy `policy`."""
    if policy not in ("Always", "IfNotPresent", "Never"):
        raise ConfigError(f"imagePullPolicy {policy!r}: give Always, IfNotPresent or Never")
    out = copy.deepcopy(dict(obj))
    for container in out["spec"]["template"]["spec"]["containers"]:
        container["imagePullPolicy"] = policy
    return out


def scaled_value(value: int | str, total: int, *, round_up: bool) -> int:
    """An int-or-percent (maxSurge, maxUnavailable) as an absolute number of `total`,
    rounded as the controllers do: up for surge, down for unavailable."""
    if isinstance(value, bool):
        raise ConfigError(f"int-or-percent value {value!r} is neither an int nor 'N%'")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if not text.endswith("%") or not text[:-1].isdigit():
        raise ConfigError(f"int-or-percent value {value!r} is neither an int nor 'N%'")
    exact = int(text[:-1]) * total / 100
    return math.ceil(exact) if round_up else math.floor(exact)
