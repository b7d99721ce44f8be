"""Kubeconfig parsing, secret hiding, private TLS files, and the raw/typed clients over real TLS.

The transport tests run a small HTTPS server on 127.0.0.1 with a CA, server
and client certificates made by the `openssl` CLI (skipped when it is absent):
nothing above the socket is mocked.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import shutil
import ssl
import stat
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.errors import ApiError, ConfigError, NotFound, ProviderError
from harness.kube.config import ClusterAccess, Secret, load_kubeconfig, parse_server_version
from harness.kube.patches import RawRequest, json_patch, op_replace
from harness.kube.raw import EXCERPT_LIMIT, RawApi
from harness.timeouts import Timeouts

FAKE_CA = b"-----BEGIN CERTIFICATE-----\nRkFLRUNB\n-----END CERTIFICATE-----\n"
FAKE_CERT = b"-----BEGIN CERTIFICATE-----\nRkFLRUNFUlQ=\n-----END CERTIFICATE-----\n"
FAKE_KEY = b"-----BEGIN PRIVATE KEY-----\nU1VQRVJTRUNSRVRLRVlNQVRFUklBTA==\n-----END PRIVATE KEY-----\n"
KEY_MARKER = "U1VQRVJTRUNSRVRLRVlNQVRFUklBTA"
TOKEN = "tok-SUPERSECRET-0123456789"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def kubeconfig(
    server: str = "https://127.0.0.1:6443",
    *,
    user: dict[str, Any] | None = None,
    cluster: dict[str, Any] | None = None,
    current: str | None = "kind-rp",
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "kind-rp",
                "cluster": cluster
                if cluster is not None
                else {"server": server, "certificate-authority-data": b64(FAKE_CA)},
            },
            {
                "name": "other",
                "cluster": {"server": "https://10.0.0.1:6443", "certificate-authority-data": b64(FAKE_CA)},
            },
        ],
        "users": [
            {
                "name": "kind-rp",
                "user": user
                if user is not None
                else {"client-certificate-data": b64(FAKE_CERT), "client-key-data": b64(FAKE_KEY)},
            },
            {"name": "robot", "user": {"token": TOKEN}},
        ],
        "contexts": [
            {"name": "kind-rp", "context": {"cluster": "kind-rp", "user": "kind-rp"}},
            {"name": "robot", "context": {"cluster": "other", "user": "robot", "namespace": "team"}},
        ],
    }
    if current:
        doc["current-context"] = current
    return doc


def write(tmp_path: Path, doc: Any, name: str = "kubeconfig") -> Path:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc))
    return path


# --------------------------------------------------------------------------- parsing


def test_loads_kind_style_kubeconfig(tmp_path: Path) -> None:
    access = load_kubeconfig(write(tmp_path, kubeconfig()))
    assert access.server == "https://127.0.0.1:6443"
    assert access.context == "kind-rp"
    assert access.ca_data == FAKE_CA
    assert access.client_cert_data == FAKE_CERT
    assert isinstance(access.client_key_data, Secret)
    assert access.client_key_data.reveal() == FAKE_KEY
    assert access.token is None
    assert access.auth == "client-certificate"


def test_explicit_context_with_token_and_namespace(tmp_path: Path) -> None:
    access = load_kubeconfig(write(tmp_path, kubeconfig()), context="robot")
    assert (access.context, access.cluster, access.user, access.namespace) == ("robot", "other", "robot", "team")
    assert access.token == Secret(TOKEN)
    assert access.auth == "token"


def test_secrets_never_show(tmp_path: Path) -> None:
    for ctx in ("kind-rp", "robot"):
        access = load_kubeconfig(write(tmp_path, kubeconfig()), context=ctx)
        shown = [
            repr(access),
            str(access),
            f"{access}",
            f"{access!r}",
            str(dataclasses.asdict(access)),
            repr(access.token),
            f"{access.token}",
            str(access.client_key_data),
        ]
        for text in shown:
            assert TOKEN not in text
            assert KEY_MARKER not in text
            assert b64(FAKE_KEY) not in text
        assert "<hidden>" in str(dataclasses.asdict(access))


def test_relative_files_resolve_against_the_kubeconfig_folder(tmp_path: Path) -> None:
    (tmp_path / "pki").mkdir()
    (tmp_path / "pki" / "ca.crt").write_bytes(FAKE_CA)
    (tmp_path / "pki" / "c.crt").write_bytes(FAKE_CERT)
    (tmp_path / "pki" / "c.key").write_bytes(FAKE_KEY)
    (tmp_path / "tok").write_text(TOKEN + "\n")
    doc = kubeconfig(
        cluster={"server": "https://h:1", "certificate-authority": "pki/ca.crt"},
        user={"client-certificate": "pki/c.crt", "client-key": "pki/c.key"},
    )
    access = load_kubeconfig(write(tmp_path, doc))
    assert access.ca_file == str(tmp_path / "pki" / "ca.crt")
    assert access.client_key_file == str(tmp_path / "pki" / "c.key")
    doc = kubeconfig(user={"tokenFile": "tok"})
    assert load_kubeconfig(write(tmp_path, doc)).token == Secret(TOKEN)


@pytest.mark.parametrize(
    "doc,fragment",
    [
        (kubeconfig(current=None), "no current-context"),
        (kubeconfig(server="http://127.0.0.1:8080"), "not https"),
        (kubeconfig(cluster={"server": "https://h:1", "insecure-skip-tls-verify": True}), "insecure-skip-tls-verify"),
        (kubeconfig(user={"exec": {"command": "aws"}}), "'exec'"),
        (kubeconfig(user={"username": "u", "password": "hunter2"}), "'username'"),
        (kubeconfig(user={"client-certificate-data": b64(FAKE_CERT)}), "without its key"),
        (kubeconfig(user={}), "no client certificate or token"),
        (kubeconfig(user={"client-certificate-data": "!!notbase64", "client-key-data": b64(FAKE_KEY)}), "base64"),
        (kubeconfig(user={"client-certificate-data": b64(b"junk"), "client-key-data": b64(FAKE_KEY)}), "not PEM"),
        (kubeconfig(user={"client-certificate": "missing.crt", "client-key": "missing.key"}), "does not exist"),
        (kubeconfig(current="nope"), "no context named 'nope'"),
        ("- just\n- a list\n", "not a kubeconfig"),
        ("clusters: [\n", "not valid YAML"),
    ],
)
def test_bad_kubeconfig_is_one_line_config_error(tmp_path: Path, doc: Any, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_kubeconfig(write(tmp_path, doc))
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message
    assert "hunter2" not in message and KEY_MARKER not in message


def test_missing_kubeconfig_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist; create the cluster") as info:
        load_kubeconfig(tmp_path / "nope")
    assert "\n" not in str(info.value)


def test_unknown_context_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"has: kind-rp, robot"):
        load_kubeconfig(write(tmp_path, kubeconfig()), context="prod")


@pytest.mark.parametrize(
    "body,expected",
    [
        ({"major": "1", "minor": "34", "gitVersion": "v1.34.0"}, (1, 34)),
        ({"major": "1", "minor": "34+", "gitVersion": "v1.34.2-eks-1"}, (1, 34)),
        ({"major": "", "minor": "", "gitVersion": "v1.31.4"}, (1, 31)),
    ],
)
def test_parse_server_version(body: dict[str, str], expected: tuple[int, int]) -> None:
    v = parse_server_version(body)
    assert (v.major, v.minor) == expected
    assert v.git_version == body["gitVersion"]
    assert v.at_least(1, 30) and not v.at_least(2, 0)


def test_parse_server_version_refuses_garbage() -> None:
    with pytest.raises(ConfigError):
        parse_server_version({"major": "x"})


def test_tls_files_are_memory_files_that_vanish(tmp_path: Path) -> None:
    access = load_kubeconfig(write(tmp_path, kubeconfig()))
    files = access.tls_files()
    assert files.directory is None and len(files.descriptors) == 3
    for path, data in ((files.ca_file, FAKE_CA), (files.cert_file, FAKE_CERT), (files.key_file, FAKE_KEY)):
        assert path is not None and path.startswith("/proc/self/fd/")
        assert Path(path).read_bytes() == data
        assert Path(path).read_bytes() == data  # every open reads from the start
        assert os.readlink(path).startswith("/memfd:rollproof-")  # anonymous memory, in no directory
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert not files.closed
    files.close()
    assert files.closed
    for path in (files.ca_file, files.cert_file, files.key_file):
        assert not (os.path.exists(path) and os.readlink(path).startswith("/memfd:rollproof-"))
    files.close()  # idempotent


def test_tls_files_fall_back_to_the_private_run_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.rundir import run_dir

    monkeypatch.delattr(os, "memfd_create")
    access = load_kubeconfig(write(tmp_path, kubeconfig()))
    files = access.tls_files()
    assert files.directory is not None and files.directory.startswith(str(run_dir()))
    assert stat.S_IMODE(os.stat(run_dir()).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(files.directory).st_mode) == 0o700
    for path, data in ((files.ca_file, FAKE_CA), (files.cert_file, FAKE_CERT), (files.key_file, FAKE_KEY)):
        assert path is not None and path.startswith(files.directory)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert Path(path).read_bytes() == data
    files.close()
    assert not os.path.exists(files.directory)
    files.close()  # idempotent


def test_api_client_close_releases_its_files(tmp_path: Path) -> None:
    access = load_kubeconfig(write(tmp_path, kubeconfig()))
    client = access.api_client()
    key_file = client.configuration.key_file
    assert key_file and Path(key_file).read_bytes() == FAKE_KEY
    assert client.configuration.verify_ssl is True
    assert client.configuration.retries == 0
    client.close()
    assert not (os.path.exists(key_file) and os.readlink(key_file).startswith("/memfd:rollproof-client.key"))


# --------------------------------------------------------------------------- real TLS on 127.0.0.1


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI not installed; needed to make test certificates")
    d = tmp_path_factory.mktemp("pki")
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=rollproof-test-ca",
        cwd=d,
    )
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    for name, subj, ext in (
        ("server", "/CN=127.0.0.1", ["-extfile", "san.ext"]),
        ("client", "/CN=rollproof-user/O=system:masters", []),
    ):
        _openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.csr",
            "-subj",
            subj,
            cwd=d,
        )
        _openssl(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            f"{name}.crt",
            "-days",
            "2",
            *ext,
            cwd=d,
        )
    # a second CA the server does not chain to
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "other.key",
        "-out",
        "other.crt",
        "-days",
        "2",
        "-subj",
        "/CN=other-ca",
        cwd=d,
    )
    return d


class _Handler(BaseHTTPRequestHandler):
    seen: list[dict[str, Any]] = []

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        pass

    def _reply(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Audit-Id", "audit-1")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        peer = self.connection.getpeercert() if hasattr(self.connection, "getpeercert") else None
        type(self).seen.append(
            {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body, "peer": peer}
        )
        if self.path.rstrip("/") == "/version":  # the typed client asks for "/version/"
            self._reply(200, {"major": "1", "minor": "34+", "gitVersion": "v1.34.1"})
        elif self.path.startswith("/big"):
            self._reply(200, {"items": ["x" * 100] * 100})
        elif self.path.startswith("/apis/apps/v1/namespaces/ns/deployments/web"):
            self._reply(200, {"kind": "Deployment", "patched": json.loads(body or b"null")})
        else:
            self._reply(
                404,
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "status": "Failure",
                    "reason": "NotFound",
                    "message": f"{self.path} not found",
                    "code": 404,
                },
            )

    do_GET = do_PATCH = do_POST = do_PUT = _handle


@pytest.fixture(scope="module")
def server(pki: Path) -> Iterator[str]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki / "server.crt", pki / "server.key")
    ctx.load_verify_locations(pki / "ca.crt")
    ctx.verify_mode = ssl.CERT_OPTIONAL  # client cert when given (mTLS users), else token users
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def access_for(tmp_path: Path, pki: Path, server: str, *, token: bool = False, ca: str = "ca.crt") -> ClusterAccess:
    user = (
        {"token": TOKEN}
        if token
        else {
            "client-certificate-data": b64((pki / "client.crt").read_bytes()),
            "client-key-data": b64((pki / "client.key").read_bytes()),
        }
    )
    doc = kubeconfig(
        server, user=user, cluster={"server": server, "certificate-authority-data": b64((pki / ca).read_bytes())}
    )
    return load_kubeconfig(write(tmp_path, doc))


FAST = Timeouts(api_request=10.0)


def test_raw_api_mtls_records_exchanges(tmp_path: Path, pki: Path, server: str) -> None:
    access = access_for(tmp_path, pki, server)
    with RawApi(access, FAST) as raw:
        key_file = raw._files.key_file
        assert key_file and stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
        resp = raw.send(RawRequest("GET", "/version"))
        assert resp.status == 200 and resp.body["minor"] == "34+"
        assert resp.headers == {"Content-Type": "application/json", "Audit-Id": "audit-1"}
        patch = json_patch("/apis/apps/v1/namespaces/ns/deployments/web", [op_replace("/spec/replicas", 2)])
        resp = raw.call(patch)
        assert resp.body["patched"] == [{"op": "replace", "path": "/spec/replicas", "value": 2}]
        seen = _Handler.seen[-1]
        assert seen["headers"]["Content-Type"] == "application/json-patch+json"
        assert seen["path"] == "/apis/apps/v1/namespaces/ns/deployments/web?fieldManager=rollproof"
        assert seen["peer"]["subject"][0][0] == ("commonName", "rollproof-user")  # mTLS happened
        ex = raw.exchanges
        assert [(e.method, e.path, e.status) for e in ex] == [
            ("GET", "/version", 200),
            ("PATCH", "/apis/apps/v1/namespaces/ns/deployments/web", 200),
        ]
        assert ex[1].content_type == "application/json-patch+json"
        assert json.loads(ex[1].request_excerpt)[0]["path"] == "/spec/replicas"
        assert ex[0].t <= ex[1].t and ex[1].elapsed > 0
    assert raw.closed and not os.path.exists(key_file)


def test_raw_api_check_raises_parsed_status(tmp_path: Path, pki: Path, server: str) -> None:
    with RawApi(access_for(tmp_path, pki, server), FAST) as raw:
        resp = raw.send(RawRequest("GET", "/api/v1/namespaces/ns/pods/nope"))
        assert resp.status == 404 and not resp.ok
        with pytest.raises(NotFound) as info:
            raw.check(resp)
        err = info.value
        assert isinstance(err, ApiError)
        assert err.reason == "NotFound" and err.body["code"] == 404
        assert err.method == "GET" and err.path == "/api/v1/namespaces/ns/pods/nope"


def test_raw_api_excerpts_are_bounded(tmp_path: Path, pki: Path, server: str) -> None:
    with RawApi(access_for(tmp_path, pki, server), FAST) as raw:
        resp = raw.send(RawRequest("GET", "/big"))
        assert len(resp.body["items"]) == 100
        assert len(raw.exchanges[-1].response_excerpt.encode()) <= EXCERPT_LIMIT
        assert "bytes]" in raw.exchanges[-1].response_excerpt


def test_raw_api_token_is_sent_but_never_recorded(tmp_path: Path, pki: Path, server: str) -> None:
    access = access_for(tmp_path, pki, server, token=True)
    with RawApi(access, FAST) as raw:
        raw.send(RawRequest("GET", "/version"))
        assert _Handler.seen[-1]["headers"]["Authorization"] == f"Bearer {TOKEN}"
        assert raw._files.key_file is None
        dumped = repr(raw) + repr(raw.exchanges) + repr(raw._session.auth) + repr(raw._session.__dict__)
        assert TOKEN not in dumped


def test_raw_api_secret_bodies_are_redacted(tmp_path: Path, pki: Path, server: str) -> None:
    with RawApi(access_for(tmp_path, pki, server), FAST) as raw:
        raw.send(
            RawRequest(
                "PUT", "/api/v1/namespaces/ns/secrets/s", "application/json", b'{"data":{"password":"aHVudGVyMg=="}}'
            )
        )
        ex = raw.exchanges[-1]
        assert "aHVudGVyMg" not in ex.request_excerpt and "redacted" in ex.request_excerpt


def test_raw_api_refuses_wrong_ca(tmp_path: Path, pki: Path, server: str) -> None:
    with RawApi(access_for(tmp_path, pki, server, ca="other.crt"), FAST) as raw:
        with pytest.raises(ProviderError) as info:
            raw.send(RawRequest("GET", "/version"))
        assert str(info.value).startswith("certificate verify failed: the kubeconfig's CA does not match the server")
        assert raw.exchanges[-1].status is None and raw.exchanges[-1].error == "SSLError"


def test_raw_api_unreachable_server(tmp_path: Path, pki: Path) -> None:
    with RawApi(access_for(tmp_path, pki, "https://127.0.0.1:9"), FAST) as raw:
        with pytest.raises(
            ProviderError, match=r"^connection refused \(GET /version to https://127.0.0.1:9, after 0\.\d"
        ):
            raw.send(RawRequest("GET", "/version"))


def test_server_version_through_typed_client(tmp_path: Path, pki: Path, server: str) -> None:
    v = access_for(tmp_path, pki, server).server_version(FAST)
    assert (v.major, v.minor, v.git_version) == (1, 34, "v1.34.1")
    v = access_for(tmp_path, pki, server, token=True).server_version(FAST)
    assert v.minor == 34
    assert _Handler.seen[-1]["headers"]["Authorization"] == f"Bearer {TOKEN}"


def test_typed_client_errors_are_translated(tmp_path: Path, pki: Path, server: str) -> None:
    import kubernetes.client

    from harness.kube.config import call_api

    access = access_for(tmp_path, pki, server)
    client = access.api_client()
    try:
        apps = kubernetes.client.AppsV1Api(client)
        with pytest.raises(NotFound) as info:
            call_api(apps.read_namespaced_deployment, "nope", "ns", method="GET", path="deployments/nope", timeout=10.0)
        assert info.value.body["reason"] == "NotFound"
        assert isinstance(info.value.__cause__, kubernetes.client.exceptions.ApiException)
    finally:
        client.close()
    bad = access_for(tmp_path, pki, server, ca="other.crt")
    with pytest.raises(ProviderError):
        bad.server_version(Timeouts(api_request=5.0))


def test_api_exception_error_is_the_one_translation() -> None:
    from kubernetes.client.exceptions import ApiException

    from harness.errors import Unreachable
    from harness.kube.config import api_exception_error

    missing = ApiException(status=404, reason="Not Found")
    missing.body = json.dumps({"kind": "Status", "reason": "NotFound", "message": 'pods "web" not found'})
    err = api_exception_error(missing, "GET", "/api/v1/namespaces/ns/pods/web")
    assert isinstance(err, NotFound) and err.body["reason"] == "NotFound"
    assert str(err) == 'GET /api/v1/namespaces/ns/pods/web: 404 NotFound: pods "web" not found'
    silent = api_exception_error(ApiException(status=0, reason="connection aborted"), "GET", "/version", 1.5)
    assert isinstance(silent, Unreachable) and (str(silent), silent.elapsed) == (
        "GET /version: connection aborted",
        1.5,
    )
    assert str(api_exception_error(ApiException(status=None))) == "no response"


def test_typed_client_models_go_through_the_boundary_too(tmp_path: Path, pki: Path, server: str) -> None:
    """The harness's typed-client calls that keep the client's models (namespace dump, cluster readiness,
    ready pods) raise or report `harness.errors`, never the client's ApiException (the server answers 404)."""
    import kubernetes.client

    from harness.cluster.ready import wait_cluster_ready
    from harness.errors import WaitTimeout
    from harness.namespaces import dump_namespace
    from harness.workloads import ready_pods

    client = access_for(tmp_path, pki, server).api_client()
    try:
        dump = dump_namespace(client, "ns").splitlines()
        assert dump[0] == "namespace ns"
        assert dump[-1].startswith("(dump incomplete: GET /apis/apps/v1/namespaces/ns/deployments: 404 NotFound: ")
        with pytest.raises(NotFound, match="GET /api/v1/namespaces/ns/pods: 404"):
            ready_pods(kubernetes.client.CoreV1Api(client), "ns", {"app": "web"})
        with pytest.raises(WaitTimeout) as info:
            wait_cluster_ready(client, timeout=0.05, interval=0.01)
        assert info.value.last_seen.startswith("API not answering: GET /api/v1/nodes: 404 NotFound: ")
    finally:
        client.close()


# --------------------------------------------------------------------------- issue 8: what failed, said once


def test_malformed_kubeconfig_never_quotes_its_token(tmp_path: Path) -> None:
    path = write(tmp_path, f"apiVersion: v1\nusers:\n- name: u\n  user:\n    token: {TOKEN}: oops\n")
    with pytest.raises(ConfigError) as info:
        load_kubeconfig(path)
    assert str(info.value) == f"kubeconfig {path} is not valid YAML at line 5; regenerate it"
    assert info.value.__cause__ is None and info.value.__suppress_context__  # no chained YAML error to print
    import traceback

    shown = "".join(traceback.format_exception(info.value))
    assert TOKEN not in shown and "oops" not in shown


def test_ca_that_is_not_a_certificate_is_named(tmp_path: Path) -> None:
    """PEM markers around garbage pass parsing; the TLS library refuses it: one line that says so."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # the TLS context is made once a connection is up
    server = f"https://127.0.0.1:{listener.getsockname()[1]}"
    try:
        access = load_kubeconfig(write(tmp_path, kubeconfig(server)))
        with pytest.raises(ProviderError) as info:
            access.server_version(Timeouts(api_request=5.0))
    finally:
        listener.close()
    assert str(info.value).startswith(
        "the kubeconfig's certificate-authority or client certificate/key is not "
        f"valid PEM data; re-export the kubeconfig (GET /version to {server}, after 0."
    )


def test_kubeconfig_that_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"is a directory; point at the kubeconfig file inside it$"):
        load_kubeconfig(tmp_path)


def test_wrong_ca_is_named_after_one_attempt(tmp_path: Path, pki: Path, server: str) -> None:
    before = len(_Handler.seen)
    with pytest.raises(ProviderError) as info:
        access_for(tmp_path, pki, server, ca="other.crt").server_version(Timeouts(api_request=5.0))
    text = str(info.value)
    assert text.startswith(
        f"certificate verify failed: the kubeconfig's CA does not match the server (GET /version to {server}, after 0."
    )
    assert "\n" not in text and "SSLError" not in text
    assert len(_Handler.seen) == before  # no request reached the handler (and none was retried)


def test_refused_connection_is_not_a_timeout(tmp_path: Path, pki: Path) -> None:
    import time

    access = access_for(tmp_path, pki, "https://127.0.0.1:1")
    started = time.monotonic()
    with pytest.raises(ProviderError) as info:
        access.server_version(Timeouts(api_request=30.0))
    assert time.monotonic() - started < 2
    assert str(info.value).startswith("connection refused (GET /version to https://127.0.0.1:1, after 0.")
    assert "timed out" not in str(info.value)


def test_silent_listener_times_out_once_with_the_real_time(tmp_path: Path, pki: Path) -> None:
    import socket
    import time

    from harness.errors import WaitTimeout

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # accepts connections (the kernel's backlog) and never answers
    try:
        server = f"https://127.0.0.1:{listener.getsockname()[1]}"
        started = time.monotonic()
        with pytest.raises(WaitTimeout) as info:
            access_for(tmp_path, pki, server).server_version(Timeouts(api_request=1.5))
        took = time.monotonic() - started
    finally:
        listener.close()
    assert 1.4 < took < 3.0  # one attempt of 1.5 s, not four (urllib3's default retries)
    assert str(info.value).startswith(
        f"timed out after 2s waiting for the API server to answer GET /version to "
        f"{server}; last saw: the connection was accepted but no response came in 1."
    )


def test_unknown_host_name(tmp_path: Path, pki: Path) -> None:
    with pytest.raises(
        ProviderError,
        match=r"^cannot resolve the API server's host name \(GET /version to "
        r"https://no-such-host\.invalid:6443, after \d+\.\ds\); fix the",
    ):
        access_for(tmp_path, pki, "https://no-such-host.invalid:6443").server_version(Timeouts(api_request=5.0))
