"""The lines every sampler prints, as the harness reads them.

`harness.probeloop` (on this host) and the Go prober (in a pod) print the same
JSON lines: one per request, then one final count. `parse_log_line` classifies a
line; `SampleStream` keeps one sampler's samples (a replayed line dropped by its
sequence number), its final count and its diagnostics, and makes the `ProbeRun`.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field

from harness.samples import USUAL_ROUTE, ProbeRun, ProbeSample

__all__ = ["LogLine", "SampleStream", "parse_log_line"]


@dataclass(frozen=True)
class LogLine:
    """One sampler output line: a sample with its sequence number, the final count (with when the
    sampler stopped starting requests, on its clock, if it said), or a diagnostic."""

    seq: int | None = None
    sample: ProbeSample | None = None
    done: int | None = None
    skipped: int = 0
    why: str | None = None
    at: float | None = None
    text: str = ""


def parse_log_line(line: str | bytes) -> LogLine:
    """Classify one sampler output line."""
    text = (line.decode("utf-8", "replace") if isinstance(line, bytes) else line).strip()
    if not text.startswith("{"):
        return LogLine(text=text)
    try:
        record = json.loads(text)
        if "done" in record:
            return LogLine(
                done=int(record["done"]),
                skipped=int(record.get("skipped") or 0),
                why=str(record.get("why") or "unknown"),
                at=float(record["at"]) if record.get("at") is not None else None,
                text=text,
            )
        status = record.get("st")
        seq = record.get("n")
        conn = record.get("c")
        sample = ProbeSample(
            start=float(record["s"]),
            end=float(record["e"]),
            status=int(status) if status else None,
            error=record.get("err") or None,
            server=record.get("srv") or None,
            marker=record.get("m") or None,
            seq=int(seq) if seq is not None else None,
            conn=int(conn) if conn is not None else None,
            reused=bool(record.get("r")),
            port=int(record["p"]) if record.get("p") else None,
        )
        return LogLine(seq=sample.seq, sample=sample)
    except (ValueError, KeyError, TypeError, AttributeError):
        return LogLine(text=text)


@dataclass
class SampleStream:
    """The harness's side of one sampler's output: samples by sequence number (a replayed
    line is dropped), the sampler's own final count, and what it said besides."""

    kind: str
    samples: list[ProbeSample] = field(default_factory=list)
    diagnostics: list[str] = field(default_factory=list)
    requests: int | None = None
    skipped: int = 0
    why: str | None = None
    stopped: float | None = None
    _seen: set[int] = field(default_factory=set)
    _seen_text: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    first_ok: threading.Event = field(default_factory=threading.Event)

    def take(self, line: str | bytes) -> bool:
        """Record one output line; True if it brought something new."""
        parsed = parse_log_line(line)
        with self._lock:
            if parsed.sample is not None:
                seq = parsed.seq
                if seq is not None:
                    if seq in self._seen:
                        return False  # replayed after a reopened log
                    self._seen.add(seq)
                self.samples.append(parsed.sample)
                if parsed.sample.ok:
                    self.first_ok.set()
                return True
            if parsed.done is not None:
                if self.requests is not None:
                    return False
                self.requests, self.skipped, self.why = parsed.done, parsed.skipped, parsed.why
                self.stopped = parsed.at
                return True
            if not parsed.text or parsed.text in self._seen_text:
                return False
            self._seen_text.add(parsed.text)
            self.diagnostics.append(parsed.text)
            return True

    @property
    def finished(self) -> bool:
        """The sampler's final count came, and every request it counts was received."""
        with self._lock:
            return self.requests is not None and len(self._seen) >= self.requests

    @property
    def lost(self) -> int:
        """Requests the sampler counted that never reached the harness (0 until its count came)."""
        with self._lock:
            return max(0, self.requests - len(self._seen)) if self.requests is not None else 0

    def snapshot(self) -> list[ProbeSample]:
        with self._lock:
            return list(self.samples)

    def run(
        self,
        *,
        where: str,
        interval: float,
        started_at: float,
        stopped_at: float | None,
        stopped_by_harness: bool,
        end_reason: str | None = None,
        clock_offset: float = 0.0,
        clock_error: float = 0.0,
        route: str = USUAL_ROUTE,
    ) -> ProbeRun:
        """The run these lines make. `end_reason` names how the stream ended when the
        sampler's final count never came (e.g. "log-ended"). It stopped when the sampler says it
        stopped starting requests (converted by `clock_offset`), else at `stopped_at`: a stop the
        harness asks for reaches the sampler a little later, after requests it may still start."""
        with self._lock:
            why = self.why
            if why is None:
                why = end_reason or "no final count"
            elif why == "stopped" and not stopped_by_harness:
                why = "stopped by someone else"
            samples = tuple(
                sorted((s.shifted(clock_offset) if clock_offset else s for s in self.samples), key=lambda s: s.start)
            )
            requests = self.requests
            lost = max(0, requests - len(self._seen)) if requests is not None else 0
            if self.stopped is not None:
                stopped_at = self.stopped + clock_offset
        return ProbeRun(
            kind=self.kind,
            where=where,
            interval=interval,
            started_at=started_at,
            stopped_at=stopped_at,
            stop_reason=why,
            samples=samples,
            requests=requests,
            lost=lost,
            skipped=self.skipped,
            clock_offset=clock_offset,
            clock_error=clock_error,
            route=route,
        )
