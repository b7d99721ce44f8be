"""The evidence window covers every pod shutdown it saw begin: the samplers wait for each exit, and a
verdict whose window closed on a pod still shutting down says so."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import kubernetes.client
import pytest

from harness.datapath import DataPathRecorder, DataPathTimeline, PodTransition
from harness.rollout.podwatcher import PodWatcher
from harness.rollout.pods import PodState

RUNNING = PodState("web-0", "u0", "r1", "nginx", "n1", True, False, ip="10.0.0.1")


@pytest.fixture
def client() -> Iterator[kubernetes.client.ApiClient]:
    api = kubernetes.client.ApiClient()
    yield api
    api.close()  # type: ignore[no-untyped-call]


def test_pod_watcher_names_the_pods_still_shutting_down_and_when_the_last_exit_came(client) -> None:
    w = PodWatcher(client, "ns", {"app": "web"})
    other = dataclasses.replace(RUNNING, name="web-1", uid="u1")
    w._record("listed", RUNNING, 1.0)
    w._record("listed", other, 1.0)
    assert w.shutdowns() == ([], None)
    w._record("modified", dataclasses.replace(RUNNING, ready=False, terminating=True), 2.0)
    w._record("modified", dataclasses.replace(other, terminating=True), 2.1)
    assert w.shutdowns() == (["web-0", "web-1"], None)
    w._record("modified", dataclasses.replace(RUNNING, ready=False, terminating=True, exit_code=0), 6.5)
    assert w.shutdowns() == (["web-1"], 6.5)  # exited: no longer shutting down, though still listed
    w._record("deleted", dataclasses.replace(other, terminating=True), 7.0)
    assert w.shutdowns() == ([], 7.0)
    w._record("deleted", dataclasses.replace(RUNNING, ready=False, terminating=True, exit_code=0), 7.5)
    assert w.shutdowns() == ([], 7.0)  # the exit was seen before: its deletion is not a later end


def test_a_container_that_exits_without_a_deletion_is_no_shutdown(client) -> None:
    """A crash (exit, then restart) is not a pod leaving: no shutdown to wait for, no end recorded."""
    w = PodWatcher(client, "ns", {"app": "web"})
    w._record("listed", RUNNING, 1.0)
    w._record("modified", dataclasses.replace(RUNNING, ready=False, exit_code=1), 2.0)
    assert w.shutdowns() == ([], None)


def step(t: float, pod: str, what: str) -> PodTransition:
    return PodTransition(t, pod, what)


def test_shutdowns_unseen_by_a_time_follow_each_pod_by_name_through_its_reuse() -> None:
    """A StatefulSet re-creates web-0 under the same name once the old one is deleted."""
    tl = DataPathTimeline(
        "web",
        pods=(
            step(1.0, "web-0", "terminating"),
            step(5.2, "web-0", "exited"),
            step(5.6, "web-0", "deleted"),
            step(5.7, "web-0", "created"),
            step(9.0, "web-0", "terminating"),
            step(9.5, "web-1", "terminating"),
            step(9.6, "web-1", "deleted"),
            step(13.4, "web-0", "exited"),
        ),
    )
    assert tl.shutdowns_unseen(4.0) == [step(1.0, "web-0", "terminating")]
    assert tl.shutdowns_unseen(8.0) == []
    assert tl.shutdowns_unseen(12.0) == [step(9.0, "web-0", "terminating")]
    assert tl.shutdowns_unseen(14.0) == []


def test_a_window_closed_on_a_pod_still_shutting_down_is_an_evidence_problem(client) -> None:
    rec = DataPathRecorder(client, "ns", "web", {"app": "web"})
    for watcher in (rec.slices, rec.pods):
        watcher.evidence_problems = lambda since, until: []  # type: ignore[method-assign]
    rec.timeline = DataPathTimeline("web", pods=(step(10.0, "web-3", "terminating"),))
    assert rec.evidence_problems(0.0, 14.25) == [
        "pod web-3 was seen terminating 4.250s before the window closed and its exit was not seen: "
        "its shutdown was not probed to its end"
    ]
    rec.timeline = DataPathTimeline("web", pods=(step(10.0, "web-3", "terminating"), step(14.0, "web-3", "exited")))
    assert rec.evidence_problems(0.0, 14.25) == []


def test_no_shutdown_is_waited_for_once_the_pod_watcher_has_ended(client) -> None:
    """A watcher that failed sees no more exits: waiting its whole timeout would tell nothing more."""
    rec = DataPathRecorder(client, "ns", "web", {"app": "web"})
    rec.pods._record("listed", dataclasses.replace(RUNNING, terminating=True), 1.0)
    assert not rec.pods.running  # never started, as after an error
    assert rec.pods.shutdowns() == (["web-0"], None)
    assert rec.shutdowns() == ([], None)
