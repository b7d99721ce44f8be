"""The RC rolling updater against a real cluster: image update, rollback, kill and resume.

Runs on the session's cluster (the plugin's `cluster`, `core_api` and `namespace`
fixtures); each test works in its own namespace, deleted afterwards.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from harness.errors import NotFound, WaitTimeout
from harness.kube.config import call_api
from harness.poll import poll
from harness.rollout.rcupdate import RollingUpdater, UpdateConfig, scale_down_target, scale_up_target
from harness.rollout.rcupdate.plan import (
    DESIRED_REPLICAS_ANNOTATION,
    NEXT_CONTROLLER_ANNOTATION,
    ORIGINAL_REPLICAS_ANNOTATION,
    PROGRESS_ANNOTATIONS,
    SOURCE_ID_ANNOTATION,
)
from harness.rollout.rcupdate.updater import UpdateResult
from harness.samples import clock
from harness.timeouts import DEFAULT_TIMEOUTS

pytestmark = pytest.mark.cluster

OLD_IMAGE = "rollproof/nginx:1.22.1"
NEW_IMAGE = "rollproof/nginx:1.26.3"
REPLICAS = 3
T = DEFAULT_TIMEOUTS
REPO = Path(__file__).resolve().parents[2]


class Stop(Exception):
    """Raised from on_step to abandon an update half way."""


@pytest.fixture
def core(core_api: Any) -> Any:
    return core_api


def _call(fn: Any, *args: Any, method: str = "GET", path: str = "", **kwargs: Any) -> Any:
    return call_api(fn, *args, method=method, path=path or fn.__name__, timeout=T.api_request, **kwargs)


def _rc(name: str, image: str, labels: dict[str, str], replicas: int = REPLICAS) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ReplicationController",
        "metadata": {"name": name},
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


def _ready_pods(core: Any, namespace: str, selector: dict[str, str]) -> list[dict[str, Any]]:
    found = _call(core.list_namespaced_pod, namespace, label_selector=",".join(f"{k}={v}" for k, v in selector.items()))
    ready = []
    for pod in found.get("items") or []:
        if pod["metadata"].get("deletionTimestamp"):
            continue
        conditions = (pod.get("status") or {}).get("conditions") or []
        if any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
            ready.append(pod)
    return ready


def _wait_ready(core: Any, namespace: str, selector: dict[str, str], count: int) -> list[dict[str, Any]]:
    def ready() -> tuple[bool, list[dict[str, Any]]]:
        pods = _ready_pods(core, namespace, selector)
        return len(pods) == count, pods

    return poll(
        ready,
        waited_for=f"{count} ready pods matching {selector}",
        timeout=T.pods_ready,
        interval=T.poll_interval,
        describe=lambda pods: f"{len(pods)} ready",
    )


def _rcs(core: Any, namespace: str) -> dict[str, dict[str, Any]]:
    items = _call(core.list_namespaced_replication_controller, namespace).get("items") or []
    return {rc["metadata"]["name"]: rc for rc in items}


def _images(pods: list[dict[str, Any]]) -> set[str]:
    return {c["image"] for pod in pods for c in pod["spec"]["containers"]}


def _check_arithmetic(result: UpdateResult, old_start: int, new_start: int) -> None:
    """Every scale the updater made is the one kubectl's rules give for the counts it saw."""
    config = UpdateConfig(result.desired, result.max_surge, result.max_unavailable)
    old, new = old_start, new_start
    for step in result.steps:
        if step.action == "scale-up":
            assert step.new_replicas == scale_up_target(old, new, result.desired, config.surge), step
            new = step.new_replicas
        elif step.action == "scale-down":
            assert step.old_replicas == scale_down_target(
                old, new, result.desired, step.available, config.min_available
            ), step
            old = step.old_replicas
            assert old + step.available >= config.min_available, step
        assert step.old_replicas + step.new_replicas <= config.max_total, step
    assert (old, new) == (0, result.desired)


def test_image_update_renames_and_keeps_availability(core: Any, namespace: str) -> None:
    labels = {"app": "web"}
    _call(core.create_namespaced_replication_controller, namespace, _rc("web", OLD_IMAGE, labels), method="POST")
    _wait_ready(core, namespace, labels, REPLICAS)
    updater = RollingUpdater(core, namespace, T, clock)

    result = updater.update("web", NEW_IMAGE)

    assert result.renamed and result.final_name == "web" and not result.resumed
    assert [s.action for s in result.steps][-1] == "rename"
    _check_arithmetic(result, REPLICAS, 0)
    rcs = _rcs(core, namespace)
    assert list(rcs) == ["web"]
    final = rcs["web"]
    assert not set(final["metadata"].get("annotations") or {}) & set(PROGRESS_ANNOTATIONS)
    assert final["spec"]["template"]["spec"]["containers"][0]["image"] == NEW_IMAGE
    pods = _wait_ready(core, namespace, final["spec"]["selector"], REPLICAS)
    assert _images(pods) == {NEW_IMAGE}
    # the pods were handed over, not re-created: the renamed RC adopts them (asynchronously)
    names = {p["metadata"]["name"] for p in pods}

    def adopted() -> tuple[bool, dict[str, list[str]]]:
        owners = {
            p["metadata"]["name"]: [o["name"] for o in p["metadata"].get("ownerReferences") or []]
            for p in _ready_pods(core, namespace, final["spec"]["selector"])
        }
        return set(owners) == names and all(o == ["web"] for o in owners.values()), owners

    poll(adopted, waited_for=f"RC web to adopt pods {sorted(names)}", timeout=T.pods_ready, interval=T.poll_interval)


def test_manifest_update_abandoned_then_rolled_back(core: Any, namespace: str) -> None:
    _call(
        core.create_namespaced_replication_controller,
        namespace,
        _rc("web", OLD_IMAGE, {"app": "web", "version": "v1"}),
        method="POST",
    )
    _wait_ready(core, namespace, {"app": "web"}, REPLICAS)
    updater = RollingUpdater(core, namespace, T, clock)
    seen: list[Any] = []

    def stop_after_two(step: Any) -> None:
        seen.append(step)
        if len(seen) == 2:
            raise Stop

    with pytest.raises(Stop):
        updater.update("web", _rc("web-v2", NEW_IMAGE, {"app": "web", "version": "v2"}), on_step=stop_after_two)
    rcs = _rcs(core, namespace)
    # kubectl's -f mode: no next-controller-id; the rollback finds web-v2 by its update-source-id
    assert NEXT_CONTROLLER_ANNOTATION not in rcs["web"]["metadata"]["annotations"]
    assert rcs["web-v2"]["metadata"]["annotations"][SOURCE_ID_ANNOTATION] == f"web:{rcs['web']['metadata']['uid']}"
    assert rcs["web"]["metadata"]["annotations"][ORIGINAL_REPLICAS_ANNOTATION] == str(REPLICAS)

    result = updater.rollback("web")

    assert result.rolled_back and result.final_name == "web" and result.new_name == "web-v2"
    rcs = _rcs(core, namespace)
    assert list(rcs) == ["web"]
    assert rcs["web"]["spec"]["replicas"] == REPLICAS
    assert not set(rcs["web"]["metadata"].get("annotations") or {}) & set(PROGRESS_ANNOTATIONS)
    assert _images(_wait_ready(core, namespace, {"app": "web"}, REPLICAS)) == {OLD_IMAGE}


_CHILD = textwrap.dedent("""
    import json, sys
    from kubernetes import client, config
    from harness.rollout.rcupdate import RollingUpdater
    from harness.samples import clock
    from harness.timeouts import DEFAULT_TIMEOUTS

    kubeconfig, namespace, image = sys.argv[1:4]
    configuration = client.Configuration()
    config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    core = client.CoreV1Api(client.ApiClient(configuration))

    def report(step):
        print(json.dumps({"action": step.action, "old": step.old_replicas, "new": step.new_replicas}), flush=True)

    RollingUpdater(core, namespace, DEFAULT_TIMEOUTS, clock).update("web", image, on_step=report)
    print(json.dumps({"action": "done"}), flush=True)
""")


def _first_step_of_child(proc: subprocess.Popen[str]) -> dict[str, Any]:
    assert proc.stdout is not None
    deadline = clock() + T.rc_timeout
    while clock() < deadline:
        readable, _, _ = select.select([proc.stdout], [], [], T.poll_interval)
        if readable:
            line = proc.stdout.readline()
            if not line:
                break
            return json.loads(line)
    code = proc.poll()
    stderr = proc.stderr.read()[-2000:] if proc.stderr is not None and code is not None else ""
    raise WaitTimeout("the child updater's first scale step", T.rc_timeout, f"exit code {code}; {stderr}")


def test_killed_updater_resumes_where_it_stopped(core: Any, namespace: str, tmp_path: Path, cluster: Any) -> None:
    labels = {"app": "web"}
    _call(core.create_namespaced_replication_controller, namespace, _rc("web", OLD_IMAGE, labels), method="POST")
    _wait_ready(core, namespace, labels, REPLICAS)
    script = tmp_path / "child_update.py"
    script.write_text(_CHILD)
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(
        [sys.executable, str(script), str(cluster.kubeconfig), namespace, NEW_IMAGE],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=str(REPO),
    )
    try:
        first = _first_step_of_child(proc)
        proc.send_signal(signal.SIGKILL)  # the process dies between two steps
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=T.api_request)
    assert first == {"action": "scale-up", "old": REPLICAS, "new": 1}

    # What the dead updater left: two RCs tied together by kubectl's annotations.
    rcs = _rcs(core, namespace)
    assert len(rcs) == 2
    new_name = rcs["web"]["metadata"]["annotations"][NEXT_CONTROLLER_ANNOTATION]
    new_rc = rcs[new_name]
    assert new_rc["metadata"]["annotations"][DESIRED_REPLICAS_ANNOTATION] == str(REPLICAS)
    assert new_rc["metadata"]["annotations"][SOURCE_ID_ANNOTATION] == f"web:{rcs['web']['metadata']['uid']}"
    assert rcs["web"]["metadata"]["annotations"][ORIGINAL_REPLICAS_ANNOTATION] == str(REPLICAS)
    old_now, new_now = rcs["web"]["spec"]["replicas"], new_rc["spec"]["replicas"]
    assert new_now >= 1

    result = RollingUpdater(core, namespace, T, clock).update("web", NEW_IMAGE)

    assert result.resumed and result.new_name == new_name and result.final_name == "web"
    assert result.desired == REPLICAS
    _check_arithmetic(result, old_now, new_now)
    rcs = _rcs(core, namespace)
    assert list(rcs) == ["web"]
    assert not set(rcs["web"]["metadata"].get("annotations") or {}) & set(PROGRESS_ANNOTATIONS)
    assert _images(_wait_ready(core, namespace, rcs["web"]["spec"]["selector"], REPLICAS)) == {NEW_IMAGE}
    with pytest.raises(NotFound):
        _call(core.read_namespaced_replication_controller, new_name, namespace)
