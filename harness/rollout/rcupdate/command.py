"""`rollproof rolling-update`: kubectl 1.17's `rolling-update` command line, on `RollingUpdater`.

The same arguments and flags with the same syntax (`OLD [NEW] --image=IMAGE`,
`OLD -f FILE`, `--rollback`, Go durations such as `--update-period=10s`, Go
booleans such as `--validate=false`), kubectl's defaults (update period 1m,
poll interval 3s, timeout 5m), the same progress lines on stdout and the same
last line (`replicationcontroller/web rolling updated`). Two flags kubectl did
not have: `--max-surge` and `--max-unavailable` (kubectl fixed them at 1 and 0).
Which output formats exist and where the command still differs from kubectl is
listed in `harness.rollout.rcupdate.updater`'s docstring.

Everything is read and checked before the first write: a refused command leaves
the cluster as it was.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.rollout.rcupdate import checks

__all__ = ["add_parser", "run", "read_manifest_file", "final_line", "KUBECTL_DEFAULTS", "MAX_MANIFEST_BYTES"]

KUBECTL_DEFAULTS = {"update_period": "1m0s", "poll_interval": "3s", "timeout": "5m0s"}
"""kubectl 1.17's defaults for the three durations (rollingupdate.go: updatePeriod, pollInterval, timeout)."""

MAX_MANIFEST_BYTES = 4 * 1024 * 1024
_OUTPUTS = ("", "name", "json", "yaml")
_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")

USAGE = (
    "rollproof rolling-update OLD_CONTROLLER_NAME "
    "([NEW_CONTROLLER_NAME] --image=NEW_CONTAINER_IMAGE | -f NEW_CONTROLLER_SPEC)"
)


def _add_bool(parser: argparse.ArgumentParser, flag: str, default: bool, help: str) -> None:
    """A Go-style boolean flag: `--flag`, `--flag=true|false` (and strconv.ParseBool's other spellings)."""
    dest = flag.lstrip("-").replace("-", "_")
    parser.add_argument(flag, dest=dest, action="store_true", default=default, help=help)
    for value in _TRUE + _FALSE:
        parser.add_argument(
            f"{flag}={value}", dest=dest, action="store_const", const=value in _TRUE, help=argparse.SUPPRESS
        )


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Register `rolling-update` on the `rollproof` subcommands."""
    ru = commands.add_parser(
        "rolling-update",
        usage=USAGE,
        help="client-side ReplicationController rolling update, as `kubectl rolling-update` 1.17 (resumable)",
        description="Replace a ReplicationController by a new one, one pod at a time, as kubectl 1.17's "
        "rolling-update did; its progress lives in kubectl's annotations, so a killed run resumes.",
    )
    ru.add_argument(
        "names",
        nargs="+",
        metavar="NAME",
        help="the ReplicationController to replace, then optionally the new one's name",
    )
    ru.add_argument(
        "-f",
        "--filename",
        action="append",
        default=[],
        help="Filename to use to create the new replication controller ('-' for stdin)",
    )
    ru.add_argument("--image", default="", help="Image to use for upgrading the replication controller")
    ru.add_argument(
        "--deployment-label-key",
        default="deployment",
        help="The key to use to differentiate between two different controllers (with --image)",
    )
    ru.add_argument("--container", default="", help="Container name which will have its image upgraded")
    ru.add_argument(
        "--image-pull-policy",
        default="",
        help="Always, Never or IfNotPresent; required when --image is the current image",
    )
    _add_bool(ru, "--rollback", False, "abort an update in progress and reverse it")
    _add_bool(ru, "--dry-run", False, "print the controllers the update would roll between; change nothing")
    _add_bool(ru, "--validate", True, "accepted for kubectl's syntax; rollproof always validates the manifest")
    ru.add_argument(
        "--update-period",
        default=KUBECTL_DEFAULTS["update_period"],
        help="Time to wait between updating pods (Go duration: 10s, 1m30s, 500ms)",
    )
    ru.add_argument(
        "--poll-interval",
        default=KUBECTL_DEFAULTS["poll_interval"],
        help="Time delay between polling for replication controller status (Go duration)",
    )
    ru.add_argument(
        "--timeout",
        default=KUBECTL_DEFAULTS["timeout"],
        help="Give up when the update makes no progress for this long (Go duration)",
    )
    ru.add_argument("-o", "--output", default="", help="name, json or yaml: how to print the final controller")
    ru.add_argument("-n", "--namespace", default=None, help="namespace (default: the context's, else default)")
    ru.add_argument("--kubeconfig", default=None, help="kubeconfig (default $KUBECONFIG or ~/.kube/config)")
    ru.add_argument("--context", default=None, help="kubeconfig context (default: the current one)")
    ru.add_argument("--max-surge", default="1", help="not in kubectl (which used 1): pods above desired, N or N%%")
    ru.add_argument(
        "--max-unavailable", default="0", help="not in kubectl (which used 0): pods below desired, N or N%%"
    )
    ru.set_defaults(func=run)
    return ru


def _int_or_percent(text: str, flag: str) -> int | str:
    value = text.strip()
    digits = value[:-1] if value.endswith("%") else value
    if not digits.isdigit():
        raise ConfigError(f"{flag} {text!r}: give a whole number or a percentage such as 25%")
    return value if value.endswith("%") else int(value)


def validate_arguments(args: argparse.Namespace) -> None:
    """kubectl's argument rules (validateArguments), and ours for the flags it did not have."""
    if len(args.names) > 2:
        raise ConfigError(
            f"give at most two names (old and new controller), got {len(args.names)}: {' '.join(args.names)}"
        )
    if not args.deployment_label_key:
        raise ConfigError("--deployment-label-key can not be empty")
    filenames = [name for value in args.filename for name in value.split(",") if name]
    if len(filenames) > 1:
        raise ConfigError("May only specify a single filename for new controller")
    if not args.rollback:
        if not filenames and not args.image:
            raise ConfigError("Must specify --filename or --image for new controller")
        if filenames and args.image:
            raise ConfigError("--filename and --image can not both be specified")
    elif filenames or args.image:
        raise ConfigError("Don't specify --filename or --image on rollback")
    if args.output not in _OUTPUTS:
        raise ConfigError(f"--output {args.output!r}: rollproof prints name, json or yaml")
    args.filename = filenames[0] if filenames else ""


def read_manifest_file(path: str, *, stdin: Any = None) -> dict[str, Any]:
    """The new RC from `-f path` ('-' is stdin), checked: one line naming the file for anything wrong."""
    source = f"-f {path}"
    if path == "-":
        text = (stdin or sys.stdin).read(MAX_MANIFEST_BYTES + 1)
    else:
        p = Path(path)
        if p.is_dir():
            raise ConfigError(f"{source}: is a directory; give one manifest file")
        try:
            with p.open("rb") as handle:
                data = handle.read(MAX_MANIFEST_BYTES + 1)
        except FileNotFoundError:
            raise ConfigError(f"{source}: no such file") from None
        except OSError as exc:
            raise ConfigError(f"{source}: cannot be read ({exc.strerror or exc.__class__.__name__})") from None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigError(
                f"{source}: not a text file; give a ReplicationController manifest (YAML or JSON)"
            ) from None
    if len(text) > MAX_MANIFEST_BYTES:
        raise ConfigError(f"{source}: larger than {MAX_MANIFEST_BYTES // (1024 * 1024)} MiB; not a manifest")
    return checks.check_rc_manifest(checks.load_manifest_text(text, source), source)


def final_line(name: str, output: str, *, keep_old_name: bool) -> str:
    """kubectl's last line for the final controller with the default or `-o name` output."""
    if output == "name":
        return f"replicationcontroller/{name}"
    message = "rolling updated" if keep_old_name else f"rolling updated to {json.dumps(name)}"
    return f"replicationcontroller/{name} {message}"


def _print_object(rc: dict[str, Any], output: str) -> None:
    if output == "json":
        print(json.dumps(rc, indent=4), flush=True)
    else:
        import yaml

        print(yaml.safe_dump(rc, default_flow_style=False, sort_keys=True), end="", flush=True)


def run(args: argparse.Namespace) -> int:
    """The command: validate the arguments, read the manifest, then update, roll back or print (dry run)."""
    validate_arguments(args)
    durations = {
        name: checks.parse_duration(
            getattr(args, name), "--" + name.replace("_", "-"), allow_zero=name != "poll_interval"
        )
        for name in ("update_period", "poll_interval", "timeout")
    }
    max_surge = _int_or_percent(args.max_surge, "--max-surge")
    max_unavailable = _int_or_percent(args.max_unavailable, "--max-unavailable")
    checks.check_fenceposts(max_surge, max_unavailable)
    if args.image:
        checks.check_image(args.image, "--image")
    manifest = read_manifest_file(args.filename) if args.filename else None
    old_name = args.names[0]
    new_name = args.names[1] if len(args.names) == 2 else None
    keep_old_name = len(args.names) == 1

    from kubernetes import client

    from harness.kube.config import load_kubeconfig
    from harness.rollout.rcupdate.updater import NewRcOptions, Pacing, RollingUpdater
    from harness.timeouts import DEFAULT_TIMEOUTS

    path = args.kubeconfig or os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or "~/.kube/config"
    access = load_kubeconfig(path, args.context)
    namespace = args.namespace or access.namespace or "default"
    api = access.api_client()

    def say(line: str) -> None:
        print(line, flush=True)

    pacing = Pacing(max_surge=max_surge, max_unavailable=max_unavailable, **durations)
    try:
        updater = RollingUpdater(client.CoreV1Api(api), namespace, DEFAULT_TIMEOUTS, out=say)
        if args.rollback:
            if args.dry_run:
                raise ConfigError("--dry-run with --rollback: rollproof can only dry-run an update")
            result = updater.rollback(old_name, new_name=new_name, pacing=pacing)
            final = updater.read(result.final_name)
            keep = True
        else:
            target: Any = manifest if manifest is not None else args.image
            options = NewRcOptions(
                container=args.container or None,
                image_pull_policy=args.image_pull_policy or None,
                deployment_key=args.deployment_label_key,
                keep_old_name=keep_old_name,
                new_name=new_name if manifest is None else None,
                source=f"-f {args.filename}" if manifest is not None else "--image",
            )
            if args.dry_run:
                prepared = updater.prepare(old_name, target, options=options)
                old_rc = prepared.old or {"metadata": {"name": old_name}}
                _print_dry_run(old_rc, prepared.new_rc, args.output)
                return 0
            result = updater.update(old_name, target, options=options, pacing=pacing)
            final = updater.read(result.final_name)
            keep = keep_old_name
    finally:
        api.close()
    if args.output in ("json", "yaml"):
        _print_object(final, args.output)
    else:
        say(final_line(result.final_name, args.output, keep_old_name=keep))
    return 0


def _print_dry_run(old_rc: dict[str, Any], new_rc: dict[str, Any], output: str) -> None:
    """kubectl's dry run: "Rolling from:", the old controller, "To:", the new one."""
    parts = []
    for rc in (old_rc, new_rc):
        name = (rc.get("metadata") or {}).get("name", "")
        if output == "":
            parts.append(name)
        elif output == "name":
            parts.append(f"replicationcontroller/{name}\n")
        elif output == "json":
            parts.append(json.dumps(rc, indent=4) + "\n")
        else:
            import yaml

            parts.append(yaml.safe_dump(rc, default_flow_style=False, sort_keys=True))
    print(f"Rolling from:\n{parts[0]}\nTo:\n{parts[1]}", flush=True)
