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

from harness.assertions import assert_no_failures, assert_replica_bounds, assert_version_order
from harness.demo import create_service, observe_for, wait_first_answer
from harness.errors import ConfigError, WaitTimeout
from harness.manifests import replication_controller
from harness.rcupdate import RollingUpdater
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
    wait_ready_pods(core_api, namespace, {"app": APP, "ver": "v0.1"}, DESIRED, timeouts.pods_ready,
                    timeouts.poll_interval)
    return body


@pytest.fixture
def probed(cluster, core_api, namespace, rc_v1, service_prober, app_images, record, timeouts):
    """The Service over app=rc-demo, probed from its first answer on."""
    record.expected_versions = (app_images["old"].server, app_images["new"].server)
    create_service(core_api, cluster, namespace, APP, {"app": APP})
    prober = service_prober(APP)
    first = wait_first_answer(prober, timeouts.pods_ready, timeouts.poll_interval)
    return prober, first


def _finish_probe(record, prober, first, timeouts):
    observe_for(timeouts.endpoint_propagation + timeouts.probe_settle)
    record.samples.extend(s for s in prober.stop() if s.start >= first.start)


def test_rc_rolling_update_drops_no_request(core_api, namespace, probed, app_images, record, timeouts):
    """RC rolling update rc-demo-v0.1 -> rc-demo-v0.2 drops no request.

    MUST hold: at every step old + new <= desired + 1 and available >= desired;
    zero failed probes; the old Server header first, the new one last and no old
    answer after the update finished; every pod runs RC_DEMO_VER=v0.2; the old
    RC is gone.
    """
    prober, first = probed
    new_rc = replication_controller(APP, "v0.2", app_images["new"].image, replicas=DESIRED)
    updater = RollingUpdater(core_api, namespace, timeouts)
    with record.rollout():
        result = updater.update(f"{APP}-v0.1", new_rc, update_period=timeouts.rc_update_period,
                                poll_interval=timeouts.rc_poll_interval, timeout=timeouts.rc_timeout,
                                on_step=record.steps.append)
    done_at = clock()
    _finish_probe(record, prober, first, timeouts)

    assert_replica_bounds(record.steps, desired=DESIRED, max_surge=1, max_unavailable=0)
    assert_no_failures(record.samples, steps=record.steps)
    assert_version_order(record.samples, app_images["old"].server, app_images["new"].server,
                         steps=record.steps, settled_at=done_at + timeouts.endpoint_propagation)
    pods = wait_ready_pods(core_api, namespace, {"app": APP, "ver": "v0.2"}, DESIRED, timeouts.pods_ready,
                           timeouts.poll_interval)
    assert {pod_env(p, "RC_DEMO_VER") for p in pods} == {"v0.2"}
    assert result.final_name == f"{APP}-v0.2"
    with pytest.raises(Exception) as gone:
        core_api.read_namespaced_replication_controller(f"{APP}-v0.1", namespace)
    assert getattr(gone.value, "status", None) == 404


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
        f"{APP}-v0.1"]


def _updater_process(cluster, namespace, new_rc_path, timeouts):
    """`rollproof rolling-update` as a user runs it, with kubectl's flags and Go durations."""
    argv = [sys.executable, "-m", "harness.cli", "rolling-update", f"{APP}-v0.1", "-f", str(new_rc_path),
            "-n", namespace, "--kubeconfig", str(cluster.kubeconfig),
            f"--update-period={timeouts.rc_update_period}s", f"--poll-interval={timeouts.rc_poll_interval}s",
            f"--timeout={timeouts.rc_timeout}s"]
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
    raise WaitTimeout("the first step of the rolling-update process", timeout,
                      f"lines {seen}; exit code {proc.poll()}; "
                      f"stderr: {proc.stderr.read()[-500:] if proc.poll() is not None else ''}")


def test_rc_rolling_update_killed_half_way_resumes(cluster, core_api, namespace, probed, app_images, record,
                                                   timeouts, tmp_path):
    """An updater killed (SIGKILL) after its first step, run again, MUST finish the same update.

    The second run resumes from kubectl's annotations (next-controller-id,
    desired-replicas, original-replicas, update-source-id) instead of starting
    over, and the Service answers every request the whole time.
    """
    prober, first = probed
    new_rc = replication_controller(APP, "v0.2", app_images["new"].image, replicas=DESIRED)
    path = tmp_path / "rc-v0.2.json"
    path.write_text(json.dumps(new_rc))
    with record.rollout():
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
        assert (new.metadata.annotations or {}).get("kubectl.kubernetes.io/update-source-id") == \
            f"{APP}-v0.1:{old.metadata.uid}"
        result = RollingUpdater(core_api, namespace, timeouts).update(
            f"{APP}-v0.1", new_rc, update_period=timeouts.rc_update_period, poll_interval=timeouts.rc_poll_interval,
            timeout=timeouts.rc_timeout, on_step=record.steps.append)
    done_at = clock()
    _finish_probe(record, prober, first, timeouts)

    assert result.resumed
    assert_replica_bounds(record.steps, desired=DESIRED, max_surge=1, max_unavailable=0)
    assert_no_failures(record.samples, steps=record.steps)
    assert_version_order(record.samples, app_images["old"].server, app_images["new"].server,
                         steps=record.steps, settled_at=done_at + timeouts.endpoint_propagation)
    assert [r.metadata.name for r in core_api.list_namespaced_replication_controller(namespace).items] == [
        f"{APP}-v0.2"]


def test_rc_rollback_half_way_restores_v1(core_api, namespace, probed, app_images, record, timeouts):
    """Rollback half way MUST restore rc-demo-v0.1 at 4 replicas and remove v0.2, dropping no request."""
    prober, first = probed
    new_rc = replication_controller(APP, "v0.2", app_images["new"].image, replicas=DESIRED)
    updater = RollingUpdater(core_api, namespace, timeouts)

    class Halfway(Exception):
        pass

    def stop_half_way(step):
        record.steps.append(step)
        if step.new_replicas >= DESIRED // 2 and step.action == "scale-up":
            raise Halfway()

    with record.rollout():
        with pytest.raises(Halfway):
            updater.update(f"{APP}-v0.1", new_rc, update_period=timeouts.rc_update_period,
                           poll_interval=timeouts.rc_poll_interval, timeout=timeouts.rc_timeout,
                           on_step=stop_half_way)
        result = updater.rollback(f"{APP}-v0.1", update_period=timeouts.rc_update_period,
                                  poll_interval=timeouts.rc_poll_interval, timeout=timeouts.rc_timeout,
                                  on_step=record.steps.append)
    _finish_probe(record, prober, first, timeouts)

    assert result.rolled_back and result.final_name == f"{APP}-v0.1"
    assert_replica_bounds(record.steps, desired=DESIRED, max_surge=1, max_unavailable=0)
    assert_no_failures(record.samples, steps=record.steps)
    pods = wait_ready_pods(core_api, namespace, {"app": APP, "ver": "v0.1"}, DESIRED, timeouts.pods_ready,
                           timeouts.poll_interval)
    assert {pod_env(p, "RC_DEMO_VER") for p in pods} == {"v0.1"}
    assert [r.metadata.name for r in core_api.list_namespaced_replication_controller(namespace).items] == [
        f"{APP}-v0.1"]

