"""How long nginx takes to answer beside a busy pod, by QoS class (a script, not a test).

README finding 18: pods without a CPU request are BestEffort; on a cgroup v1 node their slice
weighs 2 against the burstable slice (the control plane's requests), so they run only on CPU
that is left over. On a running kind cluster of this host this starts nginx twice, BestEffort
and Burstable (`cpu: 50m`, the demo manifests' request), probes each pod directly from inside
the node's network namespace (new connections, 10 ms apart), and starts a pod that requests
800m and keeps three shells busy. It prints, per class and phase (quiet, then beside the busy
pod), the answers, their latency (p50, p99, max) and how many took over 200 ms or failed.
Figures are printed, not asserted. Run it as root, alone, and it deletes what it created:

    sudo python3 benchmarks/qos_starvation.py --node rp-lead-control-plane [--seconds 12]
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import threading
import time

NAMESPACE = "rp-bench-qos"
CLASSES = {"besteffort": None, "burstable": "50m"}
HOG = 'for i in 1 2 3; do (while :; do :; done) & done; wait'


def kubectl(node: str, *args: str, stdin: str | None = None) -> str:
    cmd = ["docker", "exec", "-i", node, "kubectl", "--kubeconfig", "/etc/kubernetes/admin.conf", *args]
    return subprocess.run(cmd, input=stdin, text=True, capture_output=True, check=True).stdout


def _deployment(name: str, image: str, cpu: str | None) -> dict:
    container = {"name": "nginx", "image": image, "imagePullPolicy": "Never"}
    if cpu:
        container["resources"] = {"requests": {"cpu": cpu}}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container]}},
        },
    }


def _hog(image: str) -> dict:
    container = {
        "name": "hog",
        "image": image,
        "imagePullPolicy": "Never",
        "command": ["sh", "-c", HOG],
        "resources": {"requests": {"cpu": "800m"}},
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "hog", "namespace": NAMESPACE},
        "spec": {"containers": [container], "terminationGracePeriodSeconds": 0},
    }


def probe(ips: list[str], seconds: float) -> None:
    """Inside the node's network namespace: new connections to each IP, one line of JSON per answer."""
    lock = threading.Lock()

    def run(ip: str) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            t, ok = time.monotonic(), False
            try:
                with socket.create_connection((ip, 80), timeout=2) as s:
                    s.settimeout(2)
                    s.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
                    ok = s.recv(12).startswith(b"HTTP/1.1 200")
            except OSError:
                pass
            with lock:
                print(json.dumps([ip, time.time(), time.monotonic() - t, ok]), flush=True)
            time.sleep(0.01)

    threads = [threading.Thread(target=run, args=(ip,)) for ip in ips]
    for th in threads:
        th.start()
    for th in threads:
        th.join()


def _summary(rows: list[list]) -> str:
    if not rows:
        return "no answers"
    lat = sorted(r[2] for r in rows)
    q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000  # noqa: E731
    slow = sum(1 for r in rows if r[2] > 0.2)
    failed = sum(1 for r in rows if not r[3])
    return (
        f"{len(rows):5d} answers  p50 {q(0.5):6.1f} ms  p99 {q(0.99):7.1f} ms  "
        f"max {lat[-1] * 1000:7.1f} ms  over 200 ms {slow:4d}  failed {failed}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--node", required=True, help="the kind node container (docker ps)")
    ap.add_argument("--seconds", type=float, default=12.0, help="seconds per phase")
    ap.add_argument("--image", default="rollproof/nginx:1.22.1")
    ap.add_argument("--probe", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.probe:
        probe(args.probe[0].split(","), float(args.probe[1]))
        return
    node = args.node
    pid = subprocess.run(
        ["docker", "inspect", "-f", "{{.State.Pid}}", node], text=True, capture_output=True, check=True
    ).stdout.strip()
    kubectl(node, "create", "namespace", NAMESPACE)
    try:
        objs = [_deployment(f"web-{qos}", args.image, cpu) for qos, cpu in CLASSES.items()]
        kubectl(node, "apply", "-f", "-", stdin="\n---\n".join(json.dumps(o) for o in objs))
        kubectl(node, "-n", NAMESPACE, "wait", "--for=condition=Available", "deploy", "--all", "--timeout=120s")
        pods = json.loads(kubectl(node, "-n", NAMESPACE, "get", "pods", "-o", "json"))["items"]
        ip_class = {p["status"]["podIP"]: p["status"]["qosClass"] for p in pods}
        cmd = ["nsenter", "-t", pid, "-n", sys.executable, __file__, "--node", node, "--probe"]
        prober = subprocess.Popen(
            [*cmd, ",".join(ip_class), str(2 * args.seconds + 2)], stdout=subprocess.PIPE, text=True
        )
        time.sleep(args.seconds)
        hog_at = time.time()
        kubectl(node, "apply", "-f", "-", stdin=json.dumps(_hog(args.image)))
        out, _ = prober.communicate()
    finally:
        subprocess.run(
            [
                "docker",
                "exec",
                node,
                "kubectl",
                "--kubeconfig",
                "/etc/kubernetes/admin.conf",
                "delete",
                "namespace",
                NAMESPACE,
                "--wait=false",
            ],
            capture_output=True,
        )
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("[")]
    print(
        f"nginx answers by QoS class, {args.seconds:.0f} s quiet, then beside a pod requesting 800m with 3 busy shells"
    )
    for qos in sorted(set(ip_class.values())):
        mine = [r for r in rows if ip_class[r[0]] == qos]
        print(f"  {qos:10s} quiet        {_summary([r for r in mine if r[1] < hog_at])}")
        print(f"  {qos:10s} beside hog   {_summary([r for r in mine if r[1] >= hog_at])}")


if __name__ == "__main__":
    main()
