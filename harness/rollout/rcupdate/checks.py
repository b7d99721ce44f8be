"""Everything a rolling update can check before its first write (pure: no I/O, no cluster).

* `parse_duration`: Go's `time.ParseDuration` syntax (`10s`, `1m30s`, `500ms`),
  which kubectl's `--update-period`, `--poll-interval` and `--timeout` took;
* `check_image`: a container image reference by the distribution grammar
  (`[host[:port]/]path[:tag][@digest]`, lower-case path);
* `check_fenceposts`: max surge / max unavailable well-formed and not both zero;
* `load_manifest_text` and `check_rc_manifest`: one YAML/JSON document that is a
  ReplicationController of the shape the API server accepts (names, labels,
  selector matching the template, containers with valid images).

Every error is a one-line `ConfigError` naming the input (`source`) and what to
fix; none quotes the input's content beyond the offending field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml

from harness.errors import ConfigError

__all__ = [
    "parse_duration",
    "check_image",
    "check_fenceposts",
    "check_name",
    "check_labels",
    "load_manifest_text",
    "check_rc_manifest",
    "PULL_POLICIES",
]

PULL_POLICIES = ("Always", "Never", "IfNotPresent")

# --------------------------------------------------------------------------- durations

_UNITS = {"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "\u03bcs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_PART = re.compile(r"(\d*)(?:\.(\d*))?([^\d.]+)")
_MAX_DURATION_S = (2**63 - 1) / 1e9  # Go's time.Duration is int64 nanoseconds


def parse_duration(text: str, flag: str = "duration", *, allow_zero: bool = True) -> float:
    """Seconds in `text`, written as Go's time.ParseDuration reads it ("10s", "1m30s", "1.5h", "0").

    A bare number other than 0 has no unit and is refused, as kubectl refused
    it; negative values are refused too (a negative period or timeout means
    nothing to an update).
    """
    raw = text
    if not isinstance(text, str) or not text:
        raise ConfigError(f"{flag}: empty duration; write it like 10s, 1m30s or 500ms")
    sign = 1.0
    if text[0] in "+-":
        sign = -1.0 if text[0] == "-" else 1.0
        text = text[1:]
    if text == "0":
        total = 0.0
    else:
        if not text:
            raise ConfigError(f"{flag}: {raw!r} is not a duration; write it like 10s, 1m30s or 500ms")
        total, pos = 0.0, 0
        while pos < len(text):
            match = _DURATION_PART.match(text, pos)
            if match is None or not (match.group(1) or match.group(2)):
                if match is None and text[pos:].replace(".", "").isdigit():
                    example = f"{text}s" if pos == 0 else "1m30s"
                    raise ConfigError(
                        f"{flag}: {raw!r} has a number without a unit; write it like {example} "
                        "(units: ns, us, ms, s, m, h)"
                    )
                raise ConfigError(f"{flag}: {raw!r} is not a duration; write it like 10s, 1m30s or 500ms")
            whole, frac, unit = match.groups()
            if unit not in _UNITS:
                raise ConfigError(f"{flag}: unknown unit {unit!r} in {raw!r}; use ns, us, ms, s, m or h")
            total += float(f"{whole or '0'}.{frac or '0'}") * _UNITS[unit]
            pos = match.end()
        if total > _MAX_DURATION_S:
            raise ConfigError(f"{flag}: {raw!r} is out of range (at most about 2562047h)")
    total = total * sign if total else 0.0
    if total < 0:
        raise ConfigError(f"{flag}: {raw!r} is negative; give a duration of 0 or more")
    if total == 0 and not allow_zero:
        raise ConfigError(f"{flag}: {raw!r} must be longer than 0")
    return total


# --------------------------------------------------------------------------- images

_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(
    rf"^(?P<name>(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)(?::{_TAG})?(?:@{_DIGEST})?$"
)
_MAX_NAME = 255
_SHOWABLE = re.compile(r"^[\x21-\x7e]{1,80}$")  # short and without spaces: safe to quote in an error


def check_image(image: Any, what: str = "image") -> str:
    """`image` if it is a valid image reference (`[host[:port]/]path[:tag][@digest]`), else a ConfigError."""
    if not isinstance(image, str) or not image:
        raise ConfigError(f"{what}: an image reference is required, e.g. rollproof/nginx:1.26.3")
    match = _REFERENCE.match(image)
    if match is None or len(match.group("name")) > _MAX_NAME:
        shown = repr(image) if _SHOWABLE.match(image) else f"a {len(image)}-character text"
        raise ConfigError(
            f"{what}: {shown} is not an image reference; expected [host[:port]/]path[:tag][@digest] "
            "with a lower-case path, e.g. rollproof/nginx:1.26.3"
        )
    return image


# --------------------------------------------------------------------------- surge / unavailable


def _int_or_percent(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise ConfigError(f"{name} must be an integer or a percentage such as '25%', not {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ConfigError(f"{name} must not be negative, got {value}")
        return value
    if isinstance(value, str):
        text = value.strip()
        digits = text[:-1] if text.endswith("%") else text
        if digits.isdigit():
            return int(digits)
    raise ConfigError(f"{name} must be an integer or a percentage such as '25%', not {value!r}")


def check_fenceposts(max_surge: Any, max_unavailable: Any) -> None:
    """Both well-formed (int >= 0 or 'N%'), and not both zero: then nothing could ever move."""
    surge = _int_or_percent(max_surge, "max_surge")
    unavailable = _int_or_percent(max_unavailable, "max_unavailable")
    if surge == 0 and unavailable == 0:
        raise ConfigError(
            "max surge and max unavailable are both 0: one of them must allow progress "
            "(kubectl used max surge 1, max unavailable 0)"
        )


# --------------------------------------------------------------------------- names and labels

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")


def check_name(value: Any, what: str, *, label: bool = False) -> str:
    """A DNS-1123 subdomain (≤253), or with `label` a DNS-1123 label (≤63)."""
    limit, pattern = (63, _DNS_LABEL) if label else (253, _DNS_SUBDOMAIN)
    if not isinstance(value, str) or not value or len(value) > limit or not pattern.match(value):
        raise ConfigError(
            f"{what} {value!r} is not a valid name: lower-case letters, digits and '-'"
            f"{'' if label else ' or .'}, at most {limit} characters"
        )
    return value


def _check_label_key(key: Any, where: str) -> None:
    if not isinstance(key, str):
        raise ConfigError(f"{where}: label key {key!r} must be a string")
    prefix, _, name = key.rpartition("/")
    if (
        (prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)))
        or len(name) > 63
        or not _LABEL_NAME.match(name)
    ):
        raise ConfigError(
            f"{where}: {key!r} is not a valid label key ([prefix/]name, name of letters, digits, "
            "'-', '_', '.', at most 63 characters)"
        )


def check_labels(labels: Any, where: str) -> dict[str, str]:
    """A mapping of valid label keys to valid label values (strings, ≤63 characters)."""
    if labels is None:
        return {}
    if not isinstance(labels, Mapping):
        raise ConfigError(f"{where} must be a mapping of label keys to values, not {type(labels).__name__}")
    for key, value in labels.items():
        _check_label_key(key, where)
        if not isinstance(value, str):
            raise ConfigError(
                f"{where}: the value of {key!r} must be a string (quote it in YAML), not {type(value).__name__}"
            )
        if value and (len(value) > 63 or not _LABEL_NAME.match(value)):
            raise ConfigError(f"{where}: {value!r} (for {key!r}) is not a valid label value")
    return dict(labels)


# --------------------------------------------------------------------------- manifests


def load_manifest_text(text: str, source: str) -> dict[str, Any]:
    """The one YAML or JSON document in `text`, which must be a mapping (an object)."""
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise ConfigError(f"{source}: not valid YAML or JSON{where}; give a ReplicationController manifest") from None
    if not docs:
        raise ConfigError(f"{source}: the file is empty; give a ReplicationController manifest")
    if len(docs) > 1:
        raise ConfigError(f"{source}: holds {len(docs)} documents; give exactly one ReplicationController")
    doc = docs[0]
    if not isinstance(doc, Mapping):
        raise ConfigError(
            f"{source}: not a ReplicationController manifest (the file parses as a {_kind_of_value(doc)}, "
            "not an object with apiVersion, kind, metadata and spec)"
        )
    return dict(doc)


def _kind_of_value(value: Any) -> str:
    if isinstance(value, str):
        return "single text value"
    if isinstance(value, list):
        return "list"
    return type(value).__name__


def _mapping(value: Any, where: str, *, required: bool = True) -> Mapping[str, Any]:
    if value is None and not required:
        return {}
    if not isinstance(value, Mapping):
        shown = "missing" if value is None else f"a {_kind_of_value(value)}"
        raise ConfigError(f"{where} must be an object, it is {shown}")
    return value


def _count(value: Any, where: str) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{where} must be a whole number of 0 or more, not {value!r}")


def check_rc_manifest(doc: Any, source: str) -> dict[str, Any]:
    """`doc` if it is a ReplicationController the API server would accept; else a one-line ConfigError.

    Checks kind and apiVersion, metadata.name (and namespace, labels), the
    selector (defaulted to the template's labels as the server does) and that it
    matches the template's labels, the replica count, and every container's
    name and image.
    """
    if not isinstance(doc, Mapping):
        raise ConfigError(f"{source}: not a ReplicationController manifest (a {_kind_of_value(doc)})")
    kind, api_version = doc.get("kind"), doc.get("apiVersion")
    if kind != "ReplicationController":
        found = f"kind {kind!r}" + (f" ({api_version})" if api_version else "") if kind else "no kind"
        raise ConfigError(f"{source}: {found}, not a ReplicationController")
    if api_version != "v1":
        raise ConfigError(f"{source}: apiVersion {api_version!r}; a ReplicationController is apiVersion v1")
    meta = _mapping(doc.get("metadata"), f"{source}: metadata")
    name = check_name(meta.get("name"), f"{source}: metadata.name")
    if meta.get("namespace") not in (None, ""):
        check_name(meta["namespace"], f"{source}: metadata.namespace", label=True)
    check_labels(meta.get("labels"), f"{source}: metadata.labels")
    annotations = _mapping(meta.get("annotations"), f"{source}: metadata.annotations", required=False)
    if any(not isinstance(v, str) for v in annotations.values()):
        raise ConfigError(f"{source}: metadata.annotations values must be strings (quote them in YAML)")
    spec = _mapping(doc.get("spec"), f"{source}: spec")
    _count(spec.get("replicas"), f"{source}: spec.replicas")
    _count(spec.get("minReadySeconds"), f"{source}: spec.minReadySeconds")
    template = _mapping(spec.get("template"), f"{source}: spec.template")
    template_meta = _mapping(template.get("metadata"), f"{source}: spec.template.metadata")
    template_labels = check_labels(template_meta.get("labels"), f"{source}: spec.template.metadata.labels")
    selector = check_labels(spec.get("selector"), f"{source}: spec.selector") or template_labels
    if not selector:
        raise ConfigError(f"{source}: {name!r} has no selector and no template labels to default it from")
    unmatched = {k: v for k, v in selector.items() if template_labels.get(k) != v}
    if unmatched:
        raise ConfigError(
            f"{source}: spec.selector {unmatched} does not match the template's labels "
            f"{template_labels}; its pods would not be counted"
        )
    pod_spec = _mapping(template.get("spec"), f"{source}: spec.template.spec")
    containers = pod_spec.get("containers")
    if not isinstance(containers, list) or not containers:
        raise ConfigError(f"{source}: spec.template.spec.containers must list at least one container")
    seen: set[str] = set()
    for index, container in enumerate(containers):
        where = f"{source}: spec.template.spec.containers[{index}]"
        container = _mapping(container, where)
        cname = check_name(container.get("name"), f"{where}.name", label=True)
        if cname in seen:
            raise ConfigError(f"{where}.name {cname!r} is used twice")
        seen.add(cname)
        check_image(container.get("image"), f"{where}.image")
        policy = container.get("imagePullPolicy")
        if policy is not None and policy not in PULL_POLICIES:
            raise ConfigError(f"{where}.imagePullPolicy {policy!r}: use one of {', '.join(PULL_POLICIES)}")
    return dict(doc)
