"""Connection-tracking entries a NodePort's earlier users left on the kind nodes.

kube-proxy does not remove TCP conntrack entries when an endpoint goes. An entry
whose connection never completed stays in SYN_SENT for
`nf_conntrack_tcp_timeout_syn_sent` (120 s), one reset by a pod stays in CLOSE for
10 s, and each keeps the NAT it was given: a later SYN with the same addresses and
ports is taken for a retransmission and sent to that pod, even when the pod is
gone. Docker's port proxy retries a dial for about two minutes after its client
left, so a scenario that ends while pods of its Service are gone leaves such
entries for its NodePort, and the next scenario given that NodePort inherits them
(measured: a SYN from a reused source port answered in 17 µs by ICMP host
unreachable, the first entry's DNAT target, 35 s after the scenario that made it).

`forget_flows` deletes the entries of a NodePort on every node before the port is
used again, so a scenario starts from the same conntrack state as a fresh Service
(kind clusters this host started; elsewhere it says it could not).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["FlowsForgotten", "forget_flows", "parse_deleted"]

_DELETED = re.compile(r"(\d+) flow entr(?:y|ies) ha(?:s|ve) been deleted")

Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


@dataclass(frozen=True)
class FlowsForgotten:
    """How many conntrack entries for `node_port` were deleted on each node; `errors` per node."""

    node_port: int
    deleted: dict[str, int]
    errors: dict[str, str]

    def describe(self) -> str:
        done = ", ".join(f"{n} on {node}" for node, n in self.deleted.items())
        failed = "; ".join(f"{node}: {e}" for node, e in self.errors.items())
        return f"NodePort {self.node_port}: conntrack entries of earlier use deleted: {done or 'none'}" + (
            f"; not done on {failed}" if failed else ""
        )


def parse_deleted(text: str) -> int | None:
    """The count in conntrack's "N flow entries have been deleted" (None when absent)."""
    found = _DELETED.search(text)
    return int(found.group(1)) if found else None


def _run(cmd: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=30, check=False)


def forget_flows(nodes: Sequence[str], node_port: int, run: Runner = _run) -> FlowsForgotten:
    """Delete the TCP conntrack entries whose original destination port is `node_port`, on each kind node."""
    deleted: dict[str, int] = {}
    errors: dict[str, str] = {}
    for node in nodes:
        try:
            done = run(["docker", "exec", node, "conntrack", "-D", "-p", "tcp", "--orig-port-dst", str(node_port)])
        except (OSError, subprocess.TimeoutExpired) as exc:
            errors[node] = str(exc)
            continue
        said = (done.stderr + done.stdout).strip()
        count = parse_deleted(said)
        if count is None:
            errors[node] = said.splitlines()[-1] if said else f"conntrack exited {done.returncode}"
        else:
            deleted[node] = count
    return FlowsForgotten(node_port, deleted, errors)
