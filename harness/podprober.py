"""In-cluster prober: a pod running the Go sampler, its log lines followed into a ProbeRun.

For clusters whose NodePort the host cannot reach. The Go program
(fixtures/images/prober) is the open-loop sampler of `harness.probeloop` in Go:
the same JSON lines, read by the same `harness.samplestream.SampleStream`. Its times are
its node's CLOCK_MONOTONIC. On kind the nodes share the host's kernel, so that is
the harness's clock; elsewhere the offset is measured by timestamp exchanges with
the prober's /clock endpoint through the API server's pod proxy
(`harness.clocksync`), at start and at stop, and the run carries the bound.
`harness.kit.proberbuild` builds the program; the image holds it at `PROBER_PATH`.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Callable
from typing import Any

from harness.clocksync import ClockAlignment, align, combine, exchange_with
from harness.errors import ConfigError, HarnessError, NotFound, ProviderError
from harness.httpwire import check_path
from harness.kit.proberbuild import PROBER_PATH
from harness.kube.config import kube_errors
from harness.poll import poll
from harness.sampler import Ending, ProbeOptions, SamplerBase
from harness.samples import ProbeSample, clock
from harness.timeouts import DEFAULT_TIMEOUTS, Timeouts

__all__ = [
    "CLOCK_PORT",
    "PodProber",
    "prober_pod_manifest",
]

CLOCK_PORT = 8080
"""The prober's /clock endpoint, read through the pod proxy to align clocks."""

_CONTAINER = "prober"
_FATAL_WAITING = {
    "ErrImagePull",
    "ImagePullBackOff",
    "ErrImageNeverPull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
}
_CLOCK_ROUNDS = 5


def _go_duration(seconds: float) -> str:
    """Seconds as a Go duration flag value, exact to the nanosecond."""
    return f"{round(seconds * 1e9)}ns"


PROBER_CPU_REQUEST = "200m"


def prober_pod_manifest(
    name: str,
    image: str,
    target: str,
    options: ProbeOptions | None = None,
    *,
    path: str = "/",
    host_header: str | None = None,
    image_pull_policy: str = "IfNotPresent",
) -> dict[str, Any]:
    """The Pod that runs the sampler once against `target` ("ClusterIP:port")."""
    o = options or ProbeOptions()
    host, sep, port = target.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"prober target {target!r} must be 'ClusterIP:port', e.g. 10.96.12.34:80")
    check_path(path)
    args = [
        "-target",
        target,
        "-path",
        path,
        "-count",
        str(o.max_requests),
        "-duration",
        _go_duration(o.max_duration),
        "-interval",
        _go_duration(o.interval),
        "-max-inflight",
        str(o.inflight),
        "-connect-timeout",
        _go_duration(o.connect_timeout),
        "-read-timeout",
        _go_duration(o.read_timeout),
        "-clock-listen",
        f":{CLOCK_PORT}",
    ]
    if host_header:
        args += ["-host", host_header]
    if o.keep_alive:
        args.append("-keepalive")
    if o.marker:
        args += ["-marker", o.marker]
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
            "containers": [
                {
                    "name": _CONTAINER,
                    "image": image,
                    "imagePullPolicy": image_pull_policy,
                    "command": [PROBER_PATH],
                    "args": args,
                    "ports": [{"name": "clock", "containerPort": CLOCK_PORT}],
                    # A request that covers what the sampler uses at a 2 ms pace: with 50m (below its use) its
                    # cgroup ran behind the control plane's and ticks were 44-58 ms late on a busy 2-core node.
                    "resources": {
                        "requests": {"cpu": PROBER_CPU_REQUEST, "memory": "16Mi"},
                        "limits": {"memory": "64Mi"},
                    },
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
        },
    }


def _api(method: str, path: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call the kubernetes client through the one boundary (`harness.kube.config.kube_errors`)."""
    with kube_errors(method, path, _request_timeout(kwargs.get("_request_timeout"))):
        return fn(*args, **kwargs)


def _request_timeout(value: Any) -> float:
    """The read timeout in seconds of the client's `_request_timeout` (one number, or connect and read)."""
    if isinstance(value, tuple):
        return float(value[-1])
    return float(value or 0.0)


class PodProber(SamplerBase):
    """Runs the sampler pod in `namespace` against `target` and follows its log.

    `start()` creates the pod, waits for it to run (`timeouts.pods_ready`), aligns
    clocks (unless `same_clock`) and follows its log in a thread; `stop()` aligns
    again, deletes the pod (the sampler stops on SIGTERM and prints its count),
    reads the log to the end and returns the `ProbeRun`. The pod is deleted on
    every path out, errors included. A log stream that ends early or goes quiet
    for `stall_timeout` is reopened (replayed lines are dropped by sequence
    number); samples that never arrive count as lost in the run.
    """

    def __init__(
        self,
        core: Any,
        namespace: str,
        image: str,
        target: str,
        options: ProbeOptions | None = None,
        *,
        path: str = "/",
        host_header: str | None = None,
        name: str | None = None,
        image_pull_policy: str = "IfNotPresent",
        same_clock: bool = True,
        stall_timeout: float | None = None,
        max_stalls: int = 3,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
    ) -> None:
        self.name = name or f"rollproof-prober-{uuid.uuid4().hex[:8]}"
        super().__init__(
            options or ProbeOptions.of(timeouts), route="pod", where=f"pod {namespace}/{self.name} -> {target}"
        )
        self.core = core
        self.namespace = namespace
        self.timeouts = timeouts
        self.same_clock = same_clock
        self.manifest = prober_pod_manifest(
            self.name,
            image,
            target,
            self.options,
            path=path,
            host_header=host_header,
            image_pull_policy=image_pull_policy,
        )
        # the sampler prints at least every flush (20 ms) while it runs: a minute's silence is a stall
        self.stall_timeout = stall_timeout or max(2 * self.options.stop_wait, timeouts.poll_interval)
        self.max_stalls = max_stalls
        self.diagnostics = self.stream.diagnostics
        self.reopened = 0
        self.alignment: ClockAlignment | None = None
        self.alignment_error: str | None = None
        self._end_reason: str | None = None
        self._stopping = threading.Event()
        self._response: Any = None
        self._created = False
        self.error: BaseException | None = None
        """The exception that ended the log-following thread, if any."""

    def __repr__(self) -> str:
        return f"PodProber({self.kind} {self.where})"

    @property
    def _pod_path(self) -> str:
        return f"/api/v1/namespaces/{self.namespace}/pods/{self.name}"

    # -- caller side -------------------------------------------------------

    def start(self) -> PodProber:
        if self._created or self._thread is not None:
            raise HarnessError("this PodProber was already started; make a new one")
        _api(
            "POST",
            f"/api/v1/namespaces/{self.namespace}/pods",
            self.core.create_namespaced_pod,
            self.namespace,
            self.manifest,
            _request_timeout=self.timeouts.api_request,
        )
        self._created = True
        try:
            self._wait_running()
            self.started_at = clock()
            start_round = None if self.same_clock else self._clock_round()
            self.alignment = start_round
            self._response = self._open_log()
            self._follow_in_thread("rollproof-pod-prober")
        except BaseException:
            self._delete()
            raise
        return self

    def samples(self) -> list[ProbeSample]:
        """A snapshot of the samples received so far (sampler clock converted), in arrival order."""
        offset = self.alignment.offset if self.alignment is not None else 0.0
        return [s.shifted(offset) for s in self.stream.snapshot()] if offset else self.stream.snapshot()

    def _halt(self, stopped_at: float) -> Ending:
        """Align clocks once more, delete the pod, read its log to the end; how it ended (or the thread's error)."""
        if not self.same_clock and self.alignment is not None and self._created:
            self.alignment = combine(self.alignment, self._clock_round())
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
        if self.same_clock:
            offset, error = 0.0, 0.0
        elif self.alignment is not None:
            offset, error = self.alignment.offset, self.alignment.error
        else:
            offset, error = 0.0, float("inf")
        return Ending(stopped_at, self._end_reason or "log ended without a count", offset, error)

    # -- clock side --------------------------------------------------------

    def _read_clock(self) -> float:
        text = _api(
            "GET",
            f"{self._pod_path}:{CLOCK_PORT}/proxy/clock",
            self.core.connect_get_namespaced_pod_proxy_with_path,
            f"{self.name}:{CLOCK_PORT}",
            self.namespace,
            "clock",
            _request_timeout=self.timeouts.api_request,
        )
        return float(str(text).strip())

    def _clock_round(self) -> ClockAlignment | None:
        """One round of exchanges; None (and `alignment_error` set) when the pod proxy refuses."""
        try:
            return align(exchange_with(self._read_clock, _CLOCK_ROUNDS))
        except (HarnessError, ValueError) as exc:
            self.alignment_error = f"cannot read the prober's clock through the pod proxy: {exc}"
            self.diagnostics.append(self.alignment_error)
            return None

    # -- log side ----------------------------------------------------------

    def take_line(self, line: str | bytes) -> bool:
        """Record one log line; True if it brought something new."""
        return self.stream.take(line)

    def _open_log(self) -> Any:
        return _api(
            "GET",
            self._pod_path + "/log",
            self.core.read_namespaced_pod_log,
            self.name,
            self.namespace,
            container=_CONTAINER,
            follow=True,
            _preload_content=False,
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
                if self.stream.finished:
                    return
                stalls = 0 if progressed else stalls + 1
                if (not stalled and not progressed) or stalls > self.max_stalls:
                    self._end_reason = "log ended without the sampler's final count"
                    self.diagnostics.append(self._end_reason)
                    return
                self.diagnostics.append(f"log stream {'stalled' if stalled else 'ended early'}; reopened")
                self.reopened += 1
                try:
                    response = self._response = self._open_log()
                except NotFound:
                    self._end_reason = "pod gone before its log was read to the end"
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
        def running() -> tuple[bool, str]:
            pod = _api(
                "GET",
                self._pod_path,
                self.core.read_namespaced_pod,
                self.name,
                self.namespace,
                _request_timeout=self.timeouts.api_request,
            )
            phase = pod.status.phase if pod.status else None
            if phase in ("Running", "Succeeded", "Failed"):
                return True, f"phase {phase}"
            last = f"phase {phase}"
            for status in (pod.status.container_statuses or []) if pod.status else []:
                waiting = status.state.waiting if status.state else None
                if waiting is not None:
                    last = f"phase {phase}, container waiting: {waiting.reason}: {waiting.message or ''}"
                    if waiting.reason in _FATAL_WAITING:
                        raise ProviderError(f"prober pod {self.namespace}/{self.name} cannot start: {last}")
            return False, last

        poll(
            running,
            waited_for=f"prober pod {self.namespace}/{self.name} to run",
            timeout=self.timeouts.pods_ready,
            interval=self.timeouts.poll_interval,
            stop=self._stopping,
        )

    def _delete(self) -> None:
        if not self._created:
            return
        with contextlib.suppress(NotFound):
            _api(
                "DELETE",
                self._pod_path,
                self.core.delete_namespaced_pod,
                self.name,
                self.namespace,
                grace_period_seconds=self.manifest["spec"]["terminationGracePeriodSeconds"],
                _request_timeout=self.timeouts.api_request,
            )
        self._created = False
