"""What `rollproof rolling-update` refuses before its first write, and kubectl's syntax it accepts (no cluster)."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest

from harness.cli import _parser
from harness.errors import ConfigError
from harness.rollout.rcupdate import checks, command
from harness.rollout.rcupdate.checks import (
    check_fenceposts,
    check_image,
    check_rc_manifest,
    load_manifest_text,
    parse_duration,
)

# --------------------------------------------------------------------------- Go durations


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("10s", 10.0),
        ("1m30s", 90.0),
        ("500ms", 0.5),
        ("0", 0.0),
        ("1.5h", 5400.0),
        (".5s", 0.5),
        ("1.s", 1.0),
        ("+2s", 2.0),
        ("2h45m0.5s", 9900.5),
        ("1us", 1e-6),
        ("1\u00b5s", 1e-6),
        ("1\u03bcs", 1e-6),
        ("100ns", 1e-7),
        ("1m0s", 60.0),
        ("5m0s", 300.0),
        ("-0", 0.0),
        ("0s", 0.0),
    ],
)
def test_go_durations_are_read_as_time_ParseDuration_reads_them(text: str, seconds: float) -> None:
    assert parse_duration(text, "--update-period") == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("10", "'10' has a number without a unit; write it like 10s"),
        ("2.5", "'2.5' has a number without a unit; write it like 2.5s"),
        ("1h5", "has a number without a unit"),
        ("", "empty duration"),
        ("s", "is not a duration"),
        (".", "is not a duration"),
        ("-", "is not a duration"),
        ("1d", "unknown unit 'd'"),
        ("10 s", "unknown unit ' s'"),
        ("1e3s", "unknown unit 'e'"),
        ("-1s", "is negative"),
        ("3000000h", "out of range"),
    ],
)
def test_bad_durations_are_refused_in_one_line_naming_the_flag(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_duration(text, "--update-period")
    assert str(refused.value).startswith("--update-period: ")
    assert message in str(refused.value)
    assert "\n" not in str(refused.value)


def test_a_zero_poll_interval_is_refused() -> None:
    with pytest.raises(ConfigError, match="longer than 0"):
        parse_duration("0s", "--poll-interval", allow_zero=False)


# --------------------------------------------------------------------------- images


@pytest.mark.parametrize(
    "image",
    [
        "nginx",
        "rollproof/nginx:1.26.3",
        "localhost:5000/a/b:v1",
        "registry.k8s.io/pause:3.10",
        "a.b-c_d__e/f---g:T_1.x-y",
        "nginx@sha256:" + "ab" * 32,
        "host.example:443/x/y:z@sha512:" + "0" * 128,
    ],
)
def test_image_references_that_a_runtime_can_pull_are_accepted(image: str) -> None:
    assert check_image(image) == image


@pytest.mark.parametrize(
    ("image", "shown"),
    [
        ("Nginx", "'Nginx'"),
        ("nginx:", "'nginx:'"),
        ("/etc", "'/etc'"),
        ("a//b", "'a//b'"),
        ("nginx:" + "x" * 129, "a 135-character text"),
        ("a@sha256:12", "'a@sha256:12'"),
        ("root:x:0:0:root:/root:/bin/bash daemon:x:1:1", "a 44-character text"),
        ("line\nbreak", "a 10-character text"),
    ],
)
def test_image_references_are_checked_and_never_quoted_at_length(image: str, shown: str) -> None:
    with pytest.raises(ConfigError) as refused:
        check_image(image, "--image")
    assert str(refused.value).startswith(f"--image: {shown} is not an image reference")


@pytest.mark.parametrize("image", [None, "", 3, ["nginx"]])
def test_an_image_is_required(image: Any) -> None:
    with pytest.raises(ConfigError, match="an image reference is required"):
        check_image(image, "--image")


# --------------------------------------------------------------------------- surge / unavailable


@pytest.mark.parametrize(("surge", "unavailable"), [(0, 0), ("0", "0%"), ("0%", "0%"), (0, "0%")])
def test_surge_and_unavailable_both_zero_is_refused(surge: Any, unavailable: Any) -> None:
    with pytest.raises(ConfigError, match="both 0"):
        check_fenceposts(surge, unavailable)


@pytest.mark.parametrize(("surge", "unavailable"), [(1, 0), (0, 1), ("25%", "0%"), ("0%", "1%"), ("1", "0")])
def test_either_one_allows_progress(surge: Any, unavailable: Any) -> None:
    check_fenceposts(surge, unavailable)


@pytest.mark.parametrize("bad", [-1, "x", "1.5", True, None, "-5%"])
def test_malformed_surge_is_refused(bad: Any) -> None:
    with pytest.raises(ConfigError, match="max_surge"):
        check_fenceposts(bad, 1)


# --------------------------------------------------------------------------- manifests


def _rc(name: str = "web-v2", labels: dict[str, str] | None = None) -> dict[str, Any]:
    labels = labels or {"app": "web", "ver": "v2"}
    return {
        "apiVersion": "v1",
        "kind": "ReplicationController",
        "metadata": {"name": name, "labels": dict(labels)},
        "spec": {
            "replicas": 3,
            "selector": dict(labels),
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {"containers": [{"name": "nginx", "image": "rollproof/nginx:1.26.3"}]},
            },
        },
    }


def test_a_valid_manifest_passes_unchanged() -> None:
    rc = _rc()
    assert check_rc_manifest(copy.deepcopy(rc), "-f rc.yaml") == rc


def _broken(path: str, value: Any) -> dict[str, Any]:
    rc = _rc()
    *parents, last = path.split(".")
    node: Any = rc
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is _DELETE:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return rc


_DELETE = object()

BROKEN = [
    ("kind", "Deployment", "-f rc.yaml: kind 'Deployment' (v1), not a ReplicationController"),
    ("kind", _DELETE, "-f rc.yaml: no kind, not a ReplicationController"),
    ("apiVersion", "apps/v1", "-f rc.yaml: apiVersion 'apps/v1'; a ReplicationController is apiVersion v1"),
    ("metadata", _DELETE, "-f rc.yaml: metadata must be an object, it is missing"),
    ("metadata.name", "Web_2", "-f rc.yaml: metadata.name 'Web_2' is not a valid name"),
    ("metadata.name", _DELETE, "-f rc.yaml: metadata.name None is not a valid name"),
    ("metadata.namespace", "a.b", "-f rc.yaml: metadata.namespace 'a.b' is not a valid name"),
    ("metadata.labels", ["app"], "-f rc.yaml: metadata.labels must be a mapping"),
    ("spec", "x", "-f rc.yaml: spec must be an object, it is a single text value"),
    ("spec.replicas", -1, "-f rc.yaml: spec.replicas must be a whole number of 0 or more, not -1"),
    ("spec.replicas", "3", "-f rc.yaml: spec.replicas must be a whole number of 0 or more, not '3'"),
    ("spec.selector", {"app": 1}, "-f rc.yaml: spec.selector: the value of 'app' must be a string"),
    ("spec.selector", {"app": "other"}, "-f rc.yaml: spec.selector {'app': 'other'} does not match the template"),
    ("spec.selector", {"bad key!": "x"}, "-f rc.yaml: spec.selector: 'bad key!' is not a valid label key"),
    ("spec.template", _DELETE, "-f rc.yaml: spec.template must be an object, it is missing"),
    ("spec.template.spec.containers", [], "-f rc.yaml: spec.template.spec.containers must list at least one"),
    (
        "spec.template.spec.containers.0.image",
        "Not An Image",
        "-f rc.yaml: spec.template.spec.containers[0].image: a 12-character text is not an image reference",
    ),
    (
        "spec.template.spec.containers.0.image",
        _DELETE,
        "-f rc.yaml: spec.template.spec.containers[0].image: an image reference is required",
    ),
    (
        "spec.template.spec.containers.0.name",
        "NGINX",
        "-f rc.yaml: spec.template.spec.containers[0].name 'NGINX' is not a valid name",
    ),
    (
        "spec.template.spec.containers.0.imagePullPolicy",
        "Sometimes",
        "-f rc.yaml: spec.template.spec.containers[0].imagePullPolicy 'Sometimes': use one of Always",
    ),
]


@pytest.mark.parametrize(("path", "value", "message"), BROKEN, ids=[b[0] + "=" + repr(b[1])[:20] for b in BROKEN])
def test_a_malformed_manifest_is_refused_in_one_line(path: str, value: Any, message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        check_rc_manifest(_broken(path, value), "-f rc.yaml")
    assert str(refused.value).startswith(message), str(refused.value)
    assert "\n" not in str(refused.value)


def test_a_selector_defaults_to_the_template_labels() -> None:
    rc = _broken("spec.selector", _DELETE)
    check_rc_manifest(rc, "-f rc.yaml")
    rc["spec"]["template"]["metadata"]["labels"] = {}
    with pytest.raises(ConfigError, match="no selector and no template labels"):
        check_rc_manifest(rc, "-f rc.yaml")


def test_duplicate_container_names_are_refused() -> None:
    rc = _rc()
    rc["spec"]["template"]["spec"]["containers"].append({"name": "nginx", "image": "x"})
    with pytest.raises(ConfigError, match=r"containers\[1\].name 'nginx' is used twice"):
        check_rc_manifest(rc, "-f rc.yaml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n",
            "-f F: not a ReplicationController manifest (the file parses as a single text value, not an object",
        ),
        ("- a\n- b\n", "-f F: not a ReplicationController manifest (the file parses as a list"),
        ("42\n", "-f F: not a ReplicationController manifest (the file parses as a int"),
        ("", "-f F: the file is empty"),
        ("# only a comment\n", "-f F: the file is empty"),
        ("kind: ReplicationController\n---\nkind: ReplicationController\n", "-f F: holds 2 documents"),
        ("a: [1,\nb: c\n", "-f F: not valid YAML or JSON (line"),
        ('{"kind": "ReplicationController",', "-f F: not valid YAML or JSON"),
    ],
)
def test_a_file_that_is_not_one_manifest_is_refused_naming_the_file(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_manifest_text(text, "-f F")
    assert str(refused.value).startswith(message), str(refused.value)
    assert "\n" not in str(refused.value)


def test_a_yaml_error_does_not_quote_the_file() -> None:
    secret = "token: s3cr3t-value\n  bad: [indent\n"
    with pytest.raises(ConfigError) as refused:
        load_manifest_text(secret, "-f F")
    assert "s3cr3t" not in str(refused.value)
    assert refused.value.__cause__ is None and refused.value.__suppress_context__


def test_json_and_yaml_manifests_read_alike() -> None:
    rc = _rc()
    assert (
        load_manifest_text(json.dumps(rc), "-f F") == load_manifest_text(__import__("yaml").safe_dump(rc), "-f F") == rc
    )


# --------------------------------------------------------------------------- files


def test_etc_passwd_is_refused_naming_the_file() -> None:
    with pytest.raises(ConfigError) as refused:
        command.read_manifest_file("/etc/passwd")
    assert str(refused.value) == (
        "-f /etc/passwd: not a ReplicationController manifest (the file parses as a "
        "single text value, not an object with apiVersion, kind, metadata and spec)"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("dir", "is a directory"),
        (b"\xff\xfe\x00binary", "not a text file"),
        (b"a" * (command.MAX_MANIFEST_BYTES + 1), "larger than 4 MiB"),
    ],
)
def test_unreadable_files_are_refused(tmp_path: Path, content: Any, message: str) -> None:
    path = tmp_path / "new.yaml"
    if content == "dir":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigError, match=f"^-f {path}: {message}"):
        command.read_manifest_file(str(path))


def test_a_manifest_is_read_from_stdin_with_a_dash() -> None:
    assert command.read_manifest_file("-", stdin=io.StringIO(json.dumps(_rc()))) == _rc()


# --------------------------------------------------------------------------- the command line


def _args(*argv: str) -> Any:
    return _parser().parse_args(["rolling-update", *argv])


def test_kubectl_defaults_and_go_syntax() -> None:
    args = _args("web", "--image=rollproof/nginx:1.26.3")
    assert (args.update_period, args.poll_interval, args.timeout) == ("1m0s", "3s", "5m0s")
    assert (args.rollback, args.dry_run, args.validate, args.output) == (False, False, True, "")
    args = _args(
        "web",
        "-f=new.yaml",
        "--update-period=10s",
        "--poll-interval",
        "500ms",
        "--timeout=1m30s",
        "--validate=false",
        "--dry-run",
        "-o",
        "name",
    )
    assert args.filename == ["new.yaml"] and not args.validate and args.dry_run
    assert [parse_duration(v) for v in (args.update_period, args.poll_interval, args.timeout)] == [10, 0.5, 90]


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--rollback=true", True),
        ("--rollback=1", True),
        ("--rollback=F", False),
        ("--rollback=False", False),
        ("--rollback", True),
    ],
)
def test_go_booleans(flag: str, value: bool) -> None:
    assert _args("web", flag).rollback is value


def test_a_bool_flag_never_takes_the_next_argument() -> None:
    args = _args("--rollback", "web", "web-v2")
    assert args.rollback and args.names == ["web", "web-v2"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["web"], "Must specify --filename or --image for new controller"),
        (["web", "--image=x", "-f", "a.yaml"], "--filename and --image can not both be specified"),
        (["web", "-f", "a.yaml,b.yaml"], "May only specify a single filename for new controller"),
        (["web", "-f", "a.yaml", "-f", "b.yaml"], "May only specify a single filename for new controller"),
        (["web", "--rollback", "--image=x"], "Don't specify --filename or --image on rollback"),
        (["web", "--image=x", "--deployment-label-key="], "--deployment-label-key can not be empty"),
        (["web", "a", "b", "--image=x"], "give at most two names"),
        (["web", "--image=x", "-o", "jsonpath={.x}"], "--output 'jsonpath={.x}': rollproof prints name, json or yaml"),
    ],
)
def test_kubectl_argument_rules(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=f"^{__import__('re').escape(message)}"):
        command.validate_arguments(_args(*argv))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["web", "--image=x", "--update-period=10"], "--update-period: '10' has a number without a unit"),
        (["web", "--image=x", "--timeout=5 m"], "--timeout: unknown unit ' m'"),
        (["web", "--image=x", "--poll-interval=0s"], "--poll-interval: '0s' must be longer than 0"),
        (["web", "--image=x", "--max-surge=0", "--max-unavailable=0"], "max surge and max unavailable are both 0"),
        (["web", "--image=x", "--max-surge=1.5"], "--max-surge '1.5': give a whole number or a percentage"),
        (["web", "--image=Bad Image"], "--image: a 9-character text is not an image reference"),
        (["web", "-f", "/etc/passwd"], "-f /etc/passwd: not a ReplicationController manifest"),
    ],
)
def test_the_command_refuses_before_it_reads_a_kubeconfig(argv: list[str], message: str, tmp_path: Path) -> None:
    args = _args(*argv, "--kubeconfig", str(tmp_path / "never-read"))
    with pytest.raises(ConfigError) as refused:
        command.run(args)
    assert str(refused.value).startswith(message), str(refused.value)
    assert "kubeconfig" not in str(refused.value)


@pytest.mark.parametrize(
    ("name", "output", "keep", "line"),
    [
        ("web", "", True, "replicationcontroller/web rolling updated"),
        ("web-v2", "", False, 'replicationcontroller/web-v2 rolling updated to "web-v2"'),
        ("web", "name", True, "replicationcontroller/web"),
    ],
)
def test_the_last_line_is_kubectls(name: str, output: str, keep: bool, line: str) -> None:
    assert command.final_line(name, output, keep_old_name=keep) == line


def test_checks_module_is_pure() -> None:
    source = open(checks.__file__, encoding="utf-8").read()
    for forbidden in ("import kubernetes", "from kubernetes", "import pytest", "time.sleep", "open("):
        assert forbidden not in source
