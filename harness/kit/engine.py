"""A Docker engine that answers and can run kind's privileged node containers.

Uses the engine that is already running when there is one, and leaves it as it
is. Where none answers (and we are root), installs Debian's `docker.io` and
starts it. Machines whose capability bounding set lacks capabilities (so that
`docker run --privileged` fails with "unable to apply caps") get the
`runc-capfix` shim registered as the engine's default runtime.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..errors import ProviderError, WaitTimeout
from ..poll import poll
from .paths import kit_file
from .stages import run, say

__all__ = [
    "EngineInfo",
    "ensure_engine",
    "ensure_tools",
    "missing_capabilities",
    "raise_inotify_limits",
    "CAPFIX_RUNTIME",
]

# Debian packages the kit runs, by the command that shows they are there.
BUILD_TOOLS = {"debootstrap": "debootstrap", "gcc": "gcc", "tar": "tar"}

CAPFIX_RUNTIME = "rollproof-capfix"
CAPFIX_PATH = Path("/usr/local/libexec/rollproof/runc-capfix")
DAEMON_JSON = Path("/etc/docker/daemon.json")
DOCKERD_LOG = Path("/var/log/rollproof-dockerd.log")
ENGINE_START_TIMEOUT = 60.0
ENGINE_POLL_INTERVAL = 0.5


@dataclass(frozen=True)
class EngineInfo:
    version: str
    default_runtime: str
    started_by_kit: bool


def missing_capabilities() -> int:
    """How many capabilities the kernel knows that this machine's bounding set lacks."""
    last = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapBnd:"):
            mask = int(line.split()[1], 16)
            return sum(1 for bit in range(last + 1) if not mask & (1 << bit))
    return 0


def _probe() -> tuple[EngineInfo | None, str]:
    proc = subprocess.run(
        ["docker", "info", "--format", "{{json .ServerVersion}} {{json .DefaultRuntime}}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    if proc.returncode == 0 and proc.stdout.strip():
        version, runtime = (json.loads(x) for x in proc.stdout.decode().split())
        return EngineInfo(version, runtime, False), ""
    return None, (proc.stderr or proc.stdout).decode(errors="replace").strip()


def _install_engine() -> None:
    if shutil.which("dockerd"):
        return
    say("no Docker engine installed: installing Debian's docker.io")
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "update"], what="apt-get update", env=env, fix="check that Debian's mirror is reachable")
    run(
        ["apt-get", "install", "-y", "--no-install-recommends", "docker.io", "debootstrap", "iptables"],
        what="apt-get install docker.io",
        env=env,
    )


def ensure_tools() -> None:
    """debootstrap and gcc, installed from Debian if missing."""
    missing = sorted({pkg for cmd, pkg in BUILD_TOOLS.items() if shutil.which(cmd) is None})
    if shutil.which("go") is None:
        raise ProviderError(
            "no Go toolchain on PATH: install Go 1.24 or newer (the kit builds kind and Kubernetes with it)"
        )
    if not missing:
        return
    if os.geteuid() != 0:
        raise ProviderError(
            f"missing {', '.join(missing)}: install them (apt-get install {' '.join(missing)}) or run as root"
        )
    say(f"installing {', '.join(missing)} from Debian")
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "update"], what="apt-get update", env=env, fix="check that Debian's mirror is reachable")
    run(["apt-get", "install", "-y", "--no-install-recommends", *missing], what="apt-get install build tools", env=env)


# Every kind node runs systemd, kubelet and kube-proxy, each holding inotify instances;
# distribution defaults (128) run out with a few nodes ("too many open files", NotReady).
INOTIFY_FLOORS = {"fs/inotify/max_user_instances": 8192, "fs/inotify/max_user_watches": 524288}


def raise_inotify_limits() -> None:
    """Raise the inotify limits kind nodes need (never lowers them); root only."""
    for key, floor in INOTIFY_FLOORS.items():
        path = Path("/proc/sys") / key
        try:
            current = int(path.read_text())
            if current < floor:
                path.write_text(str(floor))
                say(f"raised {key.replace('/', '.')} from {current} to {floor} (kind nodes need it)")
        except (OSError, ValueError) as exc:
            say(
                f"warning: could not raise {key.replace('/', '.')} to {floor} ({exc}); "
                f"run `sysctl -w {key.replace('/', '.')}={floor}` as root if nodes stay NotReady"
            )


def _configure_capfix() -> None:
    CAPFIX_PATH.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(kit_file("runc-capfix"), CAPFIX_PATH)
    CAPFIX_PATH.chmod(0o755)
    config = json.loads(DAEMON_JSON.read_text()) if DAEMON_JSON.exists() else {}
    config.setdefault("runtimes", {})[CAPFIX_RUNTIME] = {"path": str(CAPFIX_PATH)}
    config["default-runtime"] = CAPFIX_RUNTIME
    DAEMON_JSON.parent.mkdir(parents=True, exist_ok=True)
    DAEMON_JSON.write_text(json.dumps(config, indent=2) + "\n")
    say(f"registered {CAPFIX_RUNTIME} as the engine's default runtime in {DAEMON_JSON}")


def _start_engine() -> None:
    if Path("/run/systemd/system").is_dir():
        run(["systemctl", "restart", "docker"], what="systemctl restart docker")
        return
    log = open(DOCKERD_LOG, "ab")
    subprocess.Popen(["dockerd"], stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
    say(f"started dockerd (log: {DOCKERD_LOG})")


def ensure_engine() -> EngineInfo:
    """Return the running engine, installing and starting Debian's when none answers."""
    if shutil.which("docker") is None and os.geteuid() != 0:
        raise ProviderError("no docker CLI found: install Docker, or run `rollproof kit build` as root")
    info, error = _probe() if shutil.which("docker") else (None, "docker CLI not installed")
    if info is not None:
        if missing_capabilities() and info.default_runtime != CAPFIX_RUNTIME:
            say(
                f"warning: this machine lacks {missing_capabilities()} capabilities and the running engine "
                f"(default runtime {info.default_runtime}) may fail `--privileged`; left untouched"
            )
        return info
    if "permission denied" in error.lower():
        raise ProviderError("no permission on the Docker socket: run as root or add your user to the docker group")
    if os.geteuid() != 0:
        raise ProviderError(
            f"the Docker engine does not answer ({error.splitlines()[-1] if error else 'no output'}); "
            "start it, or run `rollproof kit build` as root to install and start one"
        )
    _install_engine()
    if missing_capabilities():
        _configure_capfix()
    _start_engine()

    def answered() -> tuple[bool, tuple[EngineInfo | None, str]]:
        info, error = _probe()
        return info is not None, (info, error)

    try:
        info, _ = poll(
            answered,
            waited_for="the Docker engine to start",
            timeout=ENGINE_START_TIMEOUT,
            interval=ENGINE_POLL_INTERVAL,
            describe=lambda seen: seen[1],
        )
    except WaitTimeout as exc:
        tail = DOCKERD_LOG.read_text(errors="replace").strip().splitlines()[-5:] if DOCKERD_LOG.exists() else []
        raise ProviderError(
            f"the Docker engine did not start within {ENGINE_START_TIMEOUT:.0f}s "
            f"(last error: {exc.last_seen}); see {DOCKERD_LOG}: {' | '.join(tail)}"
        ) from exc
    assert info is not None
    return EngineInfo(info.version, info.default_runtime, True)
