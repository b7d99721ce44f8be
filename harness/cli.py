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
    from .rcupdate.command import add_parser as add_rolling_update

    add_rolling_update(commands)
    cluster = commands.add_parser("cluster", help="kind clusters made by the harness")
    cluster_commands = cluster.add_subparsers(dest="cluster_command", required=True)
    delete = cluster_commands.add_parser("delete", help="delete a kind cluster (a kept or interrupted one)")
    delete.add_argument("name", help="cluster name, e.g. rollproof")
    delete.add_argument("--kind-bin", default=None, help="kind binary (default: the kit's)")
    delete.set_defaults(func=_cluster_delete)
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
