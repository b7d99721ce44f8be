"""A Service watched while a scenario changes what is behind it.

`ProbedService` runs, around every rollout a scenario performs:

- one sampler per connection kind (new connections, and a reused keep-alive
  connection), open-loop, each with its own verdict;
- the data-path recorder (EndpointSlices, pods, kube-proxy syncs), so every
  failed request gets its cause, and the CPUs' steal time, so a sampler's gap
  while the hypervisor did not run the machine says so;
- the rollout phases: `with probed.phase(label, versions):` marks when a change
  started and when it settled (completion plus endpoint propagation).

`finish()` watches the settled state for a named while, stops everything and
analyses each sampler's run once (`harness.analysis.analyse`): the assertions,
the report, the JUnit properties and the picture all read those analyses.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from .analysis import MAX_CLOCK_ERROR, Phase, ProbeAnalysis, analyse, held_together
from .attribution import attributor
from .datapath import DataPathRecorder, DataPathTimeline
from .errors import HarnessError, WaitTimeout
from .poll import poll
from .sampler import ProbeOptions, Prober
from .samples import KEEP_ALIVE, ProbeRun, ProbeSample, clock, failures_with_ports, merge_runs
from .notrun import InterruptTrace, NotRun
from .steal import StealRecord, StealRecorder, explain_stolen
from .pictures import DRAWER
from .stopwatch import STOPWATCH, observe_for
from .timeouts import Timeouts

__all__ = ["ProbedService", "EvidenceSource", "EXIT_MARGIN"]

log = logging.getLogger("rollproof.probing")

EXIT_MARGIN = 1.0
"""How long the samplers go on past the last pod exit seen (seconds): at a 2 ms pace, hundreds of
requests per sampler meet the pod gone, through any rule or conntrack entry still naming it."""


class EvidenceSource(Protocol):
    """A watcher whose record a verdict also rests on (e.g. a ReplicaSet watcher)."""

    def evidence_problems(self, since: float, until: float) -> list[str]: ...


@dataclass
class ProbedService:
    """See the module docstring. `open_sampler(options)` returns a not yet started `Prober`;
    `versions` maps images to the Server header each answers with (for attribution);
    `connection_lifetime` is the longest keep-alive connection the pods keep (seconds, None: no
    bound), which an old answer over a connection opened before settle may take (`analyse`)."""

    service: str
    open_sampler: Callable[[ProbeOptions], Prober]
    options: Sequence[ProbeOptions]
    timeouts: Timeouts
    datapath: DataPathRecorder | None = None
    versions: Mapping[str, str] = field(default_factory=dict)
    failures: str = "asserted"
    connection_lifetime: float | None = None
    origin: float = field(default_factory=clock)
    on_rollout_time: Callable[[float], None] = lambda seconds: None
    on_finish: Callable[[list[ProbeAnalysis], DataPathTimeline | None], None] = lambda analyses, timeline: None

    def __post_init__(self) -> None:
        self.samplers: list[Prober] = []
        self.phases: list[Phase] = []
        self.first_ok: dict[str, float] = {}
        self.watchers: list[EvidenceSource] = []
        self.runs: list[ProbeRun] = []
        self.analyses: list[ProbeAnalysis] = []
        self.timeline: DataPathTimeline | None = None
        self._bound: dict[int, float] = {}  # phases settled at end + endpoint_propagation: index -> end
        self.finished = False
        self._open_phase: tuple[str, float] | None = None
        self.steal = StealRecorder()
        self._stolen = StealRecord((), self.steal.interval)
        self.interrupts = InterruptTrace()
        self._not_run = NotRun(unavailable="not started")

    # -- set-up ---------------------------------------------------------------

    def start(self) -> ProbedService:
        """Data path first, then every sampler; returns once each sampler has had an answer."""
        with STOPWATCH.timing("samplers"):
            return self._start()

    def _start(self) -> ProbedService:
        try:
            with STOPWATCH.timing("picture"):
                DRAWER.wait()  # nothing is drawn while the samplers probe (`harness.pictures`)
            if self.datapath is not None:
                self.datapath.start()
                self._wait_no_shutdown()
            self.steal.start()
            self.interrupts.start()
            for options in self.options:
                self.samplers.append(self.open_sampler(options).start())
            for sampler in self.samplers:  # witnesses share a label: the window opens once each answered
                answered = self._wait_first_answer(sampler)
                self.first_ok[sampler.label] = max(self.first_ok.get(sampler.label, answered), answered)
        except BaseException:
            self._stop_all()
            raise
        return self

    def _wait_no_shutdown(self) -> None:
        """Open the window on a steady Service: no pod of it still shutting down from an earlier change.

        A set-up rollout is complete once its new pods are available, while its old pods still serve
        out their preStop sleep; a keep-alive sampler that connected to one stayed on it into the
        scenario's first phase (clean-clone run I1: the undo phase's first answer came from the
        version the set-up had just replaced). The samplers start once every such pod has exited."""
        self._until_no_shutdown(
            f"the pods of the Service {self.service} still shutting down to exit before the samplers start"
        )

    def _until_no_shutdown(self, waited_for: str) -> float | None:
        """Wait (up to `timeouts.pod_exit`) until no pod of the Service is shutting down; return when the
        last exit was seen (None: none seen). A timeout names the pods still shutting down."""
        assert self.datapath is not None

        def look() -> tuple[bool, tuple[list[str], float | None]]:
            pending, last = self.datapath.shutdowns()  # type: ignore[union-attr]
            return not pending, (pending, last)

        _, last = poll(
            look,
            waited_for=waited_for,
            timeout=self.timeouts.pod_exit,
            interval=0.05,
            describe=lambda seen: f"still shutting down: {', '.join(seen[0])}",
        )
        return last

    def settle(self) -> float:
        """Wait until the data path has come to rest after a change (`DataPathRecorder.converged`: the
        rules hold exactly the ready endpoints, no pod shutting down), up to `timeouts.pod_exit`; where
        that cannot be told, `timeouts.endpoint_propagation`. The last phase, if over, is then settled at
        that instant (in place of its end plus `timeouts.endpoint_propagation`). Return the instant."""
        state = self.datapath.converged() if self.datapath is not None and self.datapath.running else None
        if state is None:
            observe_for(self.timeouts.endpoint_propagation)
            return clock()
        with STOPWATCH.timing("observe"):
            self._until_at_rest()
        settled = clock()
        if self.phases and self.phases[-1].settled_at is not None:
            self.phases[-1] = replace(self.phases[-1], settled_at=settled)
            self._bound.pop(len(self.phases) - 1, None)
        return settled

    def _until_at_rest(self) -> None:
        poll(
            lambda: self.datapath.converged() or (True, "the rules can no longer be read"),  # type: ignore[union-attr]
            waited_for=f"kube-proxy's rules to send the Service {self.service} to its ready endpoints alone, "
            "and none of its pods shutting down",
            timeout=self.timeouts.pod_exit,
            interval=0.05,
            describe=lambda seen: seen,
        )

    def watch(self, source: EvidenceSource) -> None:
        """Count `source`'s record as evidence of every verdict (it must cover the window too)."""
        self.watchers.append(source)

    def _wait_first_answer(self, sampler: Prober) -> float:
        """The instant the Service first answered this sampler, once a request begun after it also got through.

        A new Service's port answers only once kube-proxy has written its rules
        (measured on kind 1.34: the first SYN-ACK about 1 s after the first SYN; the
        SYNs before it were dropped, not refused, and succeeded on their retransmission).
        Requests begun before the first answer are the Service coming up, not evidence
        about a change; the evidence window starts at that answer.
        """
        timeout = self.timeouts.pods_ready
        deadline = clock() + timeout
        if not sampler.wait_first_ok(timeout):
            ended = sampler.ended_by_itself()
            if ended is not None:
                raise HarnessError(
                    f"the {sampler.label} sampler of the Service {self.service} ended before any answer: {ended}"
                )
            last = sampler.samples()[-1:] or [None]
            seen = "no request completed" if last[0] is None else _describe(last[0])
            raise WaitTimeout(f"the Service {self.service} to answer the {sampler.label} sampler", timeout, seen)
        answered = min(s.end for s in sampler.samples() if s.ok)
        while True:
            samples = sampler.samples()
            if any(s.ok and s.start >= answered for s in reversed(samples)):
                return answered
            if clock() >= deadline:
                seen = _describe(samples[-1]) if samples else "no request completed"
                raise WaitTimeout(
                    f"a request of the {sampler.label} sampler begun after the Service {self.service} "
                    "first answered to succeed",
                    timeout,
                    seen,
                )
            time.sleep(0.01)

    # -- phases ---------------------------------------------------------------

    @contextlib.contextmanager
    def phase(self, label: str, versions: Sequence[str], *, settled: Sequence[str] = ()) -> Iterator[None]:
        """One change: its start, and (when the block ends without error) its settle instant."""
        if self.finished:
            raise HarnessError(f"phase {label!r} began after the probes were finished")
        started = clock()
        self._open_phase = (label, started)
        try:
            yield
        except BaseException:
            self.phases.append(Phase(label, started, None, tuple(versions), tuple(settled)))
            raise
        finally:
            self.on_rollout_time(clock() - started)
            self._open_phase = None
        done = clock()
        self.phases.append(
            Phase(label, started, done + self.timeouts.endpoint_propagation, tuple(versions), tuple(settled))
        )
        self._bound[len(self.phases) - 1] = done

    def wait_answered(self, version: str, timeout: float) -> float:
        """Wait, inside a phase, until `version` has answered every sampler that must see each version of a
        phase (new connections; a keep-alive connection stays on its pod); return the instant it had.

        A scenario that stops a rollout part way stops at a state the API reported (a new pod ready);
        the Service serves that pod only once kube-proxy has written it into its rules, up to a
        sync period or more later. Waiting here makes the part-way state one the Service served."""
        if self._open_phase is None:
            raise HarnessError(f"wait_answered({version!r}) is only meaningful inside a phase")
        phase, since = self._open_phase
        labels = {s.label for s in self.samplers if s.kind != KEEP_ALIVE}

        def look() -> tuple[bool, tuple[dict[str, float], dict[str, Counter[str]]]]:
            first: dict[str, float] = {}
            seen: dict[str, Counter[str]] = {label: Counter() for label in labels}
            for sampler in self.samplers:
                if sampler.label not in labels:
                    continue
                for s in reversed(sampler.samples()):
                    if s.start < since:
                        break
                    if s.ok and s.server is not None:
                        seen[sampler.label][s.server] += 1
                        if s.server == version:
                            first[sampler.label] = min(first.get(sampler.label, s.end), s.end)
            return set(first) == labels, (first, seen)

        def describe(observed: tuple[dict[str, float], dict[str, Counter[str]]]) -> str:
            return "; ".join(f"{label}: {dict(counts) or 'no answer'}" for label, counts in observed[1].items())

        first, _ = poll(
            look,
            waited_for=f"{version!r} to answer the {', '.join(sorted(labels))} sampler(s) in phase {phase!r}",
            timeout=timeout,
            interval=0.02,
            describe=describe,
        )
        return max(first.values(), default=since)

    def hold(self, label: str, versions: Sequence[str], seconds: float) -> None:
        """Watch a settled state for `seconds` as a phase of its own (e.g. a canary held)."""
        started = clock()
        observe_for(seconds)
        self.phases.append(Phase(label, started, started, tuple(versions), tuple(versions)))

    @property
    def settled_at(self) -> float | None:
        settles = [p.settled_at for p in self.phases if p.settled_at is not None]
        return max(settles) if settles else None

    # -- the end --------------------------------------------------------------

    def finish(self, *, observe: bool = True) -> list[ProbeAnalysis]:
        """Watch the settled state, stop everything, analyse each sampler's run once."""
        if self.finished:
            return self.analyses
        if observe and self.settled_at is not None:
            until = self.settled_at + self.timeouts.probe_settle
            observe_for(max(0.0, until - clock()) + self.timeouts.poll_interval)
            self._watch_shutdowns_end()
        self.finished = True
        with STOPWATCH.timing("analysis"):
            return self._analyse()

    def _watch_shutdowns_end(self) -> None:
        """Keep probing until every pod seen terminating has been seen to exit (or be deleted), and then
        `EXIT_MARGIN` past the last exit seen: a rollout is over when its last old pod is gone, and the
        requests that rules still naming it would send must meet it gone. A pod not seen to exit within
        `timeouts.pod_exit` is left to the verdict, which then says its shutdown was not probed to its end."""
        if self.datapath is None or not self.datapath.running:
            return

        try:
            last = self._until_no_shutdown(f"every pod of the Service {self.service} seen terminating to exit")
        except WaitTimeout as exc:
            log.warning("%s; the verdicts will say so", exc)
            return
        if last is not None:
            observe_for(max(0.0, last + EXIT_MARGIN - clock()))

    def _analyse(self) -> list[ProbeAnalysis]:
        stopped = clock()
        self._stop_all()
        self._settle_by_the_rules()
        window_end = stopped  # everything the samplers saw while the scenario ran is evidence
        first_change = min((p.start for p in self.phases), default=None)
        runs = _merge_witnesses(self.runs)
        failed = [(r.route, failures_with_ports(r.samples)) for r in runs]
        for run in runs:
            attribute = None
            # without endpoint events (before 1.21) failures are still placed, and say why
            if self.timeline is not None:
                attribute = attributor(
                    self.timeline,
                    versions=self.versions,
                    origin=self.origin,
                    source_ports=run.route == "node",
                    # every failed request of the host on this route, this run's own outside the window too
                    host_failures=[s for route, fs in failed if route == run.route for s in fs],
                    run_samples=run.samples,
                )
            window_start = self.first_ok.get(run.label, run.started_at)
            evidence = []
            if first_change is not None and first_change < window_start:
                evidence.append(f"the first answer came {window_start - first_change:.3f}s after the first change")
            since = first_change if first_change is not None else window_start
            if self.datapath is not None:
                evidence += self.datapath.evidence_problems(since, window_end)
            for source in self.watchers:
                evidence += source.evidence_problems(since, window_end)
            self.analyses.append(
                analyse(
                    run,
                    phases=self.phases,
                    window=(window_start, window_end),
                    origin=self.origin,
                    failures=self.failures,
                    evidence=evidence,
                    attribute=attribute,
                    max_clock_error=MAX_CLOCK_ERROR,
                    connection_lifetime=self.connection_lifetime,
                    not_run=self._not_run if run.route != "pod" else None,
                )
            )
        self.analyses[:] = explain_stolen(held_together(self.analyses), self._stolen)
        self.on_finish(self.analyses, self.timeline)
        return self.analyses

    def _settle_by_the_rules(self) -> None:
        """A phase settled at its end plus `timeouts.endpoint_propagation` (a bound, not an observation)
        settles later when kube-proxy's rules, as read, still sent the Service to endpoints no longer
        ready at that bound: at the first instant they sent it to its ready endpoints alone. Never
        earlier than the bound (README finding 31)."""
        if self.timeline is None:
            return
        for index, done in sorted(self._bound.items()):
            phase = self.phases[index]
            rest = self.timeline.at_rest_after(done)
            if phase.settled_at is not None and rest is not None and rest > phase.settled_at:
                log.info(
                    "phase %r: kube-proxy's rules held the ready endpoints alone only %.3fs after its end, "
                    "past the %.1fs bound: settled there",
                    phase.label,
                    rest - done,
                    self.timeouts.endpoint_propagation,
                )
                self.phases[index] = replace(phase, settled_at=rest)

    def _stop_all(self) -> None:
        errors: list[BaseException] = []
        for sampler in self.samplers:
            if not sampler.stopped:
                try:
                    self.runs.append(sampler.stop())
                except BaseException as exc:  # noqa: BLE001 - every sampler is stopped; the first error wins
                    errors.append(exc)
        if self.datapath is not None and self.datapath.running:
            self.timeline = self.datapath.stop()
        self._stolen = self.steal.stop()
        self._not_run = self.interrupts.stop()
        if errors:
            raise errors[0]

    # -- during -----------------------------------------------------------------

    def samples(self, label: str | None = None) -> list[ProbeSample]:
        """A live snapshot of one sampler's samples (the first sampler's by default)."""
        for sampler in self.samplers:
            if label is None or sampler.label == label:
                return sampler.samples()
        return []

    def analysis(self, label: str) -> ProbeAnalysis:
        """The analysis of the sampler named `label` (its kind, e.g. "new-connection")."""
        found = next((a for a in self.analyses if a.label == label), None)
        if found is None:
            raise HarnessError(f"no {label} sampler ran for {self.service}; finish() first")
        return found


def _merge_witnesses(runs: Sequence[ProbeRun]) -> list[ProbeRun]:
    """One run per sampler: the runs of its witnesses (same kind and route) merged, in first-seen order."""
    groups: dict[tuple[str, str], list[ProbeRun]] = {}
    for run in runs:
        groups.setdefault((run.kind, run.route), []).append(run)
    return [merge_runs(group) for group in groups.values()]


def _describe(sample: ProbeSample) -> str:
    return f"{sample.status} {sample.error or ''} server={sample.server}"
