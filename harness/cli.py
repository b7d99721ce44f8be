"""The `rollproof` command: build the offline kit, inspect what it made, merge version matrices."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from .errors import HarnessError, ProviderError

__all__ = ["main"]


def _kit_build(args: argparse.Namespace) -> int:
    from .kit.build import build_kit
    from .kit.versions import DEFAULT_KIT_VERSION
    from .settings import resolve_setting

    given, where = resolve_setting("kit_version", lambda dest: getattr(args, dest, None))
    manifest = build_kit(given or DEFAULT_KIT_VERSION, where)
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


def _kind_bin(given: str | None) -> str:
    from .cluster.kind import check_binary
    from .session import read_manifest

    if given:
        return check_binary(given, "--kind-bin", "kind")
    manifest = read_manifest()
    return check_binary(manifest.kind_bin if manifest else None, "--kind-bin", "kind")


def _kind_access(kind: str, name: str) -> object | None:
    """The kind cluster's access (its kubeconfig read from `kind get kubeconfig`, never written); None if absent."""
    import subprocess

    from .cluster.kind import check_cluster_name
    from .kube.config import parse_kubeconfig_text

    check_cluster_name(name, "cluster name")
    listed = subprocess.run([kind, "get", "clusters"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    if name not in listed.stdout.split():
        return None
    proc = subprocess.run(
        [kind, "get", "kubeconfig", "--name", name], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise ProviderError(f"kind cluster {name!r}: `kind get kubeconfig` failed ({last}); is it running?")
    return parse_kubeconfig_text(proc.stdout, source=f"of kind cluster {name}")


def _cluster_delete(args: argparse.Namespace) -> int:
    import subprocess

    from .errors import ConfigError
    from .leftovers import live_runs
    from .timeouts import DEFAULT_TIMEOUTS

    from .cluster.kind import check_cluster_name

    check_cluster_name(args.name, "cluster name")
    kind = _kind_bin(args.kind_bin)
    try:
        access = _kind_access(kind, args.name)
    except ProviderError:
        access = True  # listed but half made (no kubeconfig yet: its creation was interrupted): nothing uses it
    if access is None:
        print(f"rollproof: no kind cluster named {args.name!r}: nothing to delete", file=sys.stderr)
        return 0
    if access is not True and not args.force:
        from kubernetes import client

        api = access.api_client()  # type: ignore[attr-defined]
        try:
            live = live_runs(client.CoreV1Api(api), DEFAULT_TIMEOUTS)
        except HarnessError:
            live = []  # not answering: nothing can be using it
        finally:
            api.close()
        if live:
            owner, namespace = live[0]
            raise ConfigError(
                f"kind cluster {args.name!r} is in use by a running rollproof run ({owner.describe()}, "
                f"namespace {namespace}): let it finish, or pass --force"
            )
    return subprocess.run([kind, "delete", "cluster", "--name", args.name]).returncode


def _cluster_sweep(args: argparse.Namespace) -> int:
    """Remove what runs that are gone left on a cluster; list what cannot be judged."""
    from kubernetes import client

    from .cluster.existing import kubeconfig_path
    from .cluster.kind import check_cluster_name
    from .errors import ConfigError
    from .kube.config import load_kubeconfig
    from .leftovers import sweep
    from .rundir import sweep_run_dirs
    from .timeouts import DEFAULT_TIMEOUTS

    sweep_run_dirs()
    if bool(args.name) == bool(args.kubeconfig):
        raise ConfigError("give a kind cluster NAME, or --kubeconfig PATH (and --context) for another cluster")
    if args.namespace and not args.kubeconfig:
        raise ConfigError("--namespace goes with --kubeconfig; on a kind cluster the sweep covers every namespace")
    if args.name:
        check_cluster_name(args.name, "cluster name")
        access = _kind_access(_kind_bin(args.kind_bin), args.name)
        if access is None:
            raise ConfigError(f"no kind cluster named {args.name!r}: `kind get clusters` lists the ones there are")
        where = f"kind cluster {args.name!r}"
    else:
        access = load_kubeconfig(kubeconfig_path(args.kubeconfig), args.context)
        where = f"context {access.context!r}"
    namespace = args.namespace
    api = access.api_client()  # type: ignore[attr-defined]
    try:
        found = sweep(
            client.CoreV1Api(api), DEFAULT_TIMEOUTS, lambda line: print(line, flush=True), namespace=namespace or None
        )
        if namespace:
            from .sharedns import SharedNamespace

            shared = SharedNamespace(api, namespace, DEFAULT_TIMEOUTS, lambda line: print(line, flush=True))
            try:
                shared.acquire()
            finally:
                shared.release()
    finally:
        api.close()
    if not found:
        print(f"rollproof: no leftovers of earlier runs on {where}", flush=True)
    return 0


def _explain(args: argparse.Namespace) -> int:
    """Explain a finished run's failed requests again, with the installed harness's rules."""
    from pathlib import Path

    from .errors import ConfigError
    from .reexplain import explain_report, render

    paths: list[Path] = []
    for given in map(Path, args.reports):
        if given.is_dir():
            paths += sorted(p for p in given.glob("*.json") if p.with_name(p.stem + ".samples.jsonl.gz").exists())
        elif given.exists():
            paths.append(given)
        else:
            raise ConfigError(f"{given}: no such report; pass a report directory or a test's .json in it")
    results = [r for path in paths for r in explain_report(path)]
    print(render(results, every=args.all))
    return 0


def _matrix(args: argparse.Namespace) -> int:
    """One behaviour matrix over runs against several Kubernetes versions; with --baseline, what changed."""
    from pathlib import Path

    from .matrix import load_matrix, matrix_markdown, merge_matrices, write_matrix

    output = Path(args.output)
    merged = merge_matrices([load_matrix(Path(d)) for d in args.report_dirs])
    comparison = None
    if args.baseline:
        from .matrixdiff import changes_data, changes_markdown, compare

        comparison = compare(load_matrix(Path(args.baseline)), merged, baseline_name=args.baseline)
    write_matrix(output, merged, comparison)
    print(matrix_markdown(merged), end="")
    written = [output / name for name in ("matrix.md", "matrix.html", "matrix.json")]
    status = 0
    if comparison is not None:
        (output / "changes.md").write_text(changes_markdown(comparison), encoding="utf-8")
        (output / "changes.json").write_text(json.dumps(changes_data(comparison), indent=2) + "\n", encoding="utf-8")
        written += [output / "changes.md", output / "changes.json"]
        print()
        print(changes_markdown(comparison), end="")
        unannounced = len(comparison.unannounced)
        print(
            f"{len(comparison.changes)} behaviour change(s) since {args.baseline}, {unannounced} not announced "
            "by any expectation"
            + ("" if not unannounced else ": add an expectation row (harness/expectations.py) or fix what changed"),
            file=sys.stderr,
        )
        status = 1 if unannounced else 0
    print("written: " + ", ".join(str(p) for p in written), file=sys.stderr)
    return status


def _soak(args: argparse.Namespace) -> int:
    """Repeat chosen scenarios on one cluster; every failed request with its cause in soak.md."""
    import subprocess

    command = [
        sys.executable,
        "-m",
        "pytest",
        *(args.paths or ["suites/"]),
        "--repeat",
        str(args.runs),
        "--report-dir",
        args.report_dir,
        "-p",
        "no:cacheprovider",
    ]
    if args.k:
        command += ["-k", args.k]
    command += args.pytest_args
    print("rollproof soak:", " ".join(command), file=sys.stderr, flush=True)
    return subprocess.run(command).returncode


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give a whole number >= 1")
    return value


def _add_kit_version(build: argparse.ArgumentParser) -> None:
    """--kit-version and its old name, stored where `resolve_setting` reads them (option > environment > default)."""
    from .kit.versions import DEFAULT_KIT_VERSION
    from .settings import setting_named

    setting = setting_named("kit_version")
    build.add_argument(
        setting.option,
        dest=setting.dest,
        metavar="1.N",
        help=f"Kubernetes minor (or 1.N.P patch) to build; default: ${setting.env} "
        f"(old name ${setting.aliases[0].env}), else {DEFAULT_KIT_VERSION}",
    )
    for alias in setting.aliases:
        if alias.option:
            build.add_argument(alias.option, dest=alias.dest, metavar="1.N", help=f"old name of {setting.option}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rollproof", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    kit = commands.add_parser("kit", help="the offline kit: engine, kind, Kubernetes, node and app images")
    kit_commands = kit.add_subparsers(dest="kit_command", required=True)
    build = kit_commands.add_parser("build", help="build everything a kind cluster needs (cached)")
    _add_kit_version(build)
    build.set_defaults(func=_kit_build)
    show = kit_commands.add_parser("show", help="print the manifest of the last kit build")
    show.set_defaults(func=_kit_show)
    from .rollout.rcupdate.command import add_parser as add_rolling_update

    add_rolling_update(commands)
    cluster = commands.add_parser("cluster", help="kind clusters made by the harness")
    cluster_commands = cluster.add_subparsers(dest="cluster_command", required=True)
    delete = cluster_commands.add_parser("delete", help="delete a kind cluster (a kept or interrupted one)")
    delete.add_argument("name", help="cluster name, e.g. rollproof")
    delete.add_argument("--kind-bin", default=None, help="kind binary (default: the kit's)")
    delete.add_argument("--force", action="store_true", help="delete it even while a rollproof run uses it")
    delete.set_defaults(func=_cluster_delete)
    sweep = cluster_commands.add_parser(
        "sweep", help="remove namespaces and Services that interrupted runs left (never a live run's)"
    )
    sweep.add_argument("name", nargs="?", help="kind cluster name, e.g. rollproof")
    sweep.add_argument("--kind-bin", default=None, help="kind binary (default: the kit's)")
    sweep.add_argument("--kubeconfig", default=None, help="another cluster: its kubeconfig (instead of NAME)")
    sweep.add_argument("--context", default=None, help="with --kubeconfig: the context (default: current)")
    sweep.add_argument(
        "--namespace",
        default=None,
        help="with --kubeconfig: the namespace runs used with --namespace (default: every namespace)",
    )
    sweep.set_defaults(func=_cluster_sweep)
    soak = commands.add_parser(
        "soak", help="run chosen scenarios many times on one cluster; soak.md lists every failed request with its cause"
    )
    soak.add_argument("paths", nargs="*", help="test files or node ids (default: suites/)")
    soak.add_argument("-n", "--runs", type=_positive_int, default=10, help="runs of each scenario (default 10)")
    soak.add_argument("-k", default=None, help="pytest -k expression choosing the scenarios")
    soak.add_argument("--report-dir", default="reports/soak", help="where soak.md/json and the reports go")
    soak.set_defaults(func=_soak, pytest_args=[])  # after `--`: more pytest arguments (split off in main)
    explain = commands.add_parser(
        "explain", help="give a finished run's failed requests their causes again, with this version's rules"
    )
    explain.add_argument(
        "reports", nargs="+", metavar="REPORT", help="a report directory, or tests' .json files in one"
    )
    explain.add_argument("--all", action="store_true", help="every failed request's text, not one per cause")
    explain.set_defaults(func=_explain)
    matrix = commands.add_parser("matrix", help="merge the behaviour matrices of runs against several versions")
    matrix.add_argument("report_dirs", nargs="+", metavar="REPORT_DIR", help="report directories of finished runs")
    matrix.add_argument("-o", "--output", default="reports", help="directory for the merged matrix.md/html/json")
    matrix.add_argument(
        "--baseline",
        metavar="PREVIOUS_MATRIX_JSON",
        default=None,
        help="a previous matrix.json (e.g. the last nightly's): list the behaviour changed since, "
        "exit 1 when a change is announced by no expectation row",
    )
    matrix.set_defaults(func=_matrix)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; SIGTERM and SIGHUP stop it as Ctrl-C does (every cleanup runs), exit 128+signal."""
    from . import interrupts

    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if argv[:1] == ["soak"] and "--" in argv:  # pytest's own options, passed through untouched
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    args = _parser().parse_args(argv)
    if extra:
        args.pytest_args = extra
    restore = interrupts.install()
    try:
        return int(args.func(args))
    except HarnessError as exc:
        print(f"rollproof: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        import signal

        interrupts.note(signal.SIGINT)
        print(
            f"rollproof: interrupted by {interrupts.received()}; rerun the same command to continue where it stopped",
            file=sys.stderr,
        )
        return interrupts.exit_status()
    finally:
        restore()


if __name__ == "__main__":
    sys.exit(main())
