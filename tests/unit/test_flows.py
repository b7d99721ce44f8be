"""Forgetting a NodePort's conntrack entries on kind nodes: the commands and what they say."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

from harness.cluster.flows import forget_flows, parse_deleted


def test_parse_deleted_reads_conntracks_count() -> None:
    assert parse_deleted("conntrack v1.4.7 (conntrack-tools): 37 flow entries have been deleted.\n") == 37
    assert parse_deleted("conntrack v1.4.7 (conntrack-tools): 0 flow entries have been deleted.") == 0
    assert parse_deleted("conntrack v1.4.7 (conntrack-tools): 1 flow entry has been deleted.") == 1
    assert parse_deleted("OCI runtime exec failed: exec: \"conntrack\": not found") is None


def test_forget_flows_deletes_per_node_and_says_where_it_could_not() -> None:
    calls: list[list[str]] = []

    def run(cmd: Sequence[str]) -> subprocess.CompletedProcess[str]:
        calls.append(list(cmd))
        if cmd[2] == "rp-worker":
            return subprocess.CompletedProcess(cmd, 127, "", "exec: \"conntrack\": executable file not found\n")
        # conntrack exits 1 when it deleted nothing; the count is what counts
        return subprocess.CompletedProcess(
            cmd, 1, "", "conntrack v1.4.7 (conntrack-tools): 0 flow entries have been deleted.\n"
        )

    done = forget_flows(["rp-control-plane", "rp-worker"], 30081, run=run)
    assert calls[0] == [
        "docker",
        "exec",
        "rp-control-plane",
        "conntrack",
        "-D",
        "-p",
        "tcp",
        "--orig-port-dst",
        "30081",
    ]
    assert done.deleted == {"rp-control-plane": 0}
    assert done.errors == {"rp-worker": 'exec: "conntrack": executable file not found'}
    assert done.describe() == (
        "NodePort 30081: conntrack entries of earlier use deleted: 0 on rp-control-plane; "
        "not done on rp-worker: exec: \"conntrack\": executable file not found"
    )
