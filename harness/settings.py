"""Run settings: one precedence (command-line option > environment > ini > default), resolved once.

A setting may have other names (`Alias`): its former name (`--k8s-version`), or
another plugin's option for the same thing (pytest-kind's `--cluster-name` and
`--keep-cluster`). They take part at their own level; two names given at one
level must agree. `RunSettings.source(name)` says where each value came from.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from .errors import ConfigError

__all__ = ["Alias", "Setting", "SETTINGS", "RunSettings", "setting_named", "resolve_settings", "resolve_setting"]


@dataclass(frozen=True)
class Alias:
    """Another name that sets a setting: an option, an environment variable, an ini key (any of them).

    `plugin` is who registers `option` ("rollproof", or "pytest-kind": read here, never
    added); `unset` is the option's value when not given (pytest-kind's defaults)."""

    option: str = ""
    env: str = ""
    ini: str = ""
    plugin: str = "rollproof"
    unset: Any = None

    @property
    def dest(self) -> str:
        name = self.option.lstrip("-").replace("-", "_")
        return f"rollproof_{name}" if self.plugin == "rollproof" else name


@dataclass(frozen=True)
class Setting:
    """One setting: its option ("" when only an alias is one), ini name, environment variable, default and help."""

    name: str
    option: str
    env: str
    default: Any
    help: str
    kind: str = "str"  # "str", "int", "float", "bool", "choice:a,b"
    aliases: tuple[Alias, ...] = ()

    @property
    def dest(self) -> str:
        return f"rollproof_{self.name}"

    @property
    def ini(self) -> str:
        return f"rollproof_{self.name}"


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "provider",
        "--cluster-provider",
        "ROLLPROOF_CLUSTER_PROVIDER",
        "kind",
        "kind: create (or reuse) a kind cluster; existing: use --kubeconfig/--context as they are",
        "choice:kind,existing",
    ),
    Setting(
        "cluster_name",
        "--rollproof-cluster-name",
        "ROLLPROOF_CLUSTER_NAME",
        "rollproof",
        "name of the kind cluster to create or reuse (pytest-kind's --cluster-name sets it too)",
        aliases=(Alias(option="--cluster-name", plugin="pytest-kind", unset="pytest-kind"),),
    ),
    Setting(
        "keep_cluster",
        "",
        "ROLLPROOF_KEEP_CLUSTER",
        False,
        "keep the kind cluster afterwards (pytest-kind's --keep-cluster); one this run did not create is always kept",
        "bool",
        aliases=(Alias(option="--keep-cluster", plugin="pytest-kind", unset=False),),
    ),
    Setting(
        "nodes",
        "--nodes",
        "ROLLPROOF_NODES",
        1,
        "kind nodes: 1 (control plane only) or 3 (plus two workers)",
        "choice:1,3",
    ),
    Setting("context", "--context", "ROLLPROOF_CONTEXT", None, "kubeconfig context for --cluster-provider=existing"),
    Setting(
        "namespace",
        "--namespace",
        "ROLLPROOF_NAMESPACE",
        None,
        "run every test in this existing namespace, creating no namespace (needs only the rights the README "
        "lists); with --cluster-provider existing the kubeconfig context's namespace is the default",
    ),
    Setting(
        "report_dir",
        "--report-dir",
        "ROLLPROOF_REPORT_DIR",
        "reports",
        "where per-test JSON, timeline PNGs, summary.json and the behaviour matrix go",
    ),
    Setting(
        "kit_version",
        "--kit-version",
        "ROLLPROOF_KIT_VERSION",
        None,
        "Kubernetes minor of the kit build to use (e.g. 1.35; `rollproof kit build --kit-version` built it); "
        "default: the last kit build. Old name: --k8s-version, ROLLPROOF_K8S_VERSION",
        aliases=(Alias(option="--k8s-version", env="ROLLPROOF_K8S_VERSION", ini="rollproof_k8s_version"),),
    ),
    Setting(
        "kit_manifest",
        "--kit-manifest",
        "ROLLPROOF_KIT_MANIFEST",
        None,
        "kit manifest to take kind, kubectl, node and app images from (default: the last `rollproof kit build`)",
    ),
    Setting(
        "old_image",
        "--old-image",
        "ROLLPROOF_OLD_IMAGE",
        None,
        "image to roll from, as IMAGE=SERVER (e.g. nginx:1.22.1=nginx/1.22.1); default: the kit's older nginx",
    ),
    Setting(
        "new_image",
        "--new-image",
        "ROLLPROOF_NEW_IMAGE",
        None,
        "image to roll to, as IMAGE=SERVER; default: the kit's newer nginx",
    ),
    Setting(
        "keep_namespaces",
        "--keep-namespaces",
        "ROLLPROOF_KEEP_NAMESPACES",
        False,
        "keep each test's namespace afterwards (for debugging)",
        "bool",
    ),
    Setting(
        "timeout_scale",
        "--timeout-scale",
        "ROLLPROOF_TIMEOUT_SCALE",
        1.0,
        "multiply every wait (not rollout periods) by this factor on slow machines",
        "float",
    ),
    Setting(
        "probe_interval",
        "--probe-interval",
        "ROLLPROOF_PROBE_INTERVAL",
        0.002,
        "seconds between request starts of each sampler (open loop; the evidence bound is "
        "20 intervals, at least 20 ms)",
        "float",
    ),
    Setting(
        "probe_routes",
        "--probe-routes",
        "ROLLPROOF_PROBE_ROUTES",
        None,
        "where the samplers' requests enter the data path, comma-separated: mapped (127.0.0.1, Docker's "
        "port mapping), node (a kind node's address), pod (a sampler pod); default node on Linux with a kind "
        "cluster, mapped where a node's address cannot be had, else pod. Several routes run side by side "
        "(to find where a failure comes from)",
    ),
    Setting(
        "repeat",
        "--repeat",
        "ROLLPROOF_REPEAT",
        1,
        "run every selected scenario this many times on the one cluster (a soak); writes soak.md/json "
        "with every failed request and its cause",
        "int",
    ),
)


@dataclass(frozen=True)
class RunSettings:
    provider: str
    cluster_name: str
    nodes: int
    context: str | None
    namespace: str | None
    report_dir: Path
    kit_version: str | None
    kit_manifest: Path | None
    old_image: str | None
    new_image: str | None
    keep_namespaces: bool
    timeout_scale: float
    probe_interval: float = 0.002
    probe_routes: str | None = None
    repeat: int = 1
    keep_cluster: bool = False
    sources: tuple[tuple[str, str], ...] = ()  # setting -> where its value came from

    def source(self, name: str) -> str:
        return dict(self.sources).get(name, "default")


def _convert(setting: Setting, raw: Any, where: str) -> Any:
    if raw is None:
        return None
    text = str(raw).strip()
    try:
        if setting.kind == "int":
            value = int(text)
            if value < 1:
                raise ValueError
            return value
        if setting.kind == "float":
            value = float(text)
            if not math.isfinite(value) or value <= 0:
                raise ValueError
            return value
        if setting.kind == "bool":
            if isinstance(raw, bool):
                return raw
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off", ""):
                return False
            raise ValueError
        if setting.kind.startswith("choice:"):
            choices = setting.kind.split(":", 1)[1].split(",")
            if text not in choices:
                raise ValueError
            return int(text) if isinstance(setting.default, int) and not isinstance(setting.default, bool) else text
    except ValueError:
        expected = (
            setting.kind.split(":", 1)[1].replace(",", " or ")
            if ":" in setting.kind
            else {"int": "a whole number >= 1", "float": "a number > 0"}.get(setting.kind, setting.kind)
        )
        raise ConfigError(f"{where}: {text!r} is not a valid {setting.name} (expected {expected})") from None
    if setting.name == "namespace" and not _DNS_LABEL.match(text):
        raise ConfigError(
            f"{where}: {text!r} is not a valid namespace name (expected lower-case letters, digits "
            "and '-', at most 63, starting and ending with a letter or digit)"
        )
    return text


_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def _given(
    setting: Setting, option: Callable[[str], Any], ini: Callable[[str], Any], environ: Mapping[str, str]
) -> tuple[tuple[tuple[Any, str], ...], ...]:
    """Per level (option, environment, ini): the (raw value, where) of each of the setting's names given there."""
    aliases = setting.aliases
    options = [(setting.dest, setting.option, None)] if setting.option else []
    options += [(a.dest, a.option, a.unset) for a in aliases if a.option]
    envs = [setting.env] + [a.env for a in aliases if a.env]
    inis = [setting.ini] + [a.ini for a in aliases if a.ini]
    levels = (
        [(option(dest), f"option {flag}", unset) for dest, flag, unset in options],
        [(environ.get(env), f"environment {env}", None) for env in envs],
        [(ini(key), f"ini {key}", None) for key in inis],
    )
    return tuple(
        tuple((raw, where) for raw, where, unset in level if raw not in (None, "", False) and raw != unset)
        for level in levels
    )


def setting_named(name: str) -> Setting:
    """The setting called `name` (KeyError if there is none)."""
    found = next((s for s in SETTINGS if s.name == name), None)
    if found is None:
        raise KeyError(name)
    return found


def resolve_setting(
    name: str,
    option: Callable[[str], Any],
    ini: Callable[[str], Any] = lambda key: None,
    environ: Mapping[str, str] | None = None,
) -> tuple[Any, str]:
    """One setting's value and where it came from ("default" when from nowhere).

    `option(dest)` and `ini(key)` return what was given (None when nothing); names
    given at one level must agree, else a ConfigError naming both."""
    setting = setting_named(name)
    environ = os.environ if environ is None else environ
    for given in _given(setting, option, ini, environ):
        if not given:
            continue
        values = [(_convert(setting, raw, where), raw, where) for raw, where in given]
        value, raw, where = values[0]
        for other, other_raw, other_where in values[1:]:
            if other != value:
                raise ConfigError(
                    f"{where} {str(raw)!r} and {other_where} {str(other_raw)!r} disagree: give {setting.name} once"
                )
        return value, where
    return setting.default, "default"


def resolve_settings(
    option: Callable[[str], Any],
    ini: Callable[[str], Any],
    environ: Mapping[str, str] | None = None,
) -> RunSettings:
    """Resolve every setting: option > environment > ini > default; errors name the source.

    `option(dest)` is the value of the option stored at `dest` (`Setting.dest`,
    `Alias.dest`), `ini(key)` that of an ini key; None (or the option's `unset`) when not given."""
    values: dict[str, Any] = {}
    sources = []
    for setting in SETTINGS:
        value, where = resolve_setting(setting.name, option, ini, environ)
        values[setting.name] = value
        if where != "default":
            sources.append((setting.name, where))
    values["report_dir"] = Path(values["report_dir"])
    if values.get("probe_routes"):
        from .samples import ROUTES

        routes = [r.strip() for r in str(values["probe_routes"]).split(",") if r.strip()]
        wrong = [r for r in routes if r not in ROUTES]
        if wrong or not routes:
            raise ConfigError(
                f"{dict(sources).get('probe_routes', 'probe_routes')}: {values['probe_routes']!r} "
                f"is not a list of routes (give some of {', '.join(ROUTES)}, comma-separated)"
            )
        values["probe_routes"] = ",".join(dict.fromkeys(routes))
    if values["kit_manifest"]:
        values["kit_manifest"] = Path(values["kit_manifest"])
    return RunSettings(**values, sources=tuple(sources))
