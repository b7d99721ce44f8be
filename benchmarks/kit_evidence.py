"""Evidence for the offline kit: cluster creation time, nodes, system pods, both nginx headers.

    python benchmarks/kit_evidence.py --nodes 1
    python benchmarks/kit_evidence.py --nodes 3

Creates a kind cluster from the kit's images (`rollproof kit build` first), runs
one Deployment of each nginx image behind a NodePort mapped to 127.0.0.1, prints
`kubectl get nodes -o wide`, `kubectl get pods -A -o wide` and the `Server`
header each Service answers with, then deletes the cluster. Prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.cluster.kind import KindProvider, KindSettings  # noqa: E402
from harness.kit.build import load_manifest  # noqa: E402
from harness.timeouts import DEFAULT_TIMEOUTS  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, choices=(1, 3), default=1)
    parser.add_argument("--name", default="rp-evidence")
    args = parser.parse_args()
    kit = load_manifest()
    if kit is None:
        print("no kit: run `rollproof kit build` first", file=sys.stderr)
        return 2
    images = [a.tag for a in kit.app_images]
    provider = KindProvider(
        KindSettings(
            name=args.name,
            workers=args.nodes - 1,
            node_image=kit.node_image,
            kind_bin=kit.kind_bin,
            kubectl_bin=kit.kubectl_bin,
            load_images=tuple(images),
        ),
        DEFAULT_TIMEOUTS,
    )
    started = time.monotonic()
    cluster = provider.up()
    print(
        f"cluster up (created, all nodes Ready, kube-system Running, images loaded) in "
        f"{time.monotonic() - started:.1f}s; kind create alone {provider.create_seconds:.1f}s"
    )
    kubectl = [kit.kubectl_bin, "--kubeconfig", str(cluster.kubeconfig)]
    try:
        for index, (app, node_port) in enumerate(zip(kit.app_images, cluster.node_ports.node_ports)):
            name = f"nginx-{index}"
            subprocess.run(
                kubectl + ["create", "deployment", name, f"--image={app.tag}", f"--replicas={args.nodes}"],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            subprocess.run(
                kubectl + ["create", "service", "nodeport", name, "--tcp=80:80", f"--node-port={node_port}"],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            subprocess.run(
                kubectl + ["rollout", "status", f"deployment/{name}", "--timeout=120s"],
                check=True,
                stdout=subprocess.DEVNULL,
            )
        print("$ kubectl get nodes -o wide")
        print(subprocess.run(kubectl + ["get", "nodes", "-o", "wide"], capture_output=True, text=True).stdout)
        print("$ kubectl get pods -A -o wide")
        print(subprocess.run(kubectl + ["get", "pods", "-A", "-o", "wide"], capture_output=True, text=True).stdout)
        for app, node_port in zip(kit.app_images, cluster.node_ports.node_ports):
            host_port = cluster.node_ports.host_port(node_port)
            deadline = time.monotonic() + DEFAULT_TIMEOUTS.pods_ready
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{host_port}/", timeout=2) as resp:
                        server = resp.headers.get("Server")
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.5)
            print(f"$ curl -sI http://127.0.0.1:{host_port}/ (NodePort {node_port}, {app.tag})  ->  Server: {server}")
    finally:
        provider.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
