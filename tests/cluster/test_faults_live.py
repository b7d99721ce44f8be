"""Interrupts, leftovers, rights and races on the session's real cluster (issue 8).

Each case asserts the one line the user sees and that nothing was left: no
namespace or Service of the run, no file in its temp directory, no process.
The interrupted runs are real pytest processes running a suite scenario
against this session's cluster; this session is itself a live run whose
namespace the others must leave alone.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from harness.cluster.model import Cluster
from harness.demo import create_service
from harness.errors import Forbidden, NotFound, ProviderError
from harness.kube.config import ClusterAccess, call_api, load_kubeconfig
from harness.leftovers import OWNED, OWNER, STARTED
from harness.owner import Owner, current_owner
from harness.poll import poll
from harness.rundir import run_dir
from harness.sharedns import LEASE, role_rules
from harness.timeouts import DEFAULT_TIMEOUTS, Timeouts

REPO = Path(__file__).resolve().parents[2]
SCENARIO = "suites/test_deployment_rollout.py::test_deployment_rolling_update_drops_no_request"
DEPLOYMENT = "deployment-demo"
POD_ROUTE_INTERVAL = "0.01"
"""The existing provider probes from a sampler pod, which a 2-core node holds for up to ~125 ms
during a rollout (README finding 13); this test is about rights, so it probes at a pace whose
bound (20 intervals, 200 ms) that route keeps here."""
CHILD_TIMEOUT = 600.0  # a child session: reuse the cluster, run one scenario, tear down


# --------------------------------------------------------------------------- helpers


@dataclass
class Child:
    """A pytest session in a subprocess, with its own TMPDIR and a marker in its environment."""

    proc: subprocess.Popen[bytes]
    tmp: Path
    output: Path
    mark: str

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def wait(self, timeout: float = CHILD_TIMEOUT) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired as exc:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(
                f"child pytest still running after {timeout:.0f}s; output:\n{self.text()[-4000:]}"
            ) from exc


def _child_args(cluster: Cluster) -> list[str]:
    if cluster.provider == "kind":
        return ["--rollproof-cluster-name", cluster.name, "--kit-version", f"{cluster.major}.{cluster.minor}"]
    args = ["--cluster-provider", "existing", "--kubeconfig", str(cluster.kubeconfig)]
    return args + (["--context", cluster.context] if cluster.context else [])


def _start_child(tmp: Path, name: str, args: list[str], cwd: Path = REPO) -> Child:
    tmp.mkdir(parents=True, exist_ok=True)
    output = tmp.parent / f"{name}.out"
    env = {k: v for k, v in os.environ.items() if k not in ("ROLLPROOF_NAMESPACE", "PYTEST_ADDOPTS")}
    env.update(TMPDIR=str(tmp), ROLLPROOF_FAULT_MARK=str(tmp), PYTHONUNBUFFERED="1")
    with output.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Child(proc, tmp, output, str(tmp))


def _marked_processes(mark: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if f"ROLLPROOF_FAULT_MARK={mark}".encode() in (proc / "environ").read_bytes().split(b"\0"):
                    found.append(int(proc.name))
            except OSError:
                pass
    return found


def _files_left(tmp: Path) -> list[str]:
    """Everything in a child's TMPDIR but the (empty) parent of the per-process run directories."""
    root = tmp / f"rollproof-{os.getuid()}"
    return sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*") if p != root)


def _owned_by(core: client.CoreV1Api, pid: int) -> tuple[list[str], list[str]]:
    """(namespaces, Services as ns/name) whose owner annotation names process `pid` of this host."""

    def mine(meta: Any) -> bool:
        owner = Owner.parse((meta.annotations or {}).get(OWNER))
        return owner is not None and owner.pid == pid and owner.host == current_owner().host

    namespaces = [
        n.metadata.name for n in core.list_namespace().items if mine(n.metadata) and n.status.phase != "Terminating"
    ]
    services = [
        f"{s.metadata.namespace}/{s.metadata.name}"
        for s in core.list_service_for_all_namespaces(label_selector=OWNED).items
        if mine(s.metadata)
    ]
    return namespaces, services


def _read_namespace(core: client.CoreV1Api, name: str) -> dict[str, Any]:
    """GET the namespace through the harness's error boundary (a 404 is `NotFound`)."""
    body: dict[str, Any] = call_api(
        core.read_namespace, name, method="GET", path=f"/api/v1/namespaces/{name}", timeout=DEFAULT_TIMEOUTS.api_request
    )
    return body


def _until(what: str, probe: Callable[[], Any], timeout: float, interval: float = 0.1) -> Any:
    """Poll `probe` until it returns something true; that value."""

    def truthy() -> tuple[bool, Any]:
        value = probe()
        return bool(value), value

    return poll(truthy, waited_for=what, timeout=timeout, interval=interval, describe=repr)


def _mid_rollout(core: client.CoreV1Api, apps: client.AppsV1Api, child: Child) -> str:
    """Wait until the child's Deployment is rolling to v0.2; returns the child's namespace."""

    def rolling() -> str | None:
        if child.proc.poll() is not None:
            raise AssertionError(
                f"child ended before its rollout (exit {child.proc.returncode}):\n{child.text()[-4000:]}"
            )
        for ns in _owned_by(core, child.proc.pid)[0]:
            for dep in apps.list_namespaced_deployment(ns).items:
                s = dep.status
                if (
                    dep.metadata.name == DEPLOYMENT
                    and dep.metadata.generation >= 2
                    and (s.updated_replicas or 0) < dep.spec.replicas
                ):
                    return ns
        return None

    return _until("the child's Deployment rolling to v0.2", rolling, CHILD_TIMEOUT, 0.05)


@pytest.fixture
def core(core_api: client.CoreV1Api) -> client.CoreV1Api:
    return core_api


# --------------------------------------------------------------------------- SIGTERM / SIGKILL mid-rollout


def test_sigterm_mid_rollout_tears_down_and_leaves_nothing(cluster, core, apps_api, namespace, tmp_path):
    """SIGTERM to a pytest run half way through a rolling update: its namespace and Service are deleted,
    its report says "interrupted", its temp directory is empty, none of its processes remain, and the
    kind cluster it reused (this session's) is kept with one line saying so."""
    child = _start_child(
        tmp_path / "tmp", "sigterm", [SCENARIO, *_child_args(cluster), "--report-dir", str(tmp_path / "reports")]
    )
    ns = _mid_rollout(core, apps_api, child)
    child.proc.send_signal(signal.SIGTERM)
    status = child.wait()
    out = child.text()

    assert status == pytest.ExitCode.INTERRUPTED, out[-4000:]
    assert (
        "rollproof: SIGTERM received: tearing down as for Ctrl-C (test namespaces, probers, a cluster this "
        "run created, private files)" in out
    )
    if cluster.provider == "kind":
        assert (
            f"rollproof: kept kind cluster {cluster.name!r} (it was running before this run, so this run "
            f"leaves it); remove it with `rollproof cluster delete {cluster.name}`"
        ) in out
    assert _owned_by(core, child.proc.pid) == ([], [])
    with pytest.raises(NotFound):
        _read_namespace(core, ns)
    report = json.loads(next((tmp_path / "reports").glob("*drops_no_request.json")).read_text())
    assert (report["outcome"], report["message"].splitlines()[0]) == ("interrupted", "interrupted by SIGTERM")
    assert _files_left(child.tmp) == []
    assert _marked_processes(child.mark) == []
    assert core.read_namespace(namespace).status.phase == "Active"  # this live run's namespace: untouched


def test_sigkill_mid_rollout_is_reported_and_removed_by_the_next_session(cluster, core, apps_api, namespace, tmp_path):
    """SIGKILL half way through a rolling update leaves the namespace, its NodePort Service and the
    run's private directory; the next session says what it removes, removes them, and leaves this
    session's (live) namespace alone."""
    tmp = tmp_path / "tmp"
    child = _start_child(tmp, "sigkill", [SCENARIO, *_child_args(cluster), "--report-dir", str(tmp_path / "reports")])
    ns = _mid_rollout(core, apps_api, child)
    child.proc.send_signal(signal.SIGKILL)
    child.wait()
    killed = child.proc.pid
    namespaces, services = _owned_by(core, killed)
    assert namespaces == [ns] and services == [f"{ns}/{DEPLOYMENT}"]  # what a killed run leaves
    assert any(p.startswith(f"rollproof-{os.getuid()}/{killed}-") for p in _files_left(tmp))

    test_file = tmp_path / "next" / "test_next.py"
    test_file.parent.mkdir()
    test_file.write_text("def test_uses_a_namespace(namespace):\n    assert namespace.startswith('rp-')\n")
    following = _start_child(
        tmp,
        "next",
        [
            str(test_file),
            *_child_args(cluster),
            "--report-dir",
            str(tmp_path / "next-reports"),
            "--rootdir",
            str(test_file.parent),
        ],
    )
    status = following.wait()
    out = following.text()
    assert status == 0, out[-4000:]
    started = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
    assert re.search(
        rf"^rollproof: removed leftover namespace {ns} on {re.escape(cluster.name)} \(made by pid "
        rf"{killed} on {re.escape(current_owner().host)}, started {started}, which is gone\)$",
        out,
        re.M,
    ), out[-4000:]
    assert _owned_by(core, killed) == ([], [])
    with pytest.raises(NotFound):
        _read_namespace(core, ns)
    assert _files_left(tmp) == []  # the killed run's private directory (its kubeconfig) went too
    assert _marked_processes(str(tmp)) == []
    assert core.read_namespace(namespace).status.phase == "Active"


# --------------------------------------------------------------------------- leftovers on demand, a cluster in use


def _labelled_namespace(core: client.CoreV1Api, name: str, owner: str) -> None:
    core.create_namespace(
        {
            "metadata": {
                "name": name,
                "labels": {"rollproof.io/test": "true", OWNED: "true"},
                "annotations": {OWNER: owner, STARTED: "2026-12-01T04:00:00Z"},
            }
        }
    )


def _labelled_service(core: client.CoreV1Api, namespace: str, name: str, owner: str) -> None:
    core.create_namespaced_service(
        namespace,
        {
            "metadata": {"name": name, "labels": {OWNED: "true"}, "annotations": {OWNER: owner}},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80}]},
        },
    )


def _dead_owner() -> str:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    me = current_owner()
    return Owner(me.host, proc.pid, me.start).token()


def _kind_bin(kit: Any) -> list[str]:
    """--kind-bin of this session's kit build (the "last build" may be another helper's, of another version)."""
    return ["--kind-bin", kit.kind_bin] if kit is not None else []


def _sweep_cli(cluster: Cluster, kit: Any, *extra: str) -> subprocess.CompletedProcess[str]:
    where = [cluster.name, *_kind_bin(kit)] if cluster.provider == "kind" else ["--kubeconfig", str(cluster.kubeconfig)]
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", "cluster", "sweep", *where, *extra],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )


def test_cluster_sweep_removes_only_what_gone_runs_left(cluster, core, namespace, kit):
    """`rollproof cluster sweep NAME`: a namespace and a Service of a run that is gone are removed (one
    line each); a namespace of a run on another host is listed and kept; this live run's Service stays."""
    suffix = os.urandom(3).hex()
    dead, far = f"rp-sweep-dead-{suffix}", f"rp-sweep-far-{suffix}"
    dead_owner = _dead_owner()
    _labelled_namespace(core, dead, dead_owner)
    _labelled_namespace(core, far, f"another-host/{os.getpid()}/x:1")
    _labelled_service(core, namespace, "left-by-dead", dead_owner)
    _labelled_service(core, namespace, "mine", current_owner().token())
    try:
        proc = _sweep_cli(cluster, kit)
        dead_pid = Owner.parse(dead_owner).pid  # type: ignore[union-attr]
        lines = proc.stdout.splitlines()
        assert proc.returncode == 0, proc.stderr
        host = current_owner().host
        assert (
            f"rollproof: removed leftover namespace {dead} (made by pid {dead_pid} on {host}, started "
            "2026-12-01T04:00:00Z, which is gone)" in lines
        )
        assert (
            f"rollproof: removed leftover Service {namespace}/left-by-dead (made by pid {dead_pid} on {host}, "
            "which is gone)" in lines
        )
        assert (
            f"rollproof: kept leftover namespace {far} (made by pid {os.getpid()} on another-host, started "
            f"2026-12-01T04:00:00Z, which cannot be checked from this host); once no run uses it: "
            f"kubectl delete namespace {far}" in lines
        )
        names = {n.metadata.name for n in core.list_namespace().items if n.status.phase == "Active"}
        assert dead not in names and far in names
        services = {s.metadata.name for s in core.list_namespaced_service(namespace).items}
        assert services == {"mine"}
    finally:
        for name in (dead, far):
            with contextlib.suppress(NotFound):
                call_api(
                    core.delete_namespace,
                    name,
                    method="DELETE",
                    path=f"/api/v1/namespaces/{name}",
                    timeout=DEFAULT_TIMEOUTS.api_request,
                )


def test_cluster_delete_refuses_a_cluster_a_live_run_uses(cluster, core, namespace, kit):
    """`rollproof cluster delete NAME` while this session runs on it: refused in one line, cluster intact."""
    if cluster.provider != "kind":
        pytest.skip("`rollproof cluster delete` is for kind clusters; this session runs on an existing one")
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "cluster", "delete", cluster.name, *_kind_bin(kit)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert proc.returncode == 2
    line = proc.stderr.strip()
    assert re.fullmatch(
        rf"rollproof: error: kind cluster {re.escape(repr(cluster.name))} is in use by a running "
        rf"rollproof run \(pid \d+ on {re.escape(current_owner().host)}, namespace rp-[a-z0-9-]+\): "
        r"let it finish, or pass --force",
        line,
    ), line
    assert core.read_namespace(namespace).status.phase == "Active"


# --------------------------------------------------------------------------- the NodePort race


def test_concurrent_service_creations_each_get_a_mapped_port(cluster, core, namespace):
    """Services created at the same moment each get a distinct mapped NodePort (no raw 422 "provided port
    is already allocated"); one more than there are free mapped ports gets the one-line refusal."""
    if not cluster.node_ports.ports:
        pytest.skip("this cluster maps no NodePort to 127.0.0.1 (an existing cluster)")
    used = {
        p.node_port for s in core.list_service_for_all_namespaces().items for p in s.spec.ports or [] if p.node_port
    }
    free = [p for p in cluster.node_ports.node_ports if p not in used]
    assert len(free) >= 2, f"need two free mapped NodePorts, have {free}"
    results: dict[str, Any] = {}
    barrier = threading.Barrier(len(free))

    def create(name: str) -> None:
        barrier.wait()
        try:
            results[name] = create_service(core, cluster, namespace, name, {"app": name})
        except Exception as exc:  # recorded, asserted below
            results[name] = exc

    threads = [threading.Thread(target=create, args=(f"race-{i}",)) for i in range(len(free))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    errors = {k: v for k, v in results.items() if isinstance(v, Exception)}
    assert errors == {}
    ports = sorted(body["spec"]["ports"][0]["nodePort"] for body in results.values())
    assert ports == sorted(free)
    live = {s.metadata.name: s.spec.ports[0].node_port for s in core.list_namespaced_service(namespace).items}
    assert sorted(live.values()) == sorted(free)
    with pytest.raises(ProviderError) as info:
        create_service(core, cluster, namespace, "one-too-many", {"app": "x"})
    mapped = ", ".join(map(str, cluster.node_ports.node_ports))
    assert str(info.value) == (
        f"every mapped NodePort ({mapped}) is in use: leftover Services of earlier runs "
        f"are removed by `rollproof cluster sweep {cluster.name}`; others by their owners, "
        "or recreate the cluster"
    )
    assert "one-too-many" not in {s.metadata.name for s in core.list_namespaced_service(namespace).items}


# --------------------------------------------------------------------------- rights: a ServiceAccount with a Role


@dataclass
class Robot:
    namespace: str
    kubeconfig: Path
    user: str


def _robot(
    core: client.CoreV1Api,
    rbac: client.RbacAuthorizationV1Api,
    access: ClusterAccess,
    namespace: str,
    name: str,
    rules: list[dict[str, Any]] | None,
    *,
    context_namespace: bool = True,
) -> Robot:
    """A ServiceAccount in `namespace` with a Role of `rules` (none: no rights), and a kubeconfig for it."""
    core.create_namespaced_service_account(namespace, {"metadata": {"name": name}})
    if rules is not None:
        rbac.create_namespaced_role(namespace, {"metadata": {"name": name}, "rules": rules})
        rbac.create_namespaced_role_binding(
            namespace,
            {
                "metadata": {"name": name},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
                "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
            },
        )
    token = core.create_namespaced_service_account_token(
        name, namespace, {"spec": {"expirationSeconds": 900}}
    ).status.token
    ca = access.ca_data or Path(access.ca_file or "").read_bytes()
    context: dict[str, Any] = {"cluster": "c", "user": name}
    if context_namespace:
        context["namespace"] = namespace
    path = run_dir() / f"robot-{name}.kubeconfig"  # this process's private directory: gone at exit
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "robot",
                "clusters": [
                    {
                        "name": "c",
                        "cluster": {
                            "server": access.server,
                            "certificate-authority-data": base64.b64encode(ca).decode(),
                        },
                    }
                ],
                "users": [{"name": name, "user": {"token": token}}],
                "contexts": [{"name": "robot", "context": context}],
            },
            f,
        )
    return Robot(namespace, path, f"system:serviceaccount:{namespace}:{name}")


@pytest.fixture
def robot_namespace(core: client.CoreV1Api, timeouts: Timeouts) -> Iterator[str]:
    """A namespace for the ServiceAccounts, owner-labelled like the plugin's (swept if this run is killed)."""
    from harness.namespaces import create_namespace, delete_namespace

    name = create_namespace(core, "rbac", timeouts)
    try:
        yield name
    finally:
        delete_namespace(core, name, timeouts.namespace_delete, timeouts.poll_interval, timeouts)


def _snapshot(core: client.CoreV1Api, apps: client.AppsV1Api, ns: str) -> set[str]:
    kinds = {
        "deployment": apps.list_namespaced_deployment,
        "replicaset": apps.list_namespaced_replica_set,
        "pod": core.list_namespaced_pod,
        "service": core.list_namespaced_service,
        "configmap": core.list_namespaced_config_map,
        "replicationcontroller": core.list_namespaced_replication_controller,
    }
    return {f"{k}/{o.metadata.name}" for k, fn in kinds.items() for o in fn(ns).items}


def test_namespace_scoped_rights_run_a_scenario_and_create_no_namespace(
    cluster, core, apps_api, kube_api, cluster_access, robot_namespace, tmp_path
):
    """A ServiceAccount limited by a Role with the README's rights, its kubeconfig context naming the
    namespace: the rolling-update scenario passes there, no namespace is created, and the namespace is
    left as it was (what the test made is deleted, the run's ConfigMap released)."""
    rbac = client.RbacAuthorizationV1Api(kube_api)
    robot = _robot(core, rbac, cluster_access, robot_namespace, "rollproof-runner", role_rules())
    before_ns = {n.metadata.name for n in core.list_namespace().items}
    before = _snapshot(core, apps_api, robot_namespace)
    child = _start_child(
        tmp_path / "tmp",
        "rbac",
        [
            SCENARIO,
            "--cluster-provider",
            "existing",
            "--kubeconfig",
            str(robot.kubeconfig),
            "--report-dir",
            str(tmp_path / "rep"),
            "--kit-version",
            f"{cluster.major}.{cluster.minor}",
            "--probe-interval",
            POD_ROUTE_INTERVAL,
        ],
    )
    status = child.wait()
    out = child.text()
    assert status == 0, out[-6000:]
    assert f"every test in namespace {robot_namespace}" in out
    assert {n.metadata.name for n in core.list_namespace().items} - before_ns == set()
    assert _snapshot(core, apps_api, robot_namespace) == before
    assert f"configmap/{LEASE}" not in before
    assert _files_left(child.tmp) == [] and _marked_processes(child.mark) == []


def test_missing_rights_are_named_in_one_line(
    cluster, core, kube_api, cluster_access, robot_namespace, tmp_path, timeouts
):
    """A token without rights: in a named namespace the session stops with one line listing what it
    lacks; without a namespace, one line saying it may not create namespaces and what to do; a direct
    call that is refused reads "forbidden: USER may not VERB RESOURCE in namespace NS"."""
    rbac = client.RbacAuthorizationV1Api(kube_api)
    pods_only = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]
    scoped = _robot(core, rbac, cluster_access, robot_namespace, "pods-reader", pods_only)
    bare = _robot(core, rbac, cluster_access, robot_namespace, "nobody", None, context_namespace=False)
    test_file = tmp_path / "t" / "test_ns.py"
    test_file.parent.mkdir()
    test_file.write_text("def test_needs_a_namespace(namespace):\n    pass\n")
    images = ["--old-image", "a:1=a/1", "--new-image", "b:2=b/2"]

    for robot, expected in (
        (
            scoped,
            (
                f"cluster 'current-context' not usable: the kubeconfig's user lacks rights in namespace "
                f"{robot_namespace}: pods (create, update, patch, delete), services (get, list, watch, create, "
                "update, patch, delete), replicationcontrollers (get, list, watch, create, update, patch, "
                "delete), configmaps (get, list, watch, create, update, patch, delete), pods/log (get), "
                "pods/proxy (get), events (get, list, watch), endpointslices.discovery.k8s.io (get, list, watch), "
                "deployments.apps (get, list, watch, create, update, patch, delete), "
                "replicasets.apps (get, list, watch, create, update, patch, delete), statefulsets.apps (get, "
                "list, watch, create, update, patch, delete), daemonsets.apps (get, list, watch, create, update, "
                "patch, delete), controllerrevisions.apps (get, list, watch, create, update, patch, delete), "
                "deployments.apps/scale (get, update, patch) (the README's 'Rights' lists what rollproof needs)"
            ),
        ),
        (
            bare,
            (
                "cluster 'current-context' not usable: the kubeconfig's user lacks cluster-wide rights: namespaces "
                "(create, delete, list); name a namespace it may use instead (--namespace NAME, or the kubeconfig "
                "context's namespace)"
            ),
        ),
    ):
        child = _start_child(
            tmp_path / f"tmp-{robot.user.rsplit(':', 1)[-1]}",
            robot.user.rsplit(":", 1)[-1],
            [
                str(test_file),
                "--cluster-provider",
                "existing",
                "--kubeconfig",
                str(robot.kubeconfig),
                *images,
                "--rootdir",
                str(test_file.parent),
                "--report-dir",
                str(tmp_path / "rep"),
            ],
        )
        status = child.wait()
        out = child.text()
        assert status == pytest.ExitCode.TESTS_FAILED, out[-4000:]
        assert expected in out.splitlines() or f"E   {expected}" in out.splitlines(), out[-4000:]
        assert "ForbiddenException" not in out and "HTTP response headers" not in out
        assert _files_left(child.tmp) == [] and _marked_processes(child.mark) == []

    access = load_kubeconfig(scoped.kubeconfig)
    api = access.api_client()
    try:
        with pytest.raises(Forbidden) as info:
            body = {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "x"},
                "spec": {
                    "selector": {"matchLabels": {"app": "x"}},
                    "template": {
                        "metadata": {"labels": {"app": "x"}},
                        "spec": {"containers": [{"name": "x", "image": "x"}]},
                    },
                },
            }
            call_api(
                client.AppsV1Api(api).create_namespaced_deployment,
                "default",
                body,
                method="POST",
                path="/apis/apps/v1/namespaces/default/deployments",
                timeout=timeouts.api_request,
            )
    finally:
        api.close()
    assert str(info.value) == f"forbidden: {scoped.user} may not create deployments.apps in namespace default"


# --------------------------------------------------------------------------- TLS against the real server


def test_wrong_ca_against_the_real_api_server(cluster_access, tmp_path):
    """A kubeconfig whose CA did not sign the server's certificate: one line, after one attempt."""
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(tmp_path / "k"),
            "-out",
            str(tmp_path / "ca.crt"),
            "-days",
            "1",
            "-subj",
            "/CN=not-the-cluster-ca",
        ],
        check=True,
        capture_output=True,
    )
    (tmp_path / "k").unlink()
    from dataclasses import replace

    wrong = replace(cluster_access, ca_data=(tmp_path / "ca.crt").read_bytes(), ca_file=None)
    started = time.monotonic()
    with pytest.raises(ProviderError) as info:
        wrong.server_version(Timeouts(api_request=10.0))
    assert time.monotonic() - started < 3
    assert re.fullmatch(
        r"certificate verify failed: the kubeconfig's CA does not match the server \(GET /version "
        rf"to {re.escape(cluster_access.server)}, after \d+\.\ds\)",
        str(info.value),
    ), str(info.value)


# --------------------------------------------------------------------------- a cluster interrupted while created


def test_sigterm_while_creating_a_kind_cluster_removes_it(cluster, kit, tmp_path):
    """SIGTERM while `kind create cluster` runs for this run: the half-made cluster is this run's, so it is
    deleted (no node container left); nothing stays in the run's temp directory."""
    if cluster.provider != "kind":
        pytest.skip("creates a kind cluster; this session runs on an existing one")
    kind = kit.kind_bin
    name = f"{cluster.name}-int"
    test_file = tmp_path / "t" / "test_any.py"
    test_file.parent.mkdir()
    test_file.write_text("def test_needs_the_cluster(cluster):\n    pass\n")
    child = _start_child(
        tmp_path / "tmp",
        "create",
        [
            str(test_file),
            "--rollproof-cluster-name",
            name,
            "--kit-version",
            f"{cluster.major}.{cluster.minor}",
            "--rootdir",
            str(test_file.parent),
            "--report-dir",
            str(tmp_path / "rep"),
        ],
    )

    def node_containers() -> list[str]:
        return subprocess.run(
            ["docker", "ps", "-aq", "--filter", f"label=io.x-k8s.kind.cluster={name}"], capture_output=True, text=True
        ).stdout.split()

    try:
        _until(f"kind to start the node container of {name}", node_containers, 300, 0.2)
        time.sleep(3)  # well inside `kind create cluster`
        assert child.proc.poll() is None, child.text()[-3000:]
        child.proc.send_signal(signal.SIGTERM)
        status = child.wait()
        out = child.text()
        assert status == pytest.ExitCode.INTERRUPTED, out[-4000:]
        assert "rollproof: SIGTERM received: tearing down" in out
        assert node_containers() == []
        assert name not in subprocess.run([kind, "get", "clusters"], capture_output=True, text=True).stdout.split()
        assert _files_left(child.tmp) == [] and _marked_processes(child.mark) == []
    finally:
        if child.proc.poll() is None:
            child.proc.kill()
        subprocess.run([kind, "delete", "cluster", "--name", name], capture_output=True)
