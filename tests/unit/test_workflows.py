"""The nightly workflows' version lists: pure checks of the files, no runner.

actionlint (in .ci/run) checks the workflows' syntax and expressions; these check
what it cannot know: every minor the kit pins has a hosted-runner entry, and each
entry pins kind's binary by checksum and its node image by digest.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from harness.kit.versions import SUPPORTED_MINORS

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"


def load(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def hosted_entries() -> list[dict]:
    return load("nightly.yml")["jobs"]["suites"]["strategy"]["matrix"]["include"]


# 1.15's kind node images (kind v0.5-v0.8) start in the host's cgroup namespace and need
# cgroup v1; hosted runners are cgroup v2 hosts. It runs only through the kit (nightly-kit.yml).
KIT_ONLY_MINORS = {15}


def test_every_minor_the_kit_pins_runs_on_hosted_runners() -> None:
    minors = {entry["minor"] for entry in hosted_entries()}
    assert {f"1.{m}" for m in SUPPORTED_MINORS if m not in KIT_ONLY_MINORS} <= minors
    assert not {f"1.{m}" for m in KIT_ONLY_MINORS} & minors


def test_each_hosted_entry_pins_kind_by_checksum_and_the_node_image_by_digest() -> None:
    entries = hosted_entries()
    assert len({e["minor"] for e in entries}) == len(entries)
    checksums: dict[str, str] = {}
    for e in entries:
        assert re.fullmatch(r"v0\.\d+\.\d+", e["kind"]), e
        assert re.fullmatch(r"[0-9a-f]{64}", e["kind_sha256"]), e
        assert checksums.setdefault(e["kind"], e["kind_sha256"]) == e["kind_sha256"], f"two checksums for {e['kind']}"
        match = re.fullmatch(r"kindest/node:v(\d+)\.(\d+)\.\d+@sha256:[0-9a-f]{64}", e["node_image"])
        assert match and f"{match[1]}.{match[2]}" == e["minor"], e


def test_hosted_suites_use_the_online_path_options() -> None:
    steps = load("nightly.yml")["jobs"]["suites"]["steps"]
    suites = next(s["run"] for s in steps if s.get("name", "").startswith("suites"))
    for option in (
        "--kind-bin",
        "--kind-kubectl-bin",
        "--kind-image",
        "--old-image",
        "--new-image",
        "--report-dir",
        "--rollproof-cluster-name",
    ):
        assert option in suites


def test_both_nightlies_run_on_a_schedule_and_by_hand_and_publish_the_matrix() -> None:
    for name, artifact in (("nightly.yml", "behaviour-matrix"), ("nightly-kit.yml", "behaviour-matrix-kit")):
        workflow = load(name)
        triggers = workflow[True]  # YAML 1.1 reads the key `on` as True
        assert "schedule" in triggers and "workflow_dispatch" in triggers
        matrix_steps = workflow["jobs"]["matrix"]["steps"]
        action = next(s for s in matrix_steps if s.get("uses") == "./.github/actions/behaviour-matrix")
        assert action["with"]["artifact"] == artifact


def test_the_kit_nightly_reads_its_minors_from_versions_py() -> None:
    workflow = load("nightly-kit.yml")
    script = workflow["jobs"]["versions"]["steps"][1]["run"]
    assert "from harness.kit.versions import SUPPORTED_MINORS" in script
    assert workflow["jobs"]["suites"]["strategy"]["matrix"]["minor"] == "${{ fromJSON(needs.versions.outputs.minors) }}"


def _last_matrix_run():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "last_matrix_run", ROOT / ".github" / "scripts" / "last_matrix_run.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_baseline_is_the_newest_other_unexpired_run_on_this_branch() -> None:
    choose = _last_matrix_run().choose_run

    def artifact(run: int, created: str, branch: str = "main", expired: bool = False) -> dict:
        return {"created_at": created, "expired": expired, "workflow_run": {"id": run, "head_branch": branch}}

    artifacts = [
        artifact(7, "2026-12-03T02:40:00Z"),  # this run's own upload
        artifact(6, "2026-12-02T02:40:00Z", branch="feature"),
        artifact(5, "2026-12-01T02:40:00Z"),
        artifact(4, "2026-11-30T02:40:00Z"),
        artifact(3, "2026-12-02T01:00:00Z", expired=True),
    ]
    assert choose(artifacts, this_run=7, branch="main") == 5
    assert choose(artifacts[:1], this_run=7, branch="main") is None
    assert choose([], this_run=7, branch="main") is None
