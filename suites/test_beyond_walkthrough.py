"""Beyond the walkthrough: StatefulSet and DaemonSet rolling updates, a rollout that
cannot finish, and what a naive Deployment drops next to a hardened one."""

from __future__ import annotations

import logging

import pytest

from harness.assertions import assert_no_failures, assert_replica_bounds, assert_version_order
from harness.demo import create_service, observe_for, wait_first_answer
from harness.kube.deployments import RolloutFailed
from harness.manifests import deployment
from harness.podsets import (
    PodWatcher,
    apply_object,
    daemonset,
    headless_service,
    list_pods,
    list_revisions,
    node_handoffs,
    ordinal_handoffs,
    pod_lives,
    pod_ordinal,
    revision_points,
    scaled_value,
    statefulset,
    update_order,
    wait_daemonset_rollout,
    wait_statefulset_rollout,
    with_pull_policy,
)
from harness.report import HistoryEntry
from harness.samples import clock
from harness.timeline import analyse, render_window

log = logging.getLogger("rollproof.suites")

pytestmark = pytest.mark.needs("server-side-apply")  # the harness writes these objects by server-side apply

STS = "statefulset-demo"
DS = "daemonset-demo"
STUCK = "stuck-demo"
DESIRED = 4


@pytest.fixture
def pod_watcher(kube_api, namespace, timeouts):
    """Factory: `pod_watcher(labels)` -> a started `PodWatcher` (stopped at teardown if still running)."""
    watchers = []

    def make(labels):
        watcher = PodWatcher(kube_api, namespace, labels, timeouts=timeouts).start()
        watchers.append(watcher)
        return watcher

    yield make
    for watcher in watchers:
        if watcher.running:
            watcher.stop(raise_error=False)


def _finish_probe(record, prober, first, timeouts):
    """Watch the settled state for a while, then keep the samples from the first answer on."""
    observe_for(timeouts.endpoint_propagation + timeouts.probe_settle)
    record.samples.extend(s for s in prober.stop() if s.start >= first.start)


def _between(samples, start, end=None):
    return [s for s in samples if s.start >= start and (end is None or s.start < end)]


def _ordinals(names):
    return [pod_ordinal(n) for n in names]


def _assert_handoffs(handoffs, what):
    late = [h for h in handoffs if not h.in_order]
    assert not late, f"{what}: an old pod went before its successor was Ready: " + "; ".join(
        f"{h.replaced} terminating at {h.terminating_at}, {h.ready} ready at {h.ready_at}" for h in late)


# --------------------------------------------------------------------------- StatefulSet


def test_statefulset_rolling_update_highest_ordinal_first_then_partition_canary(
        cluster, core_api, apps_api, raw_api, namespace, service_prober, pod_watcher, app_images, record, timeouts):
    """StatefulSet RollingUpdate replaces pods from the highest ordinal down; a partition canaries one ordinal.

    MUST hold: zero failed probes through the Service the whole time; a full
    rolling update old -> new replaces ordinals 3, 2, 1, 0 in that order, each
    old pod going only once its successor is Ready, and so does the full
    rollback new -> old; then old -> new with partition 3 replaces ordinal 3
    alone while 0-2 keep the old revision (and the Service answers with both),
    and partition 0 finishes with 2, 1, 0; never more than 4 pods nor fewer than
    3 available; in each phase the Server header goes from the phase's old
    version to its new one, with no old answer once the phase has settled; the
    reused ControllerRevisions are renumbered (old 3, new 4).
    """
    old, new = app_images["old"], app_images["new"]
    record.expected_versions = (old.server, new.server)
    labels = {"app": STS}

    log.info("create %s (4 ordinals, %s) with its headless Service and the NodePort demo Service", STS, old.image)
    core_api.create_namespaced_service(namespace, headless_service(f"{STS}-headless", labels))
    apply_object(raw_api, statefulset(STS, old.image, "v0.1", replicas=DESIRED), namespace)
    create_service(core_api, cluster, namespace, STS, labels)
    wait_statefulset_rollout(apps_api, core_api, namespace, STS, timeouts)

    prober = service_prober(STS)
    first = wait_first_answer(prober, timeouts.pods_ready, timeouts.poll_interval)
    watcher = pod_watcher(labels)

    phases = []

    def phase(label, manifest):
        log.info("%s", label)
        started = clock()
        with record.rollout():
            apply_object(raw_api, manifest, namespace)
            verdict = wait_statefulset_rollout(apps_api, core_api, namespace, STS, timeouts)
        done = clock()
        log.info("%s: %s", label, verdict.message.strip())
        observe_for(timeouts.endpoint_propagation)
        counts = dict(verdict.counts)
        phases.append(dict(label=label, start=started, done=done, revision=counts["updateRevision"],
                           current=counts["currentRevision"]))
        return phases[-1]

    full = phase("rolling update v0.1 -> v0.2 (partition 0)", statefulset(STS, new.image, "v0.2"))
    back = phase("rollback v0.2 -> v0.1 (partition 0)", statefulset(STS, old.image, "v0.1"))
    canary = phase("canary v0.1 -> v0.2 (partition 3)", statefulset(STS, new.image, "v0.2", partition=3))
    canary_pods = {pod_ordinal(p.name): p for p in list_pods(core_api, namespace, labels, timeouts)
                   if not p.terminating}
    log.info("hold the canary for the settle window")
    observe_for(timeouts.probe_settle)
    canary_held = clock()
    finish = phase("finish v0.1 -> v0.2 (partition 0)", statefulset(STS, new.image, "v0.2"))
    _finish_probe(record, prober, first, timeouts)
    events = watcher.stop()
    record.points.extend(revision_points(events, STS))
    revisions = list_revisions(apps_api, namespace, "StatefulSet", STS, timeouts)
    record.history.extend(HistoryEntry(str(r.revision), None, r.image) for r in revisions)

    lives = pod_lives(events)
    for p, after in zip(phases, phases[1:] + [None]):
        p["until"] = after["start"] if after else None
    orders = {p["label"]: update_order(events, p["revision"], p["start"], p["until"]) for p in phases}
    for p in phases:
        log.info("%s: ordinals replaced in order %s in %.1fs", p["label"], _ordinals(orders[p["label"]]),
                 p["done"] - p["start"])
        for h in ordinal_handoffs(lives, orders[p["label"]], p["revision"], p["start"], p["until"]):
            log.info("  %s ready at %+.3fs, then %s terminating at %+.3fs", h.ready, (h.ready_at or 0) - p["start"],
                     h.replaced, (h.terminating_at or 0) - p["start"])
    record.check("statefulset-phase-seconds", "; ".join(f"{p['label']}: {p['done'] - p['start']:.1f}"
                                                        for p in phases))
    record.check("statefulset-update-order", ",".join(map(str, _ordinals(orders[full["label"]]))))
    record.check("statefulset-rollback-order", ",".join(map(str, _ordinals(orders[back["label"]]))))
    record.check("statefulset-partition-3-updated", ",".join(map(str, _ordinals(orders[canary["label"]]))))
    record.check("statefulset-partition-0-order", ",".join(map(str, _ordinals(orders[finish["label"]]))))

    samples = record.samples
    assert_no_failures(samples, steps=record.steps)
    assert _ordinals(orders[full["label"]]) == [3, 2, 1, 0]
    assert _ordinals(orders[back["label"]]) == [3, 2, 1, 0]
    assert _ordinals(orders[canary["label"]]) == [3]
    assert _ordinals(orders[finish["label"]]) == [2, 1, 0]
    for p in phases:
        _assert_handoffs(ordinal_handoffs(lives, orders[p["label"]], p["revision"], p["start"], p["until"]),
                         p["label"])
    # the canary: only ordinal 3 at the update revision, 0-2 still at the current (old) one
    assert canary["revision"] != canary["current"] == back["revision"]
    assert {o: (p.revision, p.image) for o, p in canary_pods.items()} == {
        0: (back["revision"], old.image), 1: (back["revision"], old.image), 2: (back["revision"], old.image),
        3: (canary["revision"], new.image)}
    during_canary = _between(samples, canary["done"] + timeouts.endpoint_propagation, canary_held)
    assert {s.server for s in during_canary if s.ok} == {old.server, new.server}, (
        "the Service should answer from the canary (ordinal 3) and the old ordinals 0-2 alike:\n"
        + render_window(during_canary, canary["done"], 0.0, canary_held - canary["done"], t0=first.start))
    # the Server header, phase by phase
    assert_version_order(_between(samples, first.start, back["start"]), old.server, new.server,
                         settled_at=full["done"] + timeouts.endpoint_propagation)
    assert_version_order(_between(samples, back["start"], canary["start"]), new.server, old.server,
                         settled_at=back["done"] + timeouts.endpoint_propagation)
    assert_version_order(_between(samples, canary["start"]), old.server, new.server,
                         settled_at=finish["done"] + timeouts.endpoint_propagation)
    assert_replica_bounds(record.points, desired=DESIRED, max_surge=0, max_unavailable=1)
    final = [p for p in list_pods(core_api, namespace, labels, timeouts) if not p.terminating]
    assert sorted((p.name, p.image) for p in final) == [(f"{STS}-{i}", new.image) for i in range(DESIRED)]
    assert [(r.revision, r.image) for r in revisions] == [(3, old.image), (4, new.image)]


# --------------------------------------------------------------------------- DaemonSet


@pytest.mark.needs("daemonset-max-surge")
def test_daemonset_rolling_update_surges_and_drops_no_request(
        cluster, core_api, apps_api, raw_api, namespace, service_prober, pod_watcher, app_images, record, timeouts):
    """DaemonSet rolling update with maxSurge 1 / maxUnavailable 0 drops no request.

    MUST hold: zero failed probes through the Service the whole time; the old
    Server header answers first and the new one last, with no old answer once
    the rollout is complete; on every node the new pod is Ready before the old
    one starts terminating; never more than one pod per node + 1 nor fewer
    available than nodes; one new pod per node at the end.
    """
    old, new = app_images["old"], app_images["new"]
    record.expected_versions = (old.server, new.server)
    labels = {"app": DS}

    log.info("create %s (%s, one pod per node) behind a Service", DS, old.image)
    apply_object(raw_api, daemonset(DS, old.image, "v0.1", max_surge=1, max_unavailable=0), namespace)
    create_service(core_api, cluster, namespace, DS, labels)
    nodes = int(dict(wait_daemonset_rollout(apps_api, core_api, namespace, DS, timeouts).counts)["desired"])
    assert nodes >= 1, f"daemon set {DS} is scheduled on no node"
    log.info("%s runs on %d node(s)", DS, nodes)

    prober = service_prober(DS)
    first = wait_first_answer(prober, timeouts.pods_ready, timeouts.poll_interval)
    watcher = pod_watcher(labels)

    log.info("apply v0.2 (%s)", new.image)
    started = clock()
    with record.rollout():
        apply_object(raw_api, daemonset(DS, new.image, "v0.2", max_surge=1, max_unavailable=0), namespace)
        verdict = wait_daemonset_rollout(apps_api, core_api, namespace, DS, timeouts)
    complete_at = clock()
    log.info("%s", verdict.message)
    _finish_probe(record, prober, first, timeouts)
    events = watcher.stop()
    record.points.extend(revision_points(events, DS))
    revisions = list_revisions(apps_api, namespace, "DaemonSet", DS, timeouts)
    record.history.extend(HistoryEntry(str(r.revision), None, r.image) for r in revisions)

    new_revision = revisions[-1].name.removeprefix(f"{DS}-")
    handoffs = node_handoffs(pod_lives(events), new_revision, started)
    for h in handoffs:
        log.info("%s ready at %+.3fs, %s terminating at %+.3fs", h.ready, (h.ready_at or 0) - started,
                 h.replaced, (h.terminating_at or 0) - started)
    record.check("daemonset-surge-handoffs", f"{sum(h.in_order for h in handoffs)}/{len(handoffs)} in order")

    assert_no_failures(record.samples, steps=record.steps)
    assert_version_order(record.samples, old.server, new.server,
                         settled_at=complete_at + timeouts.endpoint_propagation)
    assert len(handoffs) == nodes
    _assert_handoffs(handoffs, "maxSurge 1 / maxUnavailable 0")
    assert_replica_bounds(record.points, desired=nodes, max_surge=1, max_unavailable=0)
    final = [p for p in list_pods(core_api, namespace, labels, timeouts) if not p.terminating]
    assert sorted(p.image for p in final) == [new.image] * nodes
    assert len({p.node for p in final}) == nodes
    assert [r.image for r in revisions] == [old.image, new.image]


# --------------------------------------------------------------------------- a rollout that cannot finish


def _unstartable(image):
    repository = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    return f"{repository}:does-not-exist"


def test_rollout_to_unstartable_image_stalls_then_undo_restores(
        cluster, core_api, namespace, deployments, service_prober, app_images, record, timeouts):
    """A rollout to an image that cannot start stalls at its progress deadline; undo restores the old version.

    MUST hold: zero failed probes through the Service the whole time, every
    answer from the old version; waiting for the rollout raises RolloutFailed
    (ProgressDeadlineExceeded) while the new pod waits with ErrImageNeverPull
    and the old ReplicaSet keeps its 4 available; replicas never exceed 4 + 1
    nor fall below 4 available; `rollout undo` then completes, leaving only
    the old image (revision 1 reused as revision 3).
    """
    old = app_images["old"]
    bad = _unstartable(old.image)
    deadline = timeouts.rollout_progress_deadline
    record.expected_versions = (old.server,)

    log.info("create %s v0.1 (%s, progressDeadlineSeconds %d) behind a Service", STUCK, old.image, deadline)
    deployments.apply(deployment(STUCK, old.image, "v0.1", progress_deadline=deadline),
                      change_cause=f"create {STUCK} v0.1")
    create_service(core_api, cluster, namespace, STUCK, {"app": STUCK})
    deployments.wait_rollout_complete(STUCK, timeouts.rollout)

    prober = service_prober(STUCK)
    first = wait_first_answer(prober, timeouts.pods_ready, timeouts.poll_interval)
    watcher = deployments.watch_replicasets(STUCK)

    log.info("apply v0.2 with %s (imagePullPolicy Never): it cannot start", bad)
    with record.rollout():
        deployments.apply(with_pull_policy(deployment(STUCK, bad, "v0.2", progress_deadline=deadline), "Never"),
                          change_cause=f"update {STUCK} to unstartable {bad}")
        started = clock()
        with pytest.raises(RolloutFailed) as stalled:
            deployments.wait_rollout_complete(STUCK, timeouts.rollout)
    stalled_after = clock() - started
    log.info("rollout stalled after %.1fs: %s", stalled_after, stalled.value)
    stuck = [p for p in list_pods(core_api, namespace, {"app": STUCK}, timeouts) if p.image == bad]
    status = deployments.get(STUCK)["status"]

    log.info("rollout undo")
    with record.rollout():
        undone = deployments.undo(STUCK)
        deployments.wait_rollout_complete(STUCK, timeouts.rollout)
    _finish_probe(record, prober, first, timeouts)
    record.points.extend(watcher.stop())
    history = deployments.history(STUCK)
    record.history.extend(HistoryEntry(str(r.revision), r.change_cause, ",".join(r.images)) for r in history)
    record.check("unstartable-rollout", f"{stalled.value.reason} after {stalled_after:.1f}s (deadline {deadline}s)")
    record.check("unstartable-pod-waiting", ",".join(sorted({str(p.waiting_reason) for p in stuck})))

    assert stalled.value.reason == "ProgressDeadlineExceeded"
    assert stuck and {p.waiting_reason for p in stuck} == {"ErrImageNeverPull"}, [
        (p.name, p.waiting_reason) for p in stuck]
    assert (status.get("availableReplicas"), status.get("updatedReplicas")) == (DESIRED, len(stuck))
    analysis = assert_no_failures(record.samples, steps=record.steps)
    assert analysis.versions_seen == (old.server,)
    assert_replica_bounds([p for p in record.points if p.t >= record.t0], desired=DESIRED, max_surge=1,
                          max_unavailable=0)
    assert not undone.skipped and undone.revision == 1
    assert [(r.revision, r.images) for r in history] == [(2, (bad,)), (3, (old.image,))]
    live = [p for p in list_pods(core_api, namespace, {"app": STUCK}, timeouts) if not p.terminating]
    assert sorted(p.image for p in live) == [old.image] * DESIRED


# --------------------------------------------------------------------------- naive against hardened


VARIANTS = {
    # what you get when you leave the readinessProbe, the preStop hook and the strategy out
    "naive": dict(hardened=False, max_surge="25%", max_unavailable="25%"),
    # readinessProbe + preStop sleep + maxUnavailable 0
    "hardened": dict(hardened=True, max_surge=1, max_unavailable=0),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_naive_against_hardened_deployment(variant, cluster, core_api, namespace, deployments, service_prober,
                                           app_images, record, timeouts):
    """Naive against hardened Deployment rolling update v0.1 -> v0.2.

    MUST hold, both: the rollout completes; the new Server header answers last,
    with no old answer and no failed probe once it has settled; replicas stay
    within 4 + maxSurge and 4 - maxUnavailable (25%: 1 and 1; hardened: 1 and 0).
    Hardened (readinessProbe, preStop sleep, maxUnavailable 0): zero failed probes.
    Naive (neither, Kubernetes' default 25% / 25%): its failed probes are measured
    and reported (check naive-failed-probes, outages in the report), not asserted.
    """
    options = VARIANTS[variant]
    record.scenario = f"{record.scenario} [{variant}]"
    name = f"{variant}-demo"
    old, new = app_images["old"], app_images["new"]
    record.expected_versions = (old.server, new.server)
    surge = scaled_value(options["max_surge"], DESIRED, round_up=True)
    unavailable = scaled_value(options["max_unavailable"], DESIRED, round_up=False)

    log.info("create %s v0.1 (%s, %s) behind a Service", name, old.image, options)
    deployments.apply(deployment(name, old.image, "v0.1", **options), change_cause=f"create {name} v0.1")
    create_service(core_api, cluster, namespace, name, {"app": name})
    deployments.wait_rollout_complete(name, timeouts.rollout)

    prober = service_prober(name)
    first = wait_first_answer(prober, timeouts.pods_ready, timeouts.poll_interval)
    watcher = deployments.watch_replicasets(name)

    log.info("apply v0.2 (%s)", new.image)
    with record.rollout():
        deployments.apply(deployment(name, new.image, "v0.2", **options), change_cause=f"update {name} to v0.2")
        verdict = deployments.wait_rollout_complete(name, timeouts.rollout)
    complete_at = clock()
    settled_at = complete_at + timeouts.endpoint_propagation
    _finish_probe(record, prober, first, timeouts)
    record.points.extend(watcher.stop())
    history = deployments.history(name)
    record.history.extend(HistoryEntry(str(r.revision), r.change_cause, ",".join(r.images)) for r in history)

    analysis = analyse(record.samples, expected_versions=record.expected_versions)
    record.check(f"{variant}-failed-probes", analysis.failed)
    outages = analysis.outages
    record.check(f"{variant}-outages", "none" if not outages else (
        f"{len(outages)} between {outages[0].start - record.t0:+.3f}s and "
        f"{max(o.end for o in outages) - record.t0:+.3f}s after t0, "
        f"longest {max(o.duration for o in outages) * 1000:.0f} ms; "
        + " ".join(f"{k}={n}" for k, n in analysis.error_counts)))
    log.info("%s: %d of %d probes failed in %d outage(s) %s; servers seen %s", variant, analysis.failed,
             analysis.total, len(analysis.outages), dict(analysis.error_counts), analysis.versions_seen)

    assert verdict.done
    if variant == "hardened":
        assert_no_failures(record.samples, steps=record.steps)
    else:
        assert analysis.total > 0, "no probe samples were recorded, so nothing was measured"
    late = [s for s in record.samples if not s.ok and s.start >= settled_at]
    assert not late, f"{len(late)} probe(s) failed after the rollout settled:\n" + render_window(
        record.samples, late[0].start, t0=first.start)
    # which version answered: successful answers only (a failed one may carry a foreign Server
    # header, e.g. a proxy that answers for a pod IP that is gone; it is counted as failed above)
    assert_version_order([s for s in record.samples if s.ok], old.server, new.server, settled_at=settled_at)
    assert_replica_bounds([p for p in record.points if p.t >= record.t0], desired=DESIRED, max_surge=surge,
                          max_unavailable=unavailable)
    assert [(r.revision, r.change_cause) for r in history] == [
        (1, f"create {name} v0.1"), (2, f"update {name} to v0.2")]
