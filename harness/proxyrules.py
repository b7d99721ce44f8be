"""kube-proxy's rules as written: which endpoints a Service's chains send traffic to.

kube-proxy (iptables mode) gives each Service port a `KUBE-SVC-*` chain (`KUBE-SVL-*` for a Local
traffic policy) that jumps, with random weights, to one `KUBE-SEP-*` chain per endpoint it uses;
each `KUBE-SEP-*` chain DNATs to its endpoint and names the Service port in a comment
(`namespace/name` or `namespace/name:port`). Read right after a sync, the nat table says which
pods the sync left the Service's traffic going to: what `harness.attribution` needs to place a
failure against the rules rather than infer it from the sync's timing (a sync that began after
an EndpointSlice change does not hold it when kube-proxy received the change later still, as on
a CPU-starved node; README finding 30).

`read_nat_table` runs the host's `iptables-save` in the calling thread's network namespace (the
`harness.datapath.ProxySyncPoller` thread that joined a node's); the parse is pure.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["SAVE_COMMANDS", "NatTableReader", "service_routes"]

SAVE_COMMANDS = (("iptables-nft-save", "-t", "nat"), ("iptables-legacy-save", "-t", "nat"))
"""The two backends a node's kube-proxy may have written to (it picks one at start); the first
whose table holds kube-proxy's chains is the one read from then on."""
_MARK = ":KUBE-SERVICES "
_DNAT = re.compile(r"--to-destination \[?([0-9a-fA-F.:]+?)\]?:\d+(?:\s|$)")


def _comment(words: Sequence[str]) -> str | None:
    for i, w in enumerate(words[:-1]):
        if w == "--comment":
            return words[i + 1]
    return None


def _names(comment: str | None, service: str) -> bool:
    """Whether a `KUBE-SEP-*` comment names a port of `service` (`namespace/name`)."""
    return comment is not None and (comment == service or comment.startswith(service + ":"))


def service_routes(text: str, service: str) -> tuple[str, ...] | None:
    """The endpoint addresses `service` (`namespace/name`) is sent to by the nat table in
    `iptables-save` text (sorted; empty: its chains send nowhere), None when the table holds no
    kube-proxy chains (another backend, or another proxy mode)."""
    if _MARK not in text:
        return None
    target: dict[str, str] = {}
    jumped: set[str] = set()
    for line in text.splitlines():
        if not line.startswith("-A KUBE-S"):
            continue
        words = shlex.split(line)
        chain = words[1]
        if chain.startswith("KUBE-SEP-") and "DNAT" in words:
            found = _DNAT.search(line)
            if found and _names(_comment(words), service):
                target[chain] = found.group(1)
        elif chain.startswith(("KUBE-SVC-", "KUBE-SVL-")) and "-j" in words:
            to = words[words.index("-j") + 1]
            if to.startswith("KUBE-SEP-"):
                jumped.add(to)
    return tuple(sorted({target[c] for c in jumped if c in target}))


@dataclass
class NatTableReader:
    """Reads the nat table of the calling thread's network namespace with the host's `iptables-save`
    (`SAVE_COMMANDS`, the first whose table holds kube-proxy's chains); `error` says why it could not."""

    timeout: float = 2.0
    error: str | None = None
    _command: tuple[str, ...] | None = None
    _tried: list[str] = field(default_factory=list)

    def read(self) -> str | None:
        """The table's text, None when it cannot be read (`error` says why)."""
        for command in [self._command] if self._command else SAVE_COMMANDS:
            try:
                done = subprocess.run(command, capture_output=True, text=True, timeout=self.timeout, check=False)
            except (OSError, subprocess.SubprocessError) as exc:
                self._tried.append(f"{command[0]}: {exc}")
                continue
            if done.returncode != 0:
                self._tried.append(f"{command[0]}: exit {done.returncode}: {done.stderr.strip()[:200]}")
                continue
            if _MARK in done.stdout or self._command:
                self._command, self.error = command, None
                return done.stdout
            self._tried.append(f"{command[0]}: no kube-proxy chains in its nat table")
        self.error = "kube-proxy's rules not read: " + "; ".join(self._tried[-len(SAVE_COMMANDS) :])
        return None
