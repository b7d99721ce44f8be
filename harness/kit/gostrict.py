"""Strict dependency checks for code built with an older Go: every module pinned, every package loadable.

`go mod tidy -e` (and `go list` under -mod=mod) look a package up at its newest version when no
requirement or replace provides it ("go: finding module for package P"), and -e carries on past
what fails. For a release written for Go 1.12 that is a silent change of dependency (tablewriter
v1 for etcdctl 3.3), or a failure much later in `go build` that names no module. These checks
turn each into one line naming the module.

A lookup that fails is not an error by itself: tidy also loads what the build never compiles
(tests of dependencies without a go.mod, other platforms; 1.15's heketi tests import packages
Kubernetes removed long ago). `go list -deps` over the packages built says whether it matters.
"""

from __future__ import annotations

import re

from ..errors import ProviderError

__all__ = [
    "LOAD_ERRORS_FORMAT",
    "check_build_packages",
    "check_tidy",
    "failed_lookups",
    "load_errors",
    "newest_taken",
]

_FINDING = re.compile(r"^go: finding module for package (\S+)\s*$", re.M)
_FOUND = re.compile(r"^go: found (\S+) in (\S+) (\S+)\s*$", re.M)
_NEEDS_GO = re.compile(r"^go: (\S+)@(\S+) requires go >= (\S+)", re.M)

LOAD_ERRORS_FORMAT = '{{if .Error}}load-error {{.ImportPath}} {{printf "%q" .Error.Err}}{{end}}'
"""`go list -f` template printing one line per package that cannot be loaded."""
_LOAD_ERROR = re.compile(r"^load-error (\S+) \"(.*)\"\s*$", re.M)

_FIX = "pin a version of that release's era in harness/kit/versions.py (OldGo.requires or OldGo.replaces)"


def newest_taken(output: str) -> list[str]:
    """ "module version" of each module go took at its newest version for a package nothing pinned."""
    found = {pkg: f"{module} {version}" for pkg, module, version in _FOUND.findall(output)}
    looked_up = _FINDING.findall(output)
    return list(dict.fromkeys(found[pkg] for pkg in looked_up if pkg in found))


def failed_lookups(output: str) -> list[str]:
    """Packages go looked up at their newest version and found nowhere (with why, where go said)."""
    found = {pkg for pkg, _, _ in _FOUND.findall(output)}
    needs_go = {module: f"{module}@{version} needs go >= {go}" for module, version, go in _NEEDS_GO.findall(output)}
    out = []
    for pkg in dict.fromkeys(_FINDING.findall(output)):
        if pkg not in found:
            why = next((text for module, text in needs_go.items() if pkg == module or pkg.startswith(module + "/")), "")
            out.append(f"{pkg} ({why})" if why else pkg)
    return out


def load_errors(output: str) -> list[tuple[str, str]]:
    """(package, first line of its error) for each line `go list -f LOAD_ERRORS_FORMAT` printed."""
    return [(pkg, err.replace("\\t", " ").split("\\n")[0]) for pkg, err in _LOAD_ERROR.findall(output)]


def check_tidy(what: str, output: str) -> list[str]:
    """Fail when `go mod tidy -e` (described by `what`) took any module at its newest version;
    return the lookups that failed, for `check_build_packages` to judge."""
    taken = newest_taken(output)
    if taken:
        raise ProviderError(f"{what} found no pin for {', '.join(taken)} and took the newest: {_FIX}")
    return failed_lookups(output)


def check_build_packages(what: str, output: str) -> None:
    """Fail when `go list -deps -e -f LOAD_ERRORS_FORMAT` over the packages built (described by `what`)
    took a module at its newest version or cannot load a package."""
    taken = newest_taken(output)
    if taken:
        raise ProviderError(f"{what} found no pin for {', '.join(taken)} and took the newest: {_FIX}")
    errors = load_errors(output)
    if errors:
        pkg, err = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ProviderError(f"{what} cannot load {pkg}: {err}{more}: {_FIX}")
