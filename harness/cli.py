"""The `rollproof` command: build the offline kit, inspect what it made, merge version matrices."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from .errors import HarnessError

__all__ = ["main"]


def _kit_build(args: argparse.Namespace) -> int:
    from .kit.build import build_kit

    manifest = build_kit(args.k8s_version)
    print(json.dumps(asdict(manifest), indent=2))
    return 0


def _kit_show(args: argparse.Namespace) -> int:
    from .kit.build import load_manifest, manifest_path

    manifest = load_manifest()
    if manifest is None:
        print(f"no kit built yet ({manifest_path()} is absent): run `rollproof kit build`", file=sys.stderr)
        return 1
    print(json.dumps(asdict(manifest), indent=2))
    return 0


def _cluster_delete(args: argparse.Namespace) -> int:
    import subprocess

    from .kit.build import load_manifest

    manifest = load_manifest()
    kind = args.kind_bin or (manifest.kind_bin if manifest else "kind")
    listed = subprocess.run([kind, "get", "clusters"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    if args.name not in listed.stdout.split():
        print(f"no kind cluster named {args.name!r}: nothing to delete", file=sys.stderr)
        return 0
    return subprocess.run([kind, "delete", "cluster", "--name", args.name]).returncode


def _matrix(args: argparse.Namespace) -> int:
    """One behaviour matrix over runs against several Kubernetes versions."""
    from pathlib import Path

    from .matrix import load_matrix, matrix_markdown, merge_matrices, write_matrix

    merged = merge_matrices([load_matrix(Path(d)) for d in args.report_dirs])
    write_matrix(Path(args.output), merged)
    print(matrix_markdown(merged), end="")
    print(f"written: {Path(args.output) / 'matrix.md'}, {Path(args.output) / 'matrix.json'}", file=sys.stderr)
    return 0


def _rolling_update(args: argparse.Namespace) -> int:
    """kubectl rolling-update, as it was before its removal in 1.18."""
    import yaml

    from .errors import ConfigError
    from .kube.config import load_kubeconfig
    from .rcupdate import RollingUpdater
    from .timeouts import DEFAULT_TIMEOUTS

    if bool(args.image) == bool(args.filename) and not args.rollback:
        raise ConfigError("give exactly one of --image IMAGE or -f NEW_RC.yaml (or --rollback)")
    import os

    path = args.kubeconfig or os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or "~/.kube/config"
    access = load_kubeconfig(path, args.context)
    api = access.api_client()
    from kubernetes import client

    updater = RollingUpdater(client.CoreV1Api(api), args.namespace, DEFAULT_TIMEOUTS)

    def step(s: object) -> None:
        fields = {k: getattr(s, k) for k in ("action", "old", "old_replicas", "new", "new_replicas", "available")}
        if args.output == "json":
            print(json.dumps(fields), flush=True)
        else:
            print(f"{fields['action']}: {fields['old']} -> {fields['old_replicas']}, "
                  f"{fields['new']} -> {fields['new_replicas']} ({fields['available']} available)", flush=True)

    periods = dict(update_period=args.update_period, poll_interval=args.poll_interval, timeout=args.timeout,
                   max_surge=args.max_surge, max_unavailable=args.max_unavailable, on_step=step)
    try:
        if args.rollback:
            result = updater.rollback(args.old, **periods)
        elif args.image:
            result = updater.update(args.old, args.image, **periods)
        else:
            try:
                manifest = yaml.safe_load(open(args.filename))
            except (OSError, yaml.YAMLError) as exc:
                raise ConfigError(f"-f {args.filename}: cannot read a manifest ({exc})") from exc
            result = updater.update(args.old, manifest, **periods)
    finally:
        api.close()
    done = {"action": "done", "final": result.final_name, "resumed": result.resumed,
            "rolled_back": result.rolled_back}
    print(json.dumps(done) if args.output == "json" else f"{result.final_name} rolled out", flush=True)
    return 0


def _soak(args: argparse.Namespace) -> int:
    """Repeat chosen scenarios on one cluster; every failed request with its cause in soak.md."""
    import subprocess

    command = [sys.executable, "-m", "pytest", *(args.paths or ["suites/"]), "--repeat", str(args.runs),
               "--report-dir", args.report_dir, "-p", "no:cacheprovider"]
    if args.k:
        command += ["-k", args.k]
    command += [a for i, a in enumerate(args.pytest_args) if not (i == 0 and a == "--")]
    print("rollproof soak:", " ".join(command), file=sys.stderr, flush=True)
    return subprocess.run(command).returncode


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give a whole number >= 1")
    return value


def _int_or_percent(text: str) -> int | str:
    return text if text.endswith("%") else int(text)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rollproof", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    kit = commands.add_parser("kit", help="the offline kit: engine, kind, Kubernetes, node and app images")
    kit_commands = kit.add_subparsers(dest="kit_command", required=True)
    build = kit_commands.add_parser("build", help="build everything a kind cluster needs (cached)")
    build.add_argument("--k8s-version", default="1.34", help="Kubernetes minor or patch to build (default 1.34)")
    build.set_defaults(func=_kit_build)
    show = kit_commands.add_parser("show", help="print the manifest of the last kit build")
    show.set_defaults(func=_kit_show)
    ru = commands.add_parser("rolling-update", help="client-side ReplicationController rolling update "
                                                  "(what `kubectl rolling-update` did; resumable)")
    ru.add_argument("old", help="name of the ReplicationController to replace")
    ru.add_argument("--image", help="new image; the new RC is derived from the old one and renamed back at the end")
    ru.add_argument("-f", "--filename", help="manifest of the new ReplicationController")
    ru.add_argument("--rollback", action="store_true", help="abort an update in progress and reverse it")
    ru.add_argument("-n", "--namespace", default="default")
    ru.add_argument("--kubeconfig", default=None, help="kubeconfig (default $KUBECONFIG or ~/.kube/config)")
    ru.add_argument("--context", default=None)
    ru.add_argument("--update-period", type=float, default=None, help="seconds to wait between steps (kubectl: 60)")
    ru.add_argument("--poll-interval", type=float, default=None, help="seconds between polls (kubectl: 3)")
    ru.add_argument("--timeout", type=float, default=None, help="give up when nothing progresses this long (kubectl: 300)")
    ru.add_argument("--max-surge", type=_int_or_percent, default=1)
    ru.add_argument("--max-unavailable", type=_int_or_percent, default=0)
    ru.add_argument("-o", "--output", choices=("text", "json"), default="text")
    ru.set_defaults(func=_rolling_update)
    cluster = commands.add_parser("cluster", help="kind clusters made by the harness")
    cluster_commands = cluster.add_subparsers(dest="cluster_command", required=True)
    delete = cluster_commands.add_parser("delete", help="delete a kind cluster (a kept or interrupted one)")
    delete.add_argument("name", help="cluster name, e.g. rollproof")
    delete.add_argument("--kind-bin", default=None, help="kind binary (default: the kit's)")
    delete.set_defaults(func=_cluster_delete)
    soak = commands.add_parser("soak", help="run chosen scenarios many times on one cluster; soak.md lists every "
                                            "failed request with its cause")
    soak.add_argument("paths", nargs="*", help="test files or node ids (default: suites/)")
    soak.add_argument("-n", "--runs", type=_positive_int, default=10, help="runs of each scenario (default 10)")
    soak.add_argument("-k", default=None, help="pytest -k expression choosing the scenarios")
    soak.add_argument("--report-dir", default="reports/soak", help="where soak.md/json and the reports go")
    soak.add_argument("pytest_args", nargs=argparse.REMAINDER, help="after --: more pytest arguments")
    soak.set_defaults(func=_soak)
    matrix = commands.add_parser("matrix", help="merge the behaviour matrices of runs against several versions")
    matrix.add_argument("report_dirs", nargs="+", metavar="REPORT_DIR", help="report directories of finished runs")
    matrix.add_argument("-o", "--output", default="reports", help="directory for the merged matrix.md/json")
    matrix.set_defaults(func=_matrix)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.func(args))
    except HarnessError as exc:
        print(f"rollproof: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rollproof: interrupted; rerun the same command to continue where it stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
