"""In-cluster prober: a pod running the Go prober, its log lines parsed into ProbeSamples.

For clusters whose NodePort the host cannot reach. The Go program
(fixtures/images/prober) prints one JSON line per request with a sequence number
and CLOCK_MONOTONIC times, which equal `harness.samples.clock` on the host
because kind nodes share the host's kernel. `build_prober_binary` builds it; the
image must hold it at `PROBER_PATH`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, HarnessError, NotFound, ProviderError, WaitTimeout, api_error
from harness.samples import ProbeSample, clock
from harness.timeouts import DEFAULT_TIMEOUTS, Timeouts

__all__ = [
    "PROBER_PATH",
    "PROBER_SOURCE",
    "LogLine",
    "PodProber",
    "build_prober_binary",
    "parse_log_line",
    "parse_sample_line",
    "prober_pod_manifest",
]

PROBER_PATH = "/prober"
"""Where the prober image holds the binary."""

PROBER_SOURCE = Path(__file__).resolve().parent.parent / "fixtures" / "images" / "prober"
"""The Go module of the prober (in a source checkout)."""

_CONTAINER = "prober"
_FATAL_WAITING = {
    "ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName",
    "CreateContainerConfigError", "CreateContainerError",
}
_DONE = re.compile(r"rollproof-prober: done after (\d+) requests")


@dataclass(frozen=True)
class LogLine:
    """One prober log line: a sample with its sequence number, the final count, or a diagnostic."""

    seq: int | None = None
    sample: ProbeSample | None = None
    done: int | None = None
    text: str = ""


def parse_log_line(line: str | bytes) -> LogLine:
    """Classify one prober log line."""
    text = (line.decode("utf-8", "replace") if isinstance(line, bytes) else line).strip()
    if text.startswith("{"):
        try:
            record = json.loads(text)
            status = record.get("st")
            sample = ProbeSample(
                start=float(record["s"]),
                end=float(record["e"]),
                status=int(status) if status else None,
                error=record.get("err") or None,
                server=record.get("srv") or None,
                marker=record.get("m") or None,
            )
            seq = record.get("n")
            return LogLine(seq=int(seq) if seq is not None else None, sample=sample)
        except (ValueError, KeyError, TypeError, AttributeError):
            return LogLine(text=text)
    done = _DONE.search(text)
    return LogLine(done=int(done.group(1)), text=text) if done else LogLine(text=text)


def parse_sample_line(line: str | bytes) -> ProbeSample | None:
    """One prober log line as a ProbeSample; None for anything else."""
    return parse_log_line(line).sample


def _go_duration(seconds: float) -> str:
    """Seconds as a Go duration flag value, exact to the nanosecond."""
    return f"{round(seconds * 1e9)}ns"


def prober_pod_manifest(
    name: str,
    image: str,
    target: str,
    *,
    path: str = "/",
    host_header: str | None = None,
    keep_alive: bool = False,
    interval: float = 0.0,
    connect_timeout: float = 1.0,
    read_timeout: float = 2.0,
    max_requests: int = 1_000_000,
    max_duration: float = DEFAULT_TIMEOUTS.probe_max_duration,
    marker: str | None = None,
    image_pull_policy: str = "IfNotPresent",
) -> dict[str, Any]:
    """The Pod that runs the prober once against `target` ("ClusterIP:port")."""
    host, sep, port = target.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"prober target {target!r} must be 'ClusterIP:port', e.g. 10.96.12.34:80")
    if not path.startswith("/") or any(c in path for c in " \r\n\t"):
        raise ConfigError(f"probe path {path!r} must start with '/' and hold no whitespace")
    args = [
        "-target", target, "-path", path,
        "-count", str(max_requests), "-duration", _go_duration(max_duration),
        "-interval", _go_duration(interval),
        "-connect-timeout", _go_duration(connect_timeout), "-read-timeout", _go_duration(read_timeout),
    ]
    if host_header:
        args += ["-host", host_header]
    if keep_alive:
        args.append("-keepalive")
    if marker:
        args += ["-marker", marker]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "labels": {"app.kubernetes.io/name": "rollproof-prober", "app.kubernetes.io/managed-by": "rollproof"},
        },
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 5,
            "enableServiceLinks": False,
            "automountServiceAccountToken": False,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 65534, "runAsGroup": 65534},
            "containers": [{
                "name": _CONTAINER,
                "image": image,
                "imagePullPolicy": image_pull_policy,
                "command": [PROBER_PATH],
                "args": args,
                "resources": {"requests": {"cpu": "50m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}},
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "readOnlyRootFilesystem": True,
                    "capabilities": {"drop": ["ALL"]},
                },
            }],
        },
    }


def _api(method: str, path: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call the kubernetes client; its ApiException becomes the harness's ApiError."""
    from kubernetes.client.exceptions import ApiException

    try:
        return fn(*args, **kwargs)
    except ApiException as exc:
        body: Any = exc.body
        if isinstance(body, (bytes, str)):
            try:
                body = json.loads(body)
            except ValueError:
                body = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        raise api_error(exc.status or 0, body, method=method, path=path) from exc


class PodProber:
    """Runs the prober pod in `namespace` against `target` and collects its samples.

    `start()` creates the pod, waits for it to run (`timeouts.pods_ready`) and
    follows its log in a thread; `stop()` deletes the pod (the prober stops on
    SIGTERM and prints its count), waits for the log to end and returns the
    samples, or re-raises the thread's exception. The pod is deleted on every
    path out, errors included.

    A log stream that ends early or goes quiet for `stall_timeout` (kubelet log
    rotation can stall a follow) is reopened; replayed lines are dropped by
    sequence number. `missing` counts sequence numbers never received and
    `complete` says whether every request the prober reported was received.
    Log lines that are not samples are kept in `diagnostics`.
    """

    def __init__(
        self,
        core: Any,
        namespace: str,
        image: str,
        target: str,
        *,
        path: str = "/",
        host_header: str | None = None,
        keep_alive: bool = False,
        interval: float = 0.0,
        connect_timeout: float = 1.0,
        read_timeout: float = 2.0,
        max_requests: int = 1_000_000,
        max_duration: float = DEFAULT_TIMEOUTS.probe_max_duration,
        marker: str | None = None,
        name: str | None = None,
        image_pull_policy: str = "IfNotPresent",
        stall_timeout: float | None = None,
        max_stalls: int = 3,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
    ) -> None:
        self.core = core
        self.namespace = namespace
        self.name = name or f"rollproof-prober-{uuid.uuid4().hex[:8]}"
        self.timeouts = timeouts
        self.manifest = prober_pod_manifest(
            self.name, image, target, path=path, host_header=host_header, keep_alive=keep_alive,
            interval=interval, connect_timeout=connect_timeout, read_timeout=read_timeout,
            max_requests=max_requests, max_duration=max_duration, marker=marker,
            image_pull_policy=image_pull_policy,
        )
        # the prober prints at least once per interval + connect + read: quieter than twice that is a stall
        self.stall_timeout = stall_timeout or 2 * (interval + connect_timeout + read_timeout) + timeouts.poll_interval
        self.max_stalls = max_stalls
        self._samples: list[ProbeSample] = []
        self.diagnostics: list[str] = []
        self.missing = 0
        """Sequence numbers skipped by the log (lines lost, e.g. to log rotation)."""
        self.reported: int | None = None
        """The request count the prober printed when it ended, once seen."""
        self.reopened = 0
        self._last_seq = 0
        self._seen_text: set[str] = set()
        self._lock = threading.Lock()
        self._first = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._response: Any = None
        self._created = False
        self.error: BaseException | None = None
        """The exception that ended the log-following thread, if any."""
        self.stopped = False  # True once stop() was called

    @property
    def _pod_path(self) -> str:
        return f"/api/v1/namespaces/{self.namespace}/pods/{self.name}"

    @property
    def complete(self) -> bool:
        """True once the prober's final count came and every request up to it was received."""
        return self.reported is not None and self._last_seq == self.reported and self.missing == 0

    # -- caller side -------------------------------------------------------

    def start(self) -> PodProber:
        if self._created or self._thread is not None:
            raise HarnessError("this PodProber was already started; make a new one")
        _api("POST", f"/api/v1/namespaces/{self.namespace}/pods",
             self.core.create_namespaced_pod, self.namespace, self.manifest,
             _request_timeout=self.timeouts.api_request)
        self._created = True
        try:
            self._wait_running()
            self._response = self._open_log()
            self._thread = threading.Thread(target=self._follow, name="rollproof-pod-prober", daemon=True)
            self._thread.start()
        except BaseException:
            self._delete()
            raise
        return self

    def wait_started(self, timeout: float) -> bool:
        """Wait for the first sample; True once it came."""
        return self._first.wait(timeout)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the prober to end by itself and its log to be read; True if it has."""
        if self._thread is None:
            return False
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def stop(self) -> list[ProbeSample]:
        """Delete the pod, read its log to the end, return all samples (or raise the thread's error)."""
        self.stopped = True
        self._stopping.set()
        try:
            self._delete()
        finally:
            if self._thread is not None:
                self._thread.join(self.timeouts.api_request + self.stall_timeout)
                if self._thread.is_alive():
                    self._close(self._response)
                    self._thread.join(self.timeouts.api_request)
        if self.error is not None:
            raise self.error
        return self.samples()

    def samples(self) -> list[ProbeSample]:
        """A snapshot of the samples received so far, in request order."""
        with self._lock:
            return list(self._samples)

    def __enter__(self) -> PodProber:
        return self.start()

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc is None:
            self.stop()
            return
        with contextlib.suppress(BaseException):  # the body's exception wins; the thread's stays in `error`
            self.stop()

    # -- log side ----------------------------------------------------------

    def take_line(self, line: str | bytes) -> bool:
        """Record one log line; True if it brought something new."""
        parsed = parse_log_line(line)
        with self._lock:
            if parsed.sample is None:
                if not parsed.text or parsed.text in self._seen_text:
                    return False  # blank, or replayed after a reopen
                self._seen_text.add(parsed.text)
                self.diagnostics.append(parsed.text)
                if parsed.done is not None:
                    self.reported = parsed.done
                    if parsed.done > self._last_seq:
                        self.missing += parsed.done - self._last_seq
                        self.diagnostics.append(f"log lost requests {self._last_seq + 1}..{parsed.done}")
                        self._last_seq = parsed.done
                return True
            seq = parsed.seq if parsed.seq is not None else self._last_seq + 1
            if seq <= self._last_seq:
                return False  # replayed after a reopen
            if seq > self._last_seq + 1:
                self.missing += seq - self._last_seq - 1
                self.diagnostics.append(f"log lost requests {self._last_seq + 1}..{seq - 1}")
            self._last_seq = seq
            self._samples.append(parsed.sample)
        self._first.set()
        return True

    def _open_log(self) -> Any:
        return _api(
            "GET", self._pod_path + "/log", self.core.read_namespaced_pod_log, self.name, self.namespace,
            container=_CONTAINER, follow=True, _preload_content=False,
            _request_timeout=(self.timeouts.api_request, self.stall_timeout),
        )

    def _follow(self) -> None:
        from urllib3.exceptions import HTTPError as StreamError

        stalls = 0
        response = self._response
        try:
            while True:
                progressed = stalled = False
                pending = b""
                try:  # the log stream is chunked: each chunk arrives as the kubelet writes it
                    for chunk in response.stream(amt=None, decode_content=False):
                        *lines, pending = (pending + chunk).split(b"\n")
                        for line in lines:
                            progressed |= self.take_line(line)
                    if pending:
                        progressed |= self.take_line(pending)
                except StreamError:  # read timeout or broken stream
                    stalled = True
                finally:
                    self._close(response)
                if self.complete:
                    return
                stalls = 0 if progressed else stalls + 1
                if (not stalled and not progressed) or stalls > self.max_stalls:
                    with self._lock:  # the log has nothing more (container killed, pod gone)
                        self.diagnostics.append(f"log ended without the prober's final count ({self._last_seq} seen)")
                    return
                with self._lock:
                    self.diagnostics.append(f"log stream {'stalled' if stalled else 'ended early'}; reopened")
                self.reopened += 1
                try:
                    response = self._response = self._open_log()
                except NotFound:
                    return
        except BaseException as exc:
            if not self._stopping.is_set():
                self.error = exc

    @staticmethod
    def _close(response: Any) -> None:
        if response is not None:
            with contextlib.suppress(Exception):
                response.close()
                response.release_conn()

    # -- pod side ----------------------------------------------------------

    def _wait_running(self) -> None:
        deadline = clock() + self.timeouts.pods_ready
        last = "not read yet"
        while True:
            pod = _api("GET", self._pod_path, self.core.read_namespaced_pod, self.name, self.namespace,
                       _request_timeout=self.timeouts.api_request)
            phase = pod.status.phase if pod.status else None
            if phase in ("Running", "Succeeded", "Failed"):
                return
            last = f"phase {phase}"
            for status in (pod.status.container_statuses or []) if pod.status else []:
                waiting = status.state.waiting if status.state else None
                if waiting is not None:
                    last = f"phase {phase}, container waiting: {waiting.reason}: {waiting.message or ''}"
                    if waiting.reason in _FATAL_WAITING:
                        raise ProviderError(f"prober pod {self.namespace}/{self.name} cannot start: {last}")
            if clock() >= deadline or self._stopping.wait(self.timeouts.poll_interval):
                raise WaitTimeout(f"prober pod {self.namespace}/{self.name} to run", self.timeouts.pods_ready, last)

    def _delete(self) -> None:
        if not self._created:
            return
        with contextlib.suppress(NotFound):
            _api("DELETE", self._pod_path, self.core.delete_namespaced_pod, self.name, self.namespace,
                 grace_period_seconds=self.manifest["spec"]["terminationGracePeriodSeconds"],
                 _request_timeout=self.timeouts.api_request)
        self._created = False


def build_prober_binary(
    out_dir: str | os.PathLike[str],
    *,
    goarch: str | None = None,
    go: str | None = None,
    source_dir: str | os.PathLike[str] = PROBER_SOURCE,
    cache_root: str | os.PathLike[str] | None = None,
    timeout: float = 600.0,
) -> Path:
    """Build the static prober binary into `out_dir`/prober and return its path.

    Go caches live under `cache_root` (default `$ROLLPROOF_CACHE` or
    /var/cache/rollproof); the module has no dependencies, so no network is used.
    """
    source = Path(source_dir)
    if not (source / "go.mod").is_file():
        raise ConfigError(f"no prober Go module at {source}; pass source_dir= a checkout's fixtures/images/prober")
    go_bin = go or shutil.which("go") or "/usr/local/go/bin/go"
    if not Path(go_bin).is_file():
        raise ConfigError(f"no Go toolchain at {go_bin}; install Go or pass go= its path")
    cache = Path(cache_root or os.environ.get("ROLLPROOF_CACHE", "/var/cache/rollproof"))
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "GOCACHE": str(cache / "gobuild"),
        "GOMODCACHE": str(cache / "gomod"),
        "CGO_ENABLED": "0",
        "GOOS": "linux",
        "GOTOOLCHAIN": "local",
        "GOFLAGS": "-mod=mod -buildvcs=false",
        "GOPROXY": "off",
    }
    if goarch:
        env["GOARCH"] = goarch
    binary = out / "prober"
    command = [go_bin, "build", "-trimpath", "-ldflags=-s -w", "-o", str(binary), "."]
    try:
        result = subprocess.run(command, cwd=source, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise ProviderError(f"go build of the prober took over {timeout:.0f}s") from exc
    if result.returncode != 0:
        raise ProviderError(f"go build of the prober failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    return binary
