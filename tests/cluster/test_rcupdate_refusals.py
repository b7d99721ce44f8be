"""`rollproof rolling-update` refusals on a live cluster: each is one line, and the cluster is left as it was.

Every case runs the command as a user would (a subprocess with kubectl's flags)
against RC `web` (3 ready pods) and an unrelated RC `web-other`, then compares
the namespace with a snapshot taken before: the same RCs, and for each its
generation, labels, annotations, spec and field managers; the same pods with
the same labels. A refusal MUST NOT create, annotate, label or scale anything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.kube.config import call_api
from harness.poll import poll
from harness.manifests import small_rc
from harness.timeouts import DEFAULT_TIMEOUTS

pytestmark = pytest.mark.cluster

OLD_IMAGE = "rollproof/nginx:1.22.1"
NEW_IMAGE = "rollproof/nginx:1.26.3"
REPLICAS = 3
T = DEFAULT_TIMEOUTS
REPO = Path(__file__).resolve().parents[2]


def _call(fn: Any, *args: Any, method: str = "GET", **kwargs: Any) -> Any:
    return call_api(fn, *args, method=method, path=fn.__name__, timeout=T.api_request, **kwargs)


def _rc(name: str, labels: dict[str, str], image: str = NEW_IMAGE, replicas: int = REPLICAS) -> dict[str, Any]:
    return small_rc(name, labels, image, replicas)


def _snapshot(core: Any, namespace: str) -> dict[str, Any]:
    """What a refusal must not change: RCs (spec, generation, labels, annotations, managers) and pod labels."""
    rcs = {}
    for rc in _call(core.list_namespaced_replication_controller, namespace).get("items") or []:
        meta = rc["metadata"]
        managers = sorted(
            (m.get("manager"), m.get("operation"), m.get("time"))
            for m in meta.get("managedFields") or []
            if m.get("subresource") != "status"
        )
        rcs[meta["name"]] = {
            "generation": meta.get("generation"),
            "labels": meta.get("labels"),
            "annotations": meta.get("annotations"),
            "spec": rc["spec"],
            "managers": managers,
        }
    pods = {
        p["metadata"]["name"]: p["metadata"].get("labels")
        for p in _call(core.list_namespaced_pod, namespace).get("items") or []
        if not p["metadata"].get("deletionTimestamp")
    }
    return {"rcs": rcs, "pods": pods}


def _wait_ready(core: Any, namespace: str, selector: str, count: int) -> None:
    def ready() -> tuple[bool, int]:
        pods = _call(core.list_namespaced_pod, namespace, label_selector=selector).get("items") or []
        ready = sum(
            1
            for p in pods
            if any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in (p.get("status") or {}).get("conditions") or []
            )
        )
        return ready == count and len(pods) == count, ready

    poll(
        ready,
        waited_for=f"{count} ready pods matching {selector}",
        timeout=T.pods_ready,
        interval=T.poll_interval,
        describe=lambda ready: f"{ready} ready",
    )


def _write(tmp_path: Path, name: str, body: Any) -> str:
    path = tmp_path / name
    path.write_text(
        body if isinstance(body, str) else yaml.safe_dump_all(body) if isinstance(body, list) else yaml.safe_dump(body)
    )
    return str(path)


def _cases(tmp_path: Path) -> list[tuple[str, list[str], str]]:
    """(case, arguments after `rolling-update`, the start of the one-line error after "rollproof: error: ")."""
    good = _rc("web-v2", {"app": "web", "ver": "v2"})
    deployment = {**_rc("web-v2", {"app": "web", "ver": "v2"}), "apiVersion": "apps/v1", "kind": "Deployment"}
    same_name = _rc("web", {"app": "web", "ver": "v2"})
    same_selector = _rc("web-v2", {"app": "web", "ver": "v1"})
    bad_image = _rc("web-v2", {"app": "web", "ver": "v2"}, image="rollproof/NGINX 1.26")
    zero = _rc("web-v2", {"app": "web", "ver": "v2"}, replicas=0)
    other_ns = _rc("web-v2", {"app": "web", "ver": "v2"})
    other_ns["metadata"]["namespace"] = "elsewhere"
    taken = _rc("web-other", {"app": "web", "ver": "v2"})
    f = {
        name: _write(tmp_path, f"{name}.yaml", body)
        for name, body in [
            ("good", good),
            ("deployment", deployment),
            ("same-name", same_name),
            ("same-selector", same_selector),
            ("bad-image", bad_image),
            ("zero", zero),
            ("other-ns", other_ns),
            ("taken", taken),
            ("two-docs", [good, good]),
            ("garbled", "kind: ReplicationController\nspec: [1,\n"),
        ]
    }
    return [
        (
            "not a manifest",
            ["web", "-f", "/etc/passwd"],
            "-f /etc/passwd: not a ReplicationController manifest (the file parses as a single text value",
        ),
        ("missing file", ["web", "-f", str(tmp_path / "absent.yaml")], f"-f {tmp_path / 'absent.yaml'}: no such file"),
        ("garbled YAML", ["web", "-f", f["garbled"]], f"-f {f['garbled']}: not valid YAML or JSON (line"),
        ("two documents", ["web", "-f", f["two-docs"]], f"-f {f['two-docs']}: holds 2 documents"),
        (
            "a Deployment",
            ["web", "-f", f["deployment"]],
            f"-f {f['deployment']}: kind 'Deployment' (apps/v1), not a ReplicationController",
        ),
        ("same name", ["web", "-f", f["same-name"]], "the new ReplicationController is named 'web', like the one"),
        ("same selector", ["web", "-f", f["same-selector"]], "the new selector {'app': 'web', 'ver': 'v1'} must give"),
        (
            "bad image in manifest",
            ["web", "-f", f["bad-image"]],
            f"-f {f['bad-image']}: spec.template.spec.containers[0].image: a 20-character text is not an image",
        ),
        ("zero replicas", ["web", "-f", f["zero"]], "the new ReplicationController 'web-v2' must ask for at least 1"),
        ("other namespace", ["web", "-f", f["other-ns"]], "the new RC is in namespace 'elsewhere'"),
        (
            "name taken by an unrelated RC",
            ["web", "-f", f["taken"]],
            "ReplicationController 'web-other' already exists but is not the target of this update",
        ),
        (
            "surge and unavailable 0 (-f)",
            ["web", "-f", f["good"], "--max-surge=0", "--max-unavailable=0"],
            "max surge and max unavailable are both 0",
        ),
        (
            "surge and unavailable 0 (--image)",
            ["web", f"--image={NEW_IMAGE}", "--max-surge", "0%", "--max-unavailable", "0"],
            "max surge and max unavailable are both 0",
        ),
        ("bad --image", ["web", "--image=Not/An Image"], "--image: a 12-character text is not an image reference"),
        (
            "same image, no pull policy",
            ["web", f"--image={OLD_IMAGE}"],
            f"'web' already runs '{OLD_IMAGE}' (an update to it may have finished already)",
        ),
        ("unknown container", ["web", f"--image={NEW_IMAGE}", "--container=nope"], "container 'nope' not found"),
        (
            "bad pull policy",
            ["web", f"--image={NEW_IMAGE}", "--image-pull-policy=Sometimes"],
            "--image-pull-policy 'Sometimes': use one of Always, Never, IfNotPresent",
        ),
        (
            "duration without unit",
            ["web", "-f", f["good"], "--update-period=10"],
            "--update-period: '10' has a number without a unit; write it like 10s",
        ),
        (
            "no such RC",
            ["nosuch", f"--image={NEW_IMAGE}"],
            "ReplicationController 'nosuch' does not exist and no update from it is in progress",
        ),
        ("nothing to roll back", ["web", "--rollback"], "no update away from 'web' to roll back"),
    ]


def _rollproof(cluster: Any, namespace: str, argv: list[str]) -> subprocess.CompletedProcess[str]:
    full = [
        sys.executable,
        "-m",
        "harness.cli",
        "rolling-update",
        *argv,
        "-n",
        namespace,
        "--kubeconfig",
        str(cluster.kubeconfig),
    ]
    for flag, value in (("--update-period", "1s"), ("--poll-interval", "500ms")):
        if not any(a == flag or a.startswith(flag + "=") for a in argv):  # a case's own value is the one tried
            full.append(f"{flag}={value}")
    if cluster.context:
        full += ["--context", cluster.context]
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run(full, capture_output=True, text=True, timeout=T.rc_timeout, env=env, cwd=str(REPO))


def test_every_refusal_is_one_line_and_leaves_the_cluster_as_it_was(
    cluster: Any, core_api: Any, namespace: str, tmp_path: Path
) -> None:
    """Each refused command MUST exit 2 with one line on stderr naming what to fix, print nothing on
    stdout, and leave RCs, their labels, annotations and specs, and the pods' labels unchanged."""
    _call(
        core_api.create_namespaced_replication_controller,
        namespace,
        _rc("web", {"app": "web", "ver": "v1"}, image=OLD_IMAGE),
        method="POST",
    )
    _call(
        core_api.create_namespaced_replication_controller,
        namespace,
        _rc("web-other", {"app": "other"}, replicas=0),
        method="POST",
    )
    _wait_ready(core_api, namespace, "app=web,ver=v1", REPLICAS)
    before = _snapshot(core_api, namespace)
    assert set(before["rcs"]) == {"web", "web-other"} and len(before["pods"]) == REPLICAS

    failures = []
    for case, argv, expected in _cases(tmp_path):
        proc = _rollproof(cluster, namespace, argv)
        lines = proc.stderr.splitlines()
        after = _snapshot(core_api, namespace)
        problems = []
        if proc.returncode != 2:
            problems.append(f"exit {proc.returncode}")
        if len(lines) != 1 or not lines[0].startswith(f"rollproof: error: {expected}"):
            problems.append(f"stderr {proc.stderr!r}, expected one line starting {expected!r}")
        if proc.stdout:
            problems.append(f"stdout {proc.stdout!r}")
        if after != before:
            problems.append(
                "the namespace changed: "
                + json.dumps(
                    {
                        k: after["rcs"].get(k)
                        for k in set(after["rcs"]) | set(before["rcs"])
                        if after["rcs"].get(k) != before["rcs"].get(k)
                    },
                    default=str,
                )[:1500]
            )
        print(f"{case}: exit {proc.returncode}: {proc.stderr.strip()}")
        if problems:
            failures.append(f"{case} ({' '.join(argv)}): " + "; ".join(problems))
    assert not failures, "\n".join(failures)


def test_dry_run_prints_what_it_would_roll_between_and_writes_nothing(
    cluster: Any, core_api: Any, namespace: str
) -> None:
    """`--dry-run --image` MUST print kubectl's "Rolling from: / To:" lines and change nothing
    (kubectl 1.17 itself relabelled the old RC and its pods in this mode)."""
    _call(
        core_api.create_namespaced_replication_controller,
        namespace,
        _rc("web", {"app": "web", "ver": "v1"}, image=OLD_IMAGE),
        method="POST",
    )
    _wait_ready(core_api, namespace, "app=web,ver=v1", REPLICAS)
    before = _snapshot(core_api, namespace)

    proc = _rollproof(cluster, namespace, ["web", f"--image={NEW_IMAGE}", "--dry-run"])

    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:3] == ["Rolling from:", "web", "To:"] and len(lines) == 4, proc.stdout
    assert lines[3].startswith("web-") and len(lines[3]) > len("web-")
    assert _snapshot(core_api, namespace) == before
