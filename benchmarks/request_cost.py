"""What one sampler request costs this machine, by command, read exactly (a script, not a test).

On a running kind cluster of this host (`--cluster NAME`) this creates datapath_rate.py's
benchmark namespace (the demo Deployment, 4 nginx pods of the kit's old image, behind a NodePort
Service) and, for each access-log setting of the pods (`--logs`: `image`, the kit's buffered line;
`debian`, Debian's own `access_log /var/log/nginx/access.log;`, one write per request to the
container's stdout; `off`) and each connection kind, runs the host sampler as the suites do (two
pinned witnesses, `--interval` apart in all) for `--seconds`, after an idle baseline of the same
length. Every task's run time on this host is read from /proc/PID/task/TID/schedstat (nanoseconds:
not the scheduler tick's sample that /proc/stat and rusage give, which misses a sampler waking
every few milliseconds), grouped by command, and printed as microseconds per request above the
baseline. The settings alternate `--rounds` times, so a change of the host's pace shows as
spread, not as a difference (README finding 34).

    tox exec -e suites -- python benchmarks/request_cost.py --cluster rp-lead [--seconds 20] [--rounds 2]

Run it as root, alone (no other cluster job); it deletes its namespace.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import datapath_rate as bench  # noqa: E402

from harness.manifests import deployment, first_container  # noqa: E402
from harness.poll import poll  # noqa: E402
from harness.rollout.deployments import Deployments  # noqa: E402
from harness.sampler import ProbeOptions  # noqa: E402
from harness.samples import KEEP_ALIVE, NEW_CONNECTION  # noqa: E402

GROUPS = (
    ("nginx", ("nginx",)),
    ("shim", ("containerd-shim",)),
    ("containerd", ("containerd",)),
    ("kubelet", ("kubelet",)),
    ("control plane", ("kube-apiserver", "etcd", "kube-controller", "kube-scheduler", "kube-proxy")),
)
COLUMNS = ("samplers", *(g for g, _ in GROUPS), "other")
LOG_LINES = {
    "image": None,  # the kit's image as built: buffered (harness/kit/appimages.py)
    "debian": "access_log /var/log/nginx/access.log;",
    "off": "access_log off;",
}


def run_times() -> Counter[str]:
    """Seconds each command has run on this host so far (every task of every process)."""
    seen: Counter[str] = Counter()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            for tid in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{tid}/comm") as comm, open(f"/proc/{pid}/task/{tid}/schedstat") as st:
                    seen[comm.read().strip()] += int(st.read().split()[0]) / 1e9
        except (OSError, ValueError):
            continue  # a task that ended while read
    return seen


def grouped(before: Counter[str], after: Counter[str], seconds: float) -> dict[str, float]:
    """Cores per group between two readings (commands of no group under "other")."""
    cores: dict[str, float] = defaultdict(float)
    for comm in after:
        used = (after[comm] - before.get(comm, 0.0)) / seconds
        name = next((g for g, prefixes in GROUPS if comm.startswith(prefixes)), "other")
        cores[name] += used
    return cores


def pods_command(setting: str) -> list[str] | None:
    """The pods' command for an access-log setting (None: the fixture's own)."""
    line = LOG_LINES[setting]
    if line is None:
        return None
    own = first_container(deployment(bench.APP, "image"))["command"]
    rewrite = f"sed -i 's|^[[:space:]]*access_log .*;|\\t{line}|' /etc/nginx/nginx.conf"
    return [own[0], own[1], f"{rewrite} && {own[2]}"]


def settle(node: str, deployments: Deployments, image: str, setting: str) -> None:
    """Roll the pods to `setting` and wait until only its four pods are left (no shutdown in a baseline)."""
    body = deployment(bench.APP, image)
    command = pods_command(setting)
    if command is not None:
        first_container(body)["command"] = command
    deployments.apply(body, change_cause=f"access log: {setting}")
    deployments.wait_rollout_complete(bench.APP, 180.0)

    def look() -> tuple[bool, int]:
        pods = json.loads(bench.kubectl(node, "-n", bench.NAMESPACE, "get", "pods", "-o", "json"))["items"]
        return len(pods) == 4 and not any(p["metadata"].get("deletionTimestamp") for p in pods), len(pods)

    poll(
        look,
        waited_for=f"the old pods of access-log setting {setting!r} to exit",
        timeout=60.0,
        interval=0.5,
        describe=lambda pods: f"{pods} pods left",
    )


def measure(address: str, port: int, options: ProbeOptions, seconds: float) -> tuple[float, dict[str, float]]:
    """Requests/s of the suites' sampler and the cores each group used above an idle baseline."""
    before = run_times()
    time.sleep(seconds)
    idle = grouped(before, run_times(), seconds)
    before, began = run_times(), time.monotonic()
    # the witnesses have exited by the second reading: their run time is their reaped rusage, whose
    # total (not its user/system split) the kernel keeps exact
    run, samplers = bench.sample(address, port, options, seconds, witnesses=True)
    wall = time.monotonic() - began
    busy = grouped(before, run_times(), wall)
    rate = len(run.samples) / wall
    cores = {g: busy.get(g, 0.0) - idle.get(g, 0.0) for g in set(busy) | set(idle)}
    return rate, {"samplers": samplers, **cores}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cluster", required=True, help="a running kind cluster (`kind get clusters`)")
    ap.add_argument("--seconds", type=float, default=20.0, help="duration of each run and of its baseline")
    ap.add_argument("--interval", type=float, default=0.002, help="the sampler's pace, as the suites' option")
    ap.add_argument("--rounds", type=int, default=2, help="times the settings alternate")
    ap.add_argument("--logs", default="image,debian,off", help="access-log settings, comma-separated")
    args = ap.parse_args()
    settings = [s.strip() for s in args.logs.split(",") if s.strip()]
    unknown = [s for s in settings if s not in LOG_LINES]
    if unknown or not settings:
        sys.exit(f"--logs {args.logs!r}: give some of {', '.join(LOG_LINES)}, comma-separated")
    if os.geteuid() != 0:
        sys.exit("run as root: other users' tasks' schedstat (the node's) cannot be read otherwise")
    image = bench.app_images()[0]
    node, address, deployments = bench.open_namespace(args.cluster)
    per_request: dict[tuple[str, str], list[dict[str, float]]] = defaultdict(list)
    kinds = {
        NEW_CONNECTION: ProbeOptions(kind=NEW_CONNECTION, interval=args.interval, route="node"),
        KEEP_ALIVE: ProbeOptions(kind=KEEP_ALIVE, interval=args.interval, route="node"),
    }
    try:
        bench.kubectl(node, "apply", "-f", "-", stdin=json.dumps(bench.service()))
        port = int(
            json.loads(bench.kubectl(node, "-n", bench.NAMESPACE, "get", "service", bench.APP, "-o", "json"))["spec"][
                "ports"
            ][0]["nodePort"]
        )
        for round_ in range(1, args.rounds + 1):
            for setting in settings:
                settle(node, deployments, image, setting)
                bench.wait_answering(address, port)
                for kind, options in kinds.items():
                    rate, cores = measure(address, port, options, args.seconds)
                    us = {g: c / rate * 1e6 for g, c in cores.items()}
                    per_request[(setting, kind)].append(us)
                    print(
                        f"round {round_} {setting:6} {kind:14} {rate:5.0f} req/s: "
                        + "  ".join(f"{g} {us.get(g, 0.0):+.0f}" for g in COLUMNS)
                        + " us/request"
                    )
    finally:
        deployments.close()
        subprocess.run(bench.in_node(node, "delete", "namespace", bench.NAMESPACE, "--wait=false"), capture_output=True)
    print("\nmedian over the rounds, us per request (the container runtime = shim + containerd):")
    for (setting, kind), rows in per_request.items():
        med = {g: statistics.median(r.get(g, 0.0) for r in rows) for g in {k for r in rows for k in r}}
        runtime = med.get("shim", 0.0) + med.get("containerd", 0.0)
        print(
            f"  {setting:6} {kind:14} container runtime {runtime:+.0f}, nginx {med.get('nginx', 0.0):+.0f}, "
            f"samplers {med.get('samplers', 0.0):+.0f}, all {sum(med.values()):+.0f}"
        )


if __name__ == "__main__":
    main()
