"""Bad input and faults without a cluster (issue 8): one line saying what to fix, nothing left behind.

Each case asserts the exact one-line message and that nothing was created,
leaked or left running (files, temp directories, processes). The cases that
need a cluster are in tests/cluster/test_faults_live.py.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from harness import interrupts
from harness.cluster.model import Cluster, NodePortMap
from harness.errors import ConfigError, Forbidden, ProviderError, api_error
from harness.leftovers import OWNER, STARTED, _judge
from harness.owner import Owner, current_owner, process_start
from harness.rundir import remove_run_dir, run_dir, runs_root, sweep_run_dirs
from harness.settings import resolve_settings
from tests.unit.test_kube_config import pki  # noqa: F401  (the module's CA, server and client certificates)

pytest_plugins = ["pytester"]

TOKEN = "tok-SUPERSECRET-0123456789"


@pytest.fixture(autouse=True)
def _no_rollproof_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("ROLLPROOF_") or name == "KUBECONFIG":
            monkeypatch.delenv(name)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# --------------------------------------------------------------------------- owners and private files


def test_owner_round_trip_and_liveness() -> None:
    me = current_owner()
    assert Owner.parse(me.token()) == me and me.alive() is True
    assert Owner(me.host, _dead_pid(), me.start).alive() is False
    assert Owner(me.host, os.getpid(), "00000000:1").alive() is False  # same pid, another process (reused)
    assert Owner("some-other-host", os.getpid(), me.start).alive() is None  # cannot be told from here
    for garbage in (None, "", "host", "host/x/1", "/1/2"):
        assert Owner.parse(garbage) is None


def test_zombie_counts_as_gone() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and process_start(proc.pid) is not None:
        time.sleep(0.05)  # exited but not reaped: a zombie
    assert process_start(proc.pid) is None
    proc.wait()


def test_leftover_judgement_spares_live_runs() -> None:
    me = current_owner()
    mine = {"name": "rp-a", "annotations": {OWNER: me.token(), STARTED: "2026-12-01T04:00:00Z"}}
    assert _judge("namespace", mine) is None  # a live run's: never touched
    gone = _judge("namespace", {"name": "rp-b", "annotations": {OWNER: Owner(me.host, _dead_pid(), me.start).token()}})
    assert gone is not None and gone.removable
    far = _judge("namespace", {"name": "rp-c", "annotations": {OWNER: f"elsewhere/{os.getpid()}/x:1"}})
    assert far is not None and not far.removable and far.delete_command() == "kubectl delete namespace rp-c"
    unowned = _judge("service", {"name": "web", "namespace": "team"})
    assert unowned is not None and not unowned.removable
    assert unowned.delete_command() == "kubectl -n team delete service web"


def test_run_dir_is_private_and_dead_runs_dirs_are_swept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    mine = run_dir()
    assert mine.parent == runs_root() == tmp_path / f"rollproof-{os.getuid()}"
    assert (mine.stat().st_mode & 0o777) == 0o700 and (runs_root().stat().st_mode & 0o777) == 0o700
    dead = runs_root() / f"{_dead_pid()}-x"
    dead.mkdir()
    (dead / "kind-x.kubeconfig").write_text("secret")
    assert sweep_run_dirs() == [dead]
    assert not dead.exists() and mine.exists()  # a live process's directory stays
    remove_run_dir()
    assert not mine.exists()


def _run_python(code: str, tmp: Path, *, send: list[int], wait_for: str, timeout: float = 20) -> tuple[int, str]:
    """Run `code` with TMPDIR=tmp, send it `send` once `wait_for` shows in its output; (status, output)."""
    env = {**os.environ, "TMPDIR": str(tmp), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    out = []
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    for line in proc.stdout:
        out.append(line)
        if wait_for in line:
            break
        assert time.monotonic() < deadline, "".join(out)
    for signum in send:
        proc.send_signal(signum)
        time.sleep(0.3)
    rest, _ = proc.communicate(timeout=timeout)
    return proc.returncode, "".join(out) + rest


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_unwind_like_ctrl_c(tmp_path: Path, signum: int) -> None:
    status, out = _run_python(
        """
        import atexit, time
        from harness import interrupts
        from harness.rundir import run_dir
        interrupts.install()
        (run_dir() / "key").write_text("private")
        atexit.register(print, "atexit ran")
        try:
            print("ready", flush=True)
            time.sleep(30)
        except KeyboardInterrupt as exc:
            print("unwound:", type(exc).__name__, exc, flush=True)
            time.sleep(0.6)  # a second signal arrives here and is only announced
            print("teardown finished", flush=True)
            raise SystemExit(interrupts.exit_status())
    """,
        tmp_path,
        send=[signum, signum],
        wait_for="ready",
    )
    name = signal.Signals(signum).name
    assert status == 128 + signum, out
    assert f"rollproof: {name} received: tearing down as for Ctrl-C" in out
    assert f"unwound: Interrupted {name}" in out
    assert f"rollproof: {name} again: still tearing down; SIGKILL abandons it" in out
    assert "teardown finished" in out and "atexit ran" in out
    assert list(tmp_path.rglob("*")) == [tmp_path / f"rollproof-{os.getuid()}"]  # the run directory went


def test_cli_sigterm_releases_everything(tmp_path: Path, pki: Path) -> None:  # noqa: F811 (the fixture)
    """A command hanging on a silent API server, SIGTERMed: 143, one line, no file or process left."""
    from tests.unit.test_kube_config import b64

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "c",
                "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
                "clusters": [
                    {
                        "name": "k",
                        "cluster": {
                            "server": f"https://127.0.0.1:{listener.getsockname()[1]}",
                            "certificate-authority-data": b64((pki / "ca.crt").read_bytes()),
                        },
                    }
                ],
                "users": [{"name": "u", "user": {"token": TOKEN}}],
            }
        )
    )
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp), "ROLLPROOF_FAULT_MARK": str(tmp)}
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "harness.cli", "cluster", "sweep", "--kubeconfig", str(kubeconfig)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        import select

        assert select.select([listener], [], [], 30)[0], "the command never connected"
        time.sleep(0.3)  # connected (pending in the backlog), waiting for an answer that never comes
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        listener.close()
    assert proc.returncode == 143
    assert err.splitlines()[-1] == (
        "rollproof: interrupted by SIGTERM; rerun the same command to continue where it stopped"
    )
    assert TOKEN not in out + err and "Traceback" not in err
    leftovers = [p for p in tmp.rglob("*") if p != tmp / f"rollproof-{os.getuid()}"]
    assert leftovers == []
    assert not _processes_marked(str(tmp))


def _processes_marked(mark: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
        if f"ROLLPROOF_FAULT_MARK={mark}".encode() in environ.split(b"\0"):
            found.append(int(proc.name))
    return found


# --------------------------------------------------------------------------- API errors, one line each


def test_forbidden_names_user_verb_resource_and_namespace() -> None:
    cluster = api_error(
        403,
        {
            "kind": "Status",
            "reason": "Forbidden",
            "message": 'namespaces is forbidden: User "system:serviceaccount:rp:limited" cannot create '
            'resource "namespaces" in API group "" at the cluster scope',
        },
        "POST",
        "/api/v1/namespaces",
    )
    assert isinstance(cluster, Forbidden)
    assert str(cluster) == "forbidden: system:serviceaccount:rp:limited may not create namespaces cluster-wide"
    scoped = api_error(
        403,
        {
            "message": 'deployments.apps "web" is forbidden: User "alice" cannot patch resource '
            '"deployments" in API group "apps" in the namespace "team"'
        },
    )
    assert str(scoped) == "forbidden: alice may not patch deployments.apps in namespace team"
    bare = api_error(403, "", "DELETE", "/apis/apps/v1/namespaces/team/replicasets/web-1")
    assert str(bare) == "forbidden: this user may not delete replicasets.apps in namespace team"
    assert str(api_error(401, {"message": "Unauthorized"})).startswith(
        "unauthorized: the API server did not accept the kubeconfig's credentials"
    )


# --------------------------------------------------------------------------- options found at configure time


def _resolve(**env: str) -> Any:
    return resolve_settings(lambda name: None, lambda name: None, env)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-1", "environment ROLLPROOF_TIMEOUT_SCALE: '-1' is not a valid timeout_scale (expected a number > 0)"),
        ("0", "environment ROLLPROOF_TIMEOUT_SCALE: '0' is not a valid timeout_scale (expected a number > 0)"),
        ("nan", "environment ROLLPROOF_TIMEOUT_SCALE: 'nan' is not a valid timeout_scale (expected a number > 0)"),
        ("inf", "environment ROLLPROOF_TIMEOUT_SCALE: 'inf' is not a valid timeout_scale (expected a number > 0)"),
    ],
)
def test_timeout_scale_must_be_a_finite_positive_number(value: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        _resolve(ROLLPROOF_TIMEOUT_SCALE=value)
    assert str(info.value) == message


def _usage_error(pytester: pytest.Pytester, *args: str) -> str:
    """Run pytest with `args` on a test that must never run; the one ERROR line it printed."""
    marker = pytester.path / "the-test-ran"
    pytester.makepyfile(
        test_never=f"""
        from pathlib import Path
        def test_never():
            Path({str(marker)!r}).write_text("ran")
    """
    )
    pytester_own = {"stdout", "stderr"}  # runpytest_subprocess's capture files (and its runpytest-N basetemp)

    def files() -> list[str]:
        return sorted(
            p.name
            for p in pytester.path.iterdir()
            if p.name not in pytester_own and not p.name.startswith("runpytest-")
        )

    before = files()
    result = pytester.runpytest("-p", "no:cacheprovider", "--junitxml", "junit.xml", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str() + result.stderr.str()
    assert not marker.exists()
    assert files() == before  # no reports dir, no junit.xml
    errors = [line for line in result.stderr.lines if line.startswith("ERROR:")]
    assert len(errors) == 1 and "Traceback" not in result.stderr.str() and "During handling" not in result.stderr.str()
    return errors[0]


def test_unwritable_report_dir_is_refused_before_any_test(pytester: pytest.Pytester) -> None:
    assert _usage_error(pytester, "--report-dir", "/sys/rollproof-reports") == (
        "ERROR: report directory (option --report-dir) /sys/rollproof-reports is not writable "
        "(Permission denied in /sys): pick a directory you can write to"
    )
    assert not Path("/sys/rollproof-reports").exists()


def test_report_dir_that_is_a_file(pytester: pytest.Pytester) -> None:
    pytester.makefile(".txt", notes="x")
    assert _usage_error(pytester, "--report-dir", "notes.txt/reports") == (
        "ERROR: report directory (option --report-dir) notes.txt/reports is under "
        f"{pytester.path / 'notes.txt'}, which is a file: pick a directory path"
    )


def test_bad_old_image_with_an_existing_cluster(pytester: pytest.Pytester) -> None:
    kubeconfig = _good_kubeconfig(pytester.path)
    assert _usage_error(
        pytester, "--cluster-provider", "existing", "--kubeconfig", str(kubeconfig), "--old-image", "nginx"
    ) == ("ERROR: --old-image 'nginx': give IMAGE=SERVER, e.g. nginx:1.22.1=nginx/1.22.1")


def test_missing_kubeconfig_is_said_once(pytester: pytest.Pytester) -> None:
    assert _usage_error(pytester, "--cluster-provider", "existing", "--kubeconfig", "nope.yaml") == (
        "ERROR: --kubeconfig nope.yaml not found: pass --kubeconfig PATH (and --context NAME)"
    )


def test_malformed_kubeconfig_is_not_echoed_anywhere(pytester: pytest.Pytester) -> None:
    bad = pytester.path / "kubeconfig"
    bad.write_text(f"apiVersion: v1\nusers:\n- name: u\n  user:\n    token: {TOKEN}: oops\n")
    line = _usage_error(pytester, "--cluster-provider", "existing", "--kubeconfig", str(bad))
    assert line == f"ERROR: kubeconfig {bad} is not valid YAML at line 5; regenerate it"
    everything = "".join(p.read_text(errors="replace") for p in pytester.path.rglob("*") if p.is_file() and p != bad)
    assert TOKEN not in everything


def test_unknown_context_found_at_start(pytester: pytest.Pytester) -> None:
    kubeconfig = _good_kubeconfig(pytester.path)
    assert _usage_error(
        pytester,
        "--cluster-provider",
        "existing",
        "--kubeconfig",
        str(kubeconfig),
        "--context",
        "prod",
        "--old-image",
        "a=a/1",
        "--new-image",
        "b=b/2",
    ) == (
        f"ERROR: kubeconfig {kubeconfig}: no context named 'prod' (has: c); "
        "fix the context's context reference or pick another context"
    )


def test_existing_cluster_without_images(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROLLPROOF_CACHE", str(pytester.path / "no-kit"))
    kubeconfig = _good_kubeconfig(pytester.path)
    assert _usage_error(
        pytester, "--cluster-provider", "existing", "--kubeconfig", str(kubeconfig), "--new-image", "b=b/2"
    ) == (
        "ERROR: --cluster-provider existing needs --old-image IMAGE=SERVER (images the cluster can pull), "
        "or a kit build to take them from"
    )


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ("--rollproof-cluster-name", "My_Cluster"),
            "ERROR: option --rollproof-cluster-name 'My_Cluster': a kind cluster name is lower-case letters, digits, "
            "'-' and '.', starting with a letter or digit, at most 50 characters",
        ),
        (
            ("--cluster-name", "My_Cluster"),
            "ERROR: option --cluster-name 'My_Cluster': a kind cluster name is lower-case letters, digits, "
            "'-' and '.', starting with a letter or digit, at most 50 characters",
        ),
        (
            ("--kind-bin", "kind.txt"),
            "ERROR: --kind-bin kind.txt: not executable; give a kind binary (`rollproof kit build` puts one in "
            "$ROLLPROOF_CACHE/bin)",
        ),
        (
            ("--kind-bin", "/nonexistent/kind"),
            "ERROR: --kind-bin /nonexistent/kind: no such file; run `rollproof kit build` or give a kind path",
        ),
        (
            ("--context", "staging"),
            "ERROR: --context is for --cluster-provider existing; a kind cluster's context is its own",
        ),
        (
            ("--kit-version", "1.99"),
            "ERROR: option --kit-version '1.99': the kit builds 1.15, 1.31, 1.32, 1.33, 1.34, 1.35, 1.36, 1.37; "
            "pass one of those",
        ),
        (
            ("--k8s-version", "1.99"),
            "ERROR: option --k8s-version '1.99': the kit builds 1.15, 1.31, 1.32, 1.33, 1.34, 1.35, 1.36, 1.37; "
            "pass one of those",
        ),
        (
            ("--namespace", "Team_A"),
            "ERROR: option --namespace: 'Team_A' is not a valid namespace name (expected lower-case letters, "
            "digits and "
            "'-', at most 63, starting and ending with a letter or digit)",
        ),
        (
            ("--timeout-scale", "-1"),
            "ERROR: option --timeout-scale: '-1' is not a valid timeout_scale (expected a number > 0)",
        ),
        (
            ("--old-image", "a:1=nginx/1", "--new-image", "b:2=nginx/1"),
            "ERROR: old and new images answer with the same Server header; pick two versions",
        ),
    ],
)
def test_option_errors_are_one_line_before_any_test(
    pytester: pytest.Pytester, args: tuple[str, ...], line: str
) -> None:
    (pytester.path / "kind.txt").write_text("not a program\n")  # mode 0644
    assert _usage_error(pytester, *args) == line


def _good_kubeconfig(where: Path) -> Path:
    from tests.unit.test_kube_config import FAKE_CA, b64

    path = where / "good.kubeconfig"
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "c",
                "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
                "clusters": [
                    {
                        "name": "k",
                        "cluster": {"server": "https://127.0.0.1:1", "certificate-authority-data": b64(FAKE_CA)},
                    }
                ],
                "users": [{"name": "u", "user": {"token": TOKEN}}],
            }
        )
    )
    return path


# --------------------------------------------------------------------------- interrupted tests, API errors in tests

_RECORDING_TEST = """
    import os, signal, time
    from pathlib import Path

    import pytest

    # A shell's background job (`cmd &`, as CI may start .ci/run) inherits SIGINT ignored, and then
    # Python installs no KeyboardInterrupt handler; a terminal's Ctrl-C is what this test is about.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)

    @pytest.fixture
    def teardown_marker(tmp_path_factory):
        yield
        Path({marker!r}).write_text("torn down")

    def test_cut_short(record, teardown_marker):
        os.kill(os.getpid(), signal.{signal})
        time.sleep(10)
        raise AssertionError("the signal did not stop the test")
"""


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP", "SIGINT"])
def test_interrupted_test_is_reported_interrupted(pytester: pytest.Pytester, signame: str) -> None:
    marker = pytester.path / "teardown-ran"
    pytester.makepyfile(test_cut=_RECORDING_TEST.format(marker=str(marker), signal=signame))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--report-dir", "out")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert marker.read_text() == "torn down"
    report = json.loads((pytester.path / "out" / "test_cut.py__test_cut_short.json").read_text())
    assert report["outcome"] == "interrupted" and report["message"] == f"interrupted by {signame}"
    summary = json.loads((pytester.path / "out" / "summary.json").read_text())
    assert summary["outcomes"] == {"interrupted": 1}
    if signame != "SIGINT":
        result.stdout.fnmatch_lines([f"rollproof: {signame} received: tearing down as for Ctrl-C*"])


def test_api_errors_in_a_test_are_one_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_api="""
        from kubernetes.client.exceptions import ApiException

        class _Resp:
            status = 403
            reason = "Forbidden"
            data = (b'{"kind":"Status","reason":"Forbidden","message":"pods is forbidden: User \\\\"bob\\\\" '
                    b'cannot list resource \\\\"pods\\\\" in API group \\\\"\\\\" in the namespace \\\\"team\\\\""}')
            headers = {"Audit-Id": "abc", "X-Secret-Header": "HEADERVALUE"}
            def getheaders(self):
                return self.headers

        def test_lists_pods():
            raise ApiException(http_resp=_Resp())
    """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--report-dir", "out", "--junitxml", "junit.xml")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["test_api.py:13: forbidden: bob may not list pods in namespace team"])
    everything = result.stdout.str() + (pytester.path / "junit.xml").read_text()
    assert "HEADERVALUE" not in everything and "HTTP response headers" not in everything


# --------------------------------------------------------------------------- the NodePort picker


class _Resp:
    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self.data = json.dumps(body).encode()
        self.reason = "x"

    def release_conn(self) -> None:
        pass

    def getheaders(self) -> dict[str, str]:
        return {}


class _RacingCore:
    """Lists Services; another run takes `stolen` ports between this run's list and create."""

    def __init__(self, used: set[int], stolen: list[int]) -> None:
        self.used = set(used)
        self.stolen = list(stolen)
        self.created: list[dict[str, Any]] = []

    def list_service_for_all_namespaces(self, **_: Any) -> _Resp:
        return _Resp(200, {"items": [{"spec": {"ports": [{"nodePort": p}]}} for p in sorted(self.used)]})

    def create_namespaced_service(self, namespace: str, body: dict[str, Any], **_: Any) -> _Resp:
        from kubernetes.client.exceptions import ApiException

        port = body["spec"]["ports"][0].get("nodePort")
        if self.stolen:
            self.used.add(self.stolen.pop(0))
        if port in self.used:
            exc = ApiException(status=422, reason="Unprocessable Entity")
            exc.body = json.dumps(
                {
                    "kind": "Status",
                    "code": 422,
                    "reason": "Invalid",
                    "message": f'Service "web" is invalid: spec.ports[0].nodePort: Invalid value: {port}: '
                    "provided port is already allocated",
                }
            )
            raise exc
        self.used.add(port)
        self.created.append(body)
        return _Resp(201, body)


CLUSTER = Cluster(
    name="rp-b",
    provider="kind",
    kubeconfig=Path("/x"),
    context=None,
    git_version="v1.34.4",
    major=1,
    minor=34,
    node_ports=NodePortMap(((30080, 40001), (30081, 40002), (30082, 40003))),
)


def test_service_creation_moves_on_when_its_port_was_taken() -> None:
    from harness.demo import create_service

    core = _RacingCore(used={30080}, stolen=[30081])  # 30081 is free when listed, taken before creation
    body = create_service(core, CLUSTER, "ns", "web", {"app": "web"})  # type: ignore[arg-type]
    assert body["spec"]["ports"][0]["nodePort"] == 30082
    meta = body["metadata"]
    assert meta["labels"]["rollproof.io/owned"] == "true"
    assert Owner.parse(meta["annotations"]["rollproof.io/owner"]) == current_owner()


def test_service_keeps_the_client_address_on_one_node_only() -> None:
    """One node: `externalTrafficPolicy: Local` (no masquerade, so no PAWS drops at the pods' TIME_WAIT);
    several: `Cluster` (the pods run on workers); ClusterIP: no such field."""
    import dataclasses

    from harness.demo import create_service, traffic_policy
    from harness.manifests import service

    one = dataclasses.replace(CLUSTER, nodes=("rp-b-control-plane",))
    three = dataclasses.replace(CLUSTER, nodes=("rp-b-control-plane", "rp-b-worker", "rp-b-worker2"))
    assert (traffic_policy(one), traffic_policy(three)) == ("Local", "Cluster")
    body = create_service(_RacingCore(used=set(), stolen=[]), one, "ns", "web", {"app": "web"})  # type: ignore[arg-type]
    assert body["spec"]["externalTrafficPolicy"] == "Local"
    assert "externalTrafficPolicy" not in service("web", {"app": "web"}, None, external_traffic_policy="Local")["spec"]


def test_service_creation_gives_up_when_every_mapped_port_goes() -> None:
    from harness.demo import create_service

    core = _RacingCore(used=set(), stolen=[30080, 30081, 30082])
    with pytest.raises(ProviderError) as info:
        create_service(core, CLUSTER, "ns", "web", {"app": "web"})  # type: ignore[arg-type]
    assert str(info.value) == (
        "every mapped NodePort (30080, 30081, 30082) is in use: leftover Services of earlier runs are removed by "
        "`rollproof cluster sweep rp-b`; others by their owners, or recreate the cluster"
    )
    assert core.created == []


# --------------------------------------------------------------------------- the CLI


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (
            ["cluster", "sweep", "Bad_Name"],
            "rollproof: error: cluster name 'Bad_Name': a kind cluster name is lower-case letters, digits, '-' "
            "and '.', "
            "starting with a letter or digit, at most 50 characters",
        ),
        (
            ["cluster", "sweep"],
            "rollproof: error: give a kind cluster NAME, or --kubeconfig PATH (and --context) for another cluster",
        ),
        (
            ["cluster", "sweep", "--kubeconfig", "/nonexistent/kubeconfig"],
            "rollproof: error: --kubeconfig /nonexistent/kubeconfig not found: pass --kubeconfig PATH (and "
            "--context NAME)",
        ),
        (
            ["cluster", "sweep", "rp", "--kind-bin", "/proc/self/status"],
            "rollproof: error: --kind-bin /proc/self/status: not executable; give a kind binary (`rollproof kit build` "
            "puts one in $ROLLPROOF_CACHE/bin)",
        ),
        (
            ["cluster", "delete", "rp", "--kind-bin", "/nonexistent/kind"],
            "rollproof: error: --kind-bin /nonexistent/kind: no such file; run `rollproof kit build` or give a "
            "kind path",
        ),
    ],
)
def test_cli_bad_input_is_one_line(argv: list[str], line: str, capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [line]
    assert interrupts.received() is None


# --------------------------------------------------------------------------- a named namespace: what a test made


def test_made_since_spares_the_users_own_objects_and_their_new_pods() -> None:
    from harness.sharedns import _KINDS, SharedNamespace, _Object

    kind = {k.name: k for k in _KINDS}

    def obj(k: str, name: str, *owners: str) -> _Object:  # owners by name; uids unique per kind and name
        return _Object(kind[k], name, f"uid-{k}-{name}", tuple(f"uid-{o}" for o in owners))

    users = [
        obj("deployment", "shop"),
        obj("replicaset", "shop-1", "deployment-shop"),
        obj("configmap", "kube-root-ca.crt"),
    ]
    later = [
        obj("replicaset", "shop-2", "deployment-shop"),
        obj("pod", "shop-2-x", "replicaset-shop-2"),
        obj("pod", "job-pod", "job-a"),
    ]  # the user's rollout since; a pod of a kind not tracked
    tests = [
        obj("deployment", "web"),
        obj("replicaset", "web-1", "deployment-web"),
        obj("pod", "web-1-a", "replicaset-web-1"),
        obj("pod", "prober"),
        obj("service", "web"),
    ]
    objects = {o.uid: o for o in users + later + tests}
    made = SharedNamespace._made_since(objects, frozenset(o.uid for o in users))
    assert [o.describe() for o in made] == [
        "deployment/web",
        "pod/prober",
        "pod/web-1-a",
        "replicaset/web-1",
        "service/web",
    ]


def test_kit_manifest_of_another_version_is_one_line(tmp_path: Path) -> None:
    from harness.session import read_manifest

    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"app_images": [], "containerd_version": "v9", "something_new": 1}))
    with pytest.raises(ConfigError) as info:
        read_manifest(path)
    assert str(info.value) == (
        f"kit manifest {path} was written by another rollproof version: rebuild it "
        "(`rollproof kit build`), or pick a build with --kit-version or --kit-manifest"
    )


def test_soak_passes_what_follows_double_dash_to_pytest_untouched(monkeypatch: pytest.MonkeyPatch) -> None:
    """`rollproof soak -k X -- --opt value` once took `--opt value` for test paths (and selected nothing)."""
    import subprocess

    from harness import cli

    calls: list[list[str]] = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: calls.append(cmd) or subprocess.CompletedProcess(cmd, 0))
    assert cli.main(["soak", "-n", "3", "-k", "x", "--", "--rollproof-cluster-name", "rp", "--keep-cluster"]) == 0
    command = calls[0]
    assert command[3] == "suites/" and command[-3:] == ["--rollproof-cluster-name", "rp", "--keep-cluster"]


def test_cluster_delete_removes_a_half_made_cluster_that_has_no_kubeconfig_yet(tmp_path: Path) -> None:
    """A creation interrupted before kind wrote the kubeconfig: listed, but `kind get kubeconfig` fails.
    Nothing can be using it, so `rollproof cluster delete` deletes it (it used to stop at the kubeconfig)."""
    from harness.cli import main

    calls = tmp_path / "calls"
    kind = tmp_path / "kind"
    kind.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> {calls}\n'
        'case "$1 $2" in\n'
        '  "get clusters") echo rp-half ;;\n'
        '  "get kubeconfig") echo "cat: /etc/kubernetes/admin.conf: No such file or directory" >&2; exit 1 ;;\n'
        "esac\n"
    )
    kind.chmod(0o755)
    assert main(["cluster", "delete", "rp-half", "--kind-bin", str(kind)]) == 0
    assert calls.read_text().splitlines()[-1] == "delete cluster --name rp-half"
