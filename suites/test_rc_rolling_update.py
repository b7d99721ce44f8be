"""ReplicationController rolling updates, the kubectl-equivalent way (what `kubectl rolling-update` did)."""

from __future__ import annotations

import json
import logging
import os
import re
import select
import signal
import subprocess
import sys

import pytest

from harness.assertions import assert_replica_bounds, assert_verdicts
from harness.errors import ConfigError, NotFound, WaitTimeout
from harness.kube.config import call_api
from harness.kube.patches import object_path
from harness.manifests import replication_controller
from harness.rollout.podlives import label_points
from harness.rollout.podwatcher import PodWatcher
from harness.rollout.rcupdate import RollingUpdater
from harness.samples import clock
from harness.workloads import pod_env, wait_ready_pods

log = logging.getLogger("rollproof.suites")

APP = "rc-demo"
DESIRED = 4


@pytest.fixture
def rc_v1(core_api, namespace, app_images, timeouts):
    """RC rc-demo-v0.1 (old nginx, 4 ready replicas)."""
    body = replication_controller(APP, "v0.1", app_images["old"].image, replicas=DESIRED)
    core_api.create_namespaced_replication_controller(namespace, body)
    wait_ready_pods(
        core_api, namespace, {"app": APP, "ver": "v0.1"}, DESIRED, timeouts.pods_ready, timeouts.poll_interval
    )
    return body


@pytest.fixture
def rc_service(probed_service):
    """The Service over app=rc-demo, created before rc-demo-v0.1's pods (`probed_service.expose`)."""
    probed_service.expose(APP, {"app": APP})
    return probed_service


@pytest.fixture
def probed(kube_api, namespace, rc_service, rc_v1, timeouts):
    """The Service over app=rc-demo, probed from its first answer on, and a watcher of its pods:
    the replica bounds are read from the pods themselves, not from the updater's own steps."""
    probed = rc_service(APP, {"app": APP})
    pods = PodWatcher(kube_api, namespace, {"app": APP}, timeouts=timeouts).start()
    probed.watch(pods)
    yield probed, pods
    if pods.running:
        pods.stop(raise_error=False)


def _rc_points(pods):
    """Per RC (by its `ver` label): pods not terminating, ready, available at every observed instant."""
    return label_points(pods.stop(), "ver", APP)


def test_rc_rolling_update_drops_no_request(core_api, namespace, probed, app_images, record, timeouts):
    """RC rolling update rc-demo-v0.1 -> rc-demo-v0.2 drops no request.

    MUST hold, as observed on the pods themselves at every instant: pods of both
    RCs not terminating <= desired + 1 and ready ones >= desired; for both samplers
    the whole update probed and zero failed requests; the old Server header first,
    the new one last and no old answer once the update settled; every pod runs
    RC_DEMO_VER=v0.2; the old RC is gone.
    """
    probed, watcher = probed
    old, new = app_images["old"], app_images["new"]
    new_rc = replication_controller(APP, "v0.2", new.image, replicas=DESIRED)
    updater = RollingUpdater(core_api, namespace, timeouts)
    started = clock()
    with probed.phase("rc-demo-v0.1 -> rc-demo-v0.2", (old.server, new.server)):
        result = updater.update(
            f"{APP}-v0.1",
            new_rc,
            on_step=record.steps.append,
        )
    analyses = probed.finish()
    record.points.extend(_rc_points(watcher))

    assert_replica_bounds(record.points, since=started, desired=DESIRED, max_surge=1, max_unavailable=0)
    assert_verdicts(analyses, steps=record.steps)
    pods = wait_ready_pods(
        core_api, namespace, {"app": APP, "ver": "v0.2"}, DESIRED, timeouts.pods_ready, timeouts.poll_interval
    )
    assert {pod_env(p, "RC_DEMO_VER") for p in pods} == {"v0.2"}
    assert result.final_name == f"{APP}-v0.2"
    old = f"{APP}-v0.1"
    with pytest.raises(NotFound):
        call_api(
            core_api.read_namespaced_replication_controller,
            old,
            namespace,
            method="GET",
            path=object_path("v1", "replicationcontrollers", old, namespace),
            timeout=timeouts.api_request,
        )


def test_rc_rolling_update_refuses_what_kubectl_refused(core_api, namespace, rc_v1, app_images, record, timeouts):
    """kubectl's validations: the new RC MUST have another name, and its selector a key with another value.

    Both are refused before anything changes: the old RC keeps its 4 replicas.
    """
    updater = RollingUpdater(core_api, namespace, timeouts)
    same_name = replication_controller(APP, "v0.2", app_images["new"].image)
    same_name["metadata"]["name"] = f"{APP}-v0.1"
    with pytest.raises(ConfigError, match="(?i)name"):
        updater.update(f"{APP}-v0.1", same_name)
    record.check("rc-update-same-name", "refused")
    same_selector = replication_controller(APP, "v0.1", app_images["new"].image)
    same_selector["metadata"]["name"] = f"{APP}-v0.2"
    with pytest.raises(ConfigError, match="(?i)selector"):
        updater.update(f"{APP}-v0.1", same_selector)
    record.check("rc-update-same-selector", "refused")
    rc = core_api.read_namespaced_replication_controller(f"{APP}-v0.1", namespace)
    assert rc.spec.replicas == DESIRED
    assert [r.metadata.name for r in core_api.list_namespaced_replication_controller(namespace).items] == [
        f"{APP}-v0.1"
    ]


def _updater_process(cluster, namespace, new_rc_path, timeouts):
    """`rollproof rolling-update` as a user runs it, with kubectl's flags and Go durations."""
    argv = [
        sys.executable,
        "-m",
        "harness.cli",
        "rolling-update",
        f"{APP}-v0.1",
        "-f",
        str(new_rc_path),
        "-n",
        namespace,
        "--kubeconfig",
        str(cluster.kubeconfig),
        f"--update-period={timeouts.rc_update_period}s",
        f"--poll-interval={timeouts.rc_poll_interval}s",
        f"--timeout={timeouts.rc_timeout}s",
    ]
    if cluster.context:
        argv += ["--context", cluster.context]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))


_SCALED_UP = re.compile(r"^Scaling (\S+) up to (\d+)$")


def _read_step(proc, timeout):
    """The first "Scaling NEW up to N" progress line (kubectl's words), once the scale it announces is done.

    kubectl (and rollproof) print the line, then scale and wait; the line after
    it comes once that scale is complete, so the step is read at that line.
    """
    started = clock()
    seen = []
    while clock() - started < timeout:
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if ready:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line.rstrip("\n"))
            if len(seen) >= 2 and _SCALED_UP.match(seen[-2]):
                return seen[-2]
    raise WaitTimeout(
        "the first step of the rolling-update process",
        timeout,
        f"lines {seen}; exit code {proc.poll()}; "
        f"stderr: {proc.stderr.read()[-500:] if proc.poll() is not None else ''}",
    )


def test_rc_rolling_update_killed_half_way_resumes(
    cluster, core_api, namespace, probed, app_images, record, timeouts, tmp_path
):
    """An updater killed (SIGKILL) after its first step, run again, MUST finish the same update.

    The second run resumes from kubectl's annotations (next-controller-id,
    desired-replicas, original-replicas, update-source-id) instead of starting
    over, and the Service answers every request the whole time.
    """
    probed, watcher = probed
    old, new = app_images["old"], app_images["new"]
    new_rc = replication_controller(APP, "v0.2", new.image, replicas=DESIRED)
    path = tmp_path / "rc-v0.2.json"
    path.write_text(json.dumps(new_rc))
    started = clock()
    with probed.phase("killed half way, resumed", (old.server, new.server)):
        proc = _updater_process(cluster, namespace, path, timeouts)
        try:
            step = _read_step(proc, timeouts.rc_timeout)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=timeouts.api_request)
        log.info("killed the updater after %s", step)
        old = core_api.read_namespaced_replication_controller(f"{APP}-v0.1", namespace)
        new = core_api.read_namespaced_replication_controller(f"{APP}-v0.2", namespace)
        annotations = old.metadata.annotations or {}
        # kubectl's -f mode: the new RC names its source; the old one only records its size
        assert "kubectl.kubernetes.io/next-controller-id" not in annotations
        assert annotations.get("kubectl.kubernetes.io/original-replicas") == str(DESIRED)
        assert (new.metadata.annotations or {}).get(
            "kubectl.kubernetes.io/update-source-id"
        ) == f"{APP}-v0.1:{old.metadata.uid}"
        result = RollingUpdater(core_api, namespace, timeouts).update(
            f"{APP}-v0.1",
            new_rc,
            on_step=record.steps.append,
        )
    analyses = probed.finish()
    record.points.extend(_rc_points(watcher))

    assert result.resumed
    assert_replica_bounds(record.points, since=started, desired=DESIRED, max_surge=1, max_unavailable=0)
    assert_verdicts(analyses, steps=record.steps)
    assert [r.metadata.name for r in core_api.list_namespaced_replication_controller(namespace).items] == [
        f"{APP}-v0.2"
    ]


def test_rc_rollback_half_way_restores_v1(core_api, namespace, probed, app_images, record, timeouts):
    """Rollback half way MUST restore rc-demo-v0.1 at 4 replicas and remove v0.2, dropping no request.

    Half way is served: the update stops at the scale-up to 2 v0.2 replicas and the rollback begins once
    v0.2 has answered new connections. Both samplers probe the whole update and its rollback; once the
    rollback settled only the old Server header answers; the pods of both RCs stay within 4 + 1 and 4
    ready."""
    probed, watcher = probed
    old, new = app_images["old"], app_images["new"]
    new_rc = replication_controller(APP, "v0.2", new.image, replicas=DESIRED)
    updater = RollingUpdater(core_api, namespace, timeouts)

    class Halfway(Exception):
        pass

    def stop_half_way(step):
        record.steps.append(step)
        if step.new_replicas >= DESIRED // 2 and step.action == "scale-up":
            raise Halfway()

    started = clock()
    with probed.phase("half way to rc-demo-v0.2", (old.server, new.server), settled=(old.server, new.server)):
        with pytest.raises(Halfway):
            updater.update(
                f"{APP}-v0.1",
                new_rc,
                on_step=stop_half_way,
            )
        # The updater stops at a state the API reported (a v0.2 pod ready); the Service serves it once
        # kube-proxy has synced, which can be after the stop: half way means v0.2 answered (README finding 23).
        stopped = clock()
        served = probed.wait_answered(new.server, timeouts.pods_ready)
        record.measure("half way: v0.2's first answer after the stop (s)", f"{served - stopped:+.3f}")
    with probed.phase("rollback to rc-demo-v0.1", (new.server, old.server)):
        result = updater.rollback(
            f"{APP}-v0.1",
            on_step=record.steps.append,
        )
    analyses = probed.finish()
    record.points.extend(_rc_points(watcher))

    assert result.rolled_back and result.final_name == f"{APP}-v0.1"
    assert_replica_bounds(record.points, since=started, desired=DESIRED, max_surge=1, max_unavailable=0)
    assert_verdicts(analyses, steps=record.steps)
    pods = wait_ready_pods(
        core_api, namespace, {"app": APP, "ver": "v0.1"}, DESIRED, timeouts.pods_ready, timeouts.poll_interval
    )
    assert {pod_env(p, "RC_DEMO_VER") for p in pods} == {"v0.1"}
    assert [r.metadata.name for r in core_api.list_namespaced_replication_controller(namespace).items] == [
        f"{APP}-v0.1"
    ]
