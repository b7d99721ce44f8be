"""Beyond the walkthrough: StatefulSet and DaemonSet rolling updates, a rollout that
cannot finish, and what a naive Deployment drops next to a hardened one."""

from __future__ import annotations

import logging
from collections import Counter

import pytest

from harness.assertions import assert_replica_bounds, assert_verdicts
from harness.manifests import daemonset, deployment, headless_service, scaled_value, statefulset, with_pull_policy
from harness.rollout.deployments import RolloutFailed
from harness.rollout.podlives import node_handoffs, ordinal_handoffs, pod_lives, revision_points, update_order
from harness.rollout.pods import pod_ordinal
from harness.rollout.podsets import apply_object, list_pods, list_revisions, wait_set_rollout
from harness.rollout.podwatcher import PodWatcher
from harness.stopwatch import observe_for
from harness.report import HistoryEntry
from harness.samples import NEW_CONNECTION, clock
from harness.timeline import render_window

log = logging.getLogger("rollproof.suites")


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


def _between(samples, start, end=None):
    return [s for s in samples if s.start >= start and (end is None or s.start < end)]


def _ordinals(names):
    return [pod_ordinal(n) for n in names]


def _assert_handoffs(handoffs, what):
    late = [h for h in handoffs if not h.in_order]
    assert not late, f"{what}: an old pod went before its successor was Ready: " + "; ".join(
        f"{h.replaced} terminating at {h.terminating_at}, {h.ready} ready at {h.ready_at}" for h in late
    )


# --------------------------------------------------------------------------- StatefulSet


def test_statefulset_rolling_update_highest_ordinal_first_then_partition_canary(
    core_api, apps_api, raw_api, namespace, probed_service, pod_watcher, app_images, record, timeouts
):
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
    labels = {"app": STS}

    log.info("create %s (4 ordinals, %s) with its headless Service and the NodePort demo Service", STS, old.image)
    core_api.create_namespaced_service(namespace, headless_service(f"{STS}-headless", labels))
    probed_service.expose(STS, labels)
    apply_object(raw_api, statefulset(STS, old.image, "v0.1", replicas=DESIRED), namespace)
    wait_set_rollout(apps_api, core_api, namespace, "StatefulSet", STS, timeouts)
    probed = probed_service(STS, labels)
    watcher = pod_watcher(labels)
    probed.watch(watcher)

    phases = []

    def phase(label, manifest, versions, settled=()):
        log.info("%s", label)
        started = clock()
        with probed.phase(label, versions, settled=settled):
            apply_object(raw_api, manifest, namespace)
            verdict = wait_set_rollout(apps_api, core_api, namespace, "StatefulSet", STS, timeouts)
        done = clock()
        log.info("%s: %s", label, verdict.message.strip())
        settled = probed.settle()  # each phase starts from a data path at rest
        log.info("%s: the data path at rest %.3fs after the rollout's end", label, settled - done)
        counts = dict(verdict.counts)
        phases.append(
            dict(
                label=label,
                start=started,
                done=done,
                settled=settled,
                revision=counts["updateRevision"],
                current=counts["currentRevision"],
            )
        )
        return phases[-1]

    both = (old.server, new.server)
    full = phase("rolling update v0.1 -> v0.2 (partition 0)", statefulset(STS, new.image, "v0.2"), both)
    back = phase("rollback v0.2 -> v0.1 (partition 0)", statefulset(STS, old.image, "v0.1"), (new.server, old.server))
    canary = phase(
        "canary v0.1 -> v0.2 (partition 3)", statefulset(STS, new.image, "v0.2", partition=3), both, settled=both
    )
    canary_pods = {
        pod_ordinal(p.name): p for p in list_pods(core_api, namespace, labels, timeouts) if not p.terminating
    }
    log.info("hold the canary for the settle window")
    observe_for(timeouts.probe_settle)
    canary_held = clock()
    finish = phase("finish v0.1 -> v0.2 (partition 0)", statefulset(STS, new.image, "v0.2"), both)
    analyses = probed.finish()
    events = watcher.stop()
    record.points.extend(revision_points(events, STS))
    revisions = list_revisions(apps_api, namespace, "StatefulSet", STS, timeouts)
    record.history.extend(HistoryEntry(str(r.revision), None, r.image) for r in revisions)

    lives = pod_lives(events)
    for p, after in zip(phases, phases[1:] + [None]):
        p["until"] = after["start"] if after else None
    orders = {p["label"]: update_order(events, p["revision"], p["start"], p["until"]) for p in phases}
    for p in phases:
        log.info(
            "%s: ordinals replaced in order %s in %.1fs",
            p["label"],
            _ordinals(orders[p["label"]]),
            p["done"] - p["start"],
        )
        for h in ordinal_handoffs(lives, orders[p["label"]], p["revision"], p["start"], p["until"]):
            log.info(
                "  %s ready at %+.3fs, then %s terminating at %+.3fs",
                h.ready,
                (h.ready_at or 0) - p["start"],
                h.replaced,
                (h.terminating_at or 0) - p["start"],
            )
    record.measure(
        "statefulset-phase-seconds", "; ".join(f"{p['label']}: {p['done'] - p['start']:.1f}" for p in phases)
    )
    record.check("statefulset-update-order", ",".join(map(str, _ordinals(orders[full["label"]]))))
    record.check("statefulset-rollback-order", ",".join(map(str, _ordinals(orders[back["label"]]))))
    record.check("statefulset-partition-3-updated", ",".join(map(str, _ordinals(orders[canary["label"]]))))
    record.check("statefulset-partition-0-order", ",".join(map(str, _ordinals(orders[finish["label"]]))))

    samples = probed.analysis(NEW_CONNECTION).samples
    assert_verdicts(analyses)  # every phase: no failed request, from its old version to its new one
    assert _ordinals(orders[full["label"]]) == [3, 2, 1, 0]
    assert _ordinals(orders[back["label"]]) == [3, 2, 1, 0]
    assert _ordinals(orders[canary["label"]]) == [3]
    assert _ordinals(orders[finish["label"]]) == [2, 1, 0]
    for p in phases:
        _assert_handoffs(ordinal_handoffs(lives, orders[p["label"]], p["revision"], p["start"], p["until"]), p["label"])
    # the canary: only ordinal 3 at the update revision, 0-2 still at the current (old) one
    assert canary["revision"] != canary["current"] == back["revision"]
    assert {o: (p.revision, p.image) for o, p in canary_pods.items()} == {
        0: (back["revision"], old.image),
        1: (back["revision"], old.image),
        2: (back["revision"], old.image),
        3: (canary["revision"], new.image),
    }
    during_canary = _between(samples, canary["settled"], canary_held)
    assert {s.server for s in during_canary if s.ok} == {old.server, new.server}, (
        "the Service should answer from the canary (ordinal 3) and the old ordinals 0-2 alike:\n"
        + render_window(during_canary, canary["done"], 0.0, canary_held - canary["done"], t0=record.t0)
    )
    assert_replica_bounds(record.points, desired=DESIRED, max_surge=0, max_unavailable=1)
    final = [p for p in list_pods(core_api, namespace, labels, timeouts) if not p.terminating]
    assert sorted((p.name, p.image) for p in final) == [(f"{STS}-{i}", new.image) for i in range(DESIRED)]
    assert [(r.revision, r.image) for r in revisions] == [(3, old.image), (4, new.image)]


# --------------------------------------------------------------------------- DaemonSet


@pytest.mark.needs("daemonset-max-surge")
def test_daemonset_rolling_update_surges_and_drops_no_request(
    core_api, apps_api, raw_api, namespace, probed_service, pod_watcher, app_images, record, timeouts
):
    """DaemonSet rolling update with maxSurge 1 / maxUnavailable 0 drops no request.

    MUST hold: for both samplers the whole rollout probed and zero failed
    requests; the old Server header answers first and the new one last, with no
    old answer once the rollout settled; on every node the new pod is Ready before
    the old one starts terminating (one hand-over per node, the control plane
    included); at every instant at
    most nodes + maxSurge pods that are not terminating (the DaemonSet controller
    counts no pod whose deletion has begun) and at least as many available as
    nodes; one new pod per node at the end.
    """
    old, new = app_images["old"], app_images["new"]
    labels = {"app": DS}

    log.info("create %s (%s, one pod per node) behind a Service", DS, old.image)
    probed_service.expose(DS, labels)
    apply_object(raw_api, daemonset(DS, old.image, "v0.1", max_surge=1, max_unavailable=0), namespace)
    nodes = int(dict(wait_set_rollout(apps_api, core_api, namespace, "DaemonSet", DS, timeouts).counts)["desired"])
    cluster_nodes = len(core_api.list_node().items)
    assert nodes == cluster_nodes, f"daemon set {DS} is scheduled on {nodes} of the cluster's {cluster_nodes} nodes"
    log.info("%s runs on %d node(s)", DS, nodes)
    probed = probed_service(DS, labels)
    watcher = pod_watcher(labels)
    probed.watch(watcher)

    log.info("apply v0.2 (%s)", new.image)
    started = clock()
    with probed.phase("v0.1 -> v0.2", (old.server, new.server)):
        apply_object(raw_api, daemonset(DS, new.image, "v0.2", max_surge=1, max_unavailable=0), namespace)
        verdict = wait_set_rollout(apps_api, core_api, namespace, "DaemonSet", DS, timeouts)
    log.info("%s", verdict.message)
    analyses = probed.finish()
    events = watcher.stop()
    record.points.extend(revision_points(events, DS))
    revisions = list_revisions(apps_api, namespace, "DaemonSet", DS, timeouts)
    record.history.extend(HistoryEntry(str(r.revision), None, r.image) for r in revisions)

    new_revision = revisions[-1].name.removeprefix(f"{DS}-")
    handoffs = node_handoffs(pod_lives(events), new_revision, started)
    for h in handoffs:
        log.info(
            "%s ready at %+.3fs, %s terminating at %+.3fs",
            h.ready,
            (h.ready_at or 0) - started,
            h.replaced,
            (h.terminating_at or 0) - started,
        )
    record.check("daemonset-surge-handoffs", f"{sum(h.in_order for h in handoffs)}/{len(handoffs)} in order")

    assert_verdicts(analyses)
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
    core_api, namespace, deployments, probed_service, app_images, record, timeouts
):
    """A rollout to an image that cannot start stalls at its progress deadline; undo restores the old version.

    MUST hold: for both samplers the whole time probed, zero failed requests and
    every answer from the old version; waiting for the rollout raises RolloutFailed
    (ProgressDeadlineExceeded) while the new pod waits with ErrImageNeverPull
    and the old ReplicaSet keeps its 4 available; replicas never exceed 4 + 1
    nor fall below 4 available; `rollout undo` then completes, leaving only
    the old image (revision 1 reused as revision 3).
    """
    old = app_images["old"]
    bad = _unstartable(old.image)
    deadline = timeouts.rollout_progress_deadline

    log.info("create %s v0.1 (%s, progressDeadlineSeconds %d) behind a Service", STUCK, old.image, deadline)
    probed_service.expose(STUCK, {"app": STUCK})
    deployments.apply(
        deployment(STUCK, old.image, "v0.1", progress_deadline=deadline), change_cause=f"create {STUCK} v0.1"
    )
    deployments.wait_rollout_complete(STUCK, timeouts.rollout)
    probed = probed_service(STUCK, {"app": STUCK})
    watcher = deployments.watch_replicasets(STUCK)
    probed.watch(watcher)
    rollout_start = clock()

    log.info("apply v0.2 with %s (imagePullPolicy Never): it cannot start", bad)
    with probed.phase("to an unstartable image", (old.server,)):
        deployments.apply(
            with_pull_policy(deployment(STUCK, bad, "v0.2", progress_deadline=deadline), "Never"),
            change_cause=f"update {STUCK} to unstartable {bad}",
        )
        started = clock()
        with pytest.raises(RolloutFailed) as stalled:
            deployments.wait_rollout_complete(STUCK, timeouts.rollout)
    stalled_after = clock() - started
    log.info("rollout stalled after %.1fs: %s", stalled_after, stalled.value)
    stuck = [p for p in list_pods(core_api, namespace, {"app": STUCK}, timeouts) if p.image == bad]
    status = deployments.get(STUCK)["status"]

    log.info("rollout undo")
    with probed.phase("rollout undo", (old.server,)):
        undone = deployments.undo(STUCK)
        deployments.wait_rollout_complete(STUCK, timeouts.rollout)
    analyses = probed.finish()
    record.points.extend(watcher.stop())
    history = deployments.history(STUCK)
    record.history.extend(HistoryEntry(str(r.revision), r.change_cause, ",".join(r.images)) for r in history)
    record.check("unstartable-rollout", stalled.value.reason)
    record.measure("unstartable-rollout-progress-deadline-s", str(deadline))
    record.measure("unstartable-rollout-stalled-after-s", f"{stalled_after:.1f}")
    record.check("unstartable-pod-waiting", ",".join(sorted({str(p.waiting_reason) for p in stuck})))

    assert stalled.value.reason == "ProgressDeadlineExceeded"
    assert stuck and {p.waiting_reason for p in stuck} == {"ErrImageNeverPull"}, [
        (p.name, p.waiting_reason) for p in stuck
    ]
    assert (status.get("availableReplicas"), status.get("updatedReplicas")) == (DESIRED, len(stuck))
    assert_verdicts(analyses)
    assert all(a.versions_seen == (old.server,) for a in analyses)
    assert_replica_bounds(
        record.points,
        since=rollout_start,
        desired=DESIRED,
        max_surge=1,
        max_unavailable=0,
        pods=record.datapath[-1].pods,
    )
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
def test_naive_against_hardened_deployment(
    variant, namespace, deployments, probed_service, app_images, record, timeouts
):
    """Naive against hardened Deployment rolling update v0.1 -> v0.2.

    MUST hold, both: the rollout completes with the whole of it probed by both
    samplers (new-connection and keep-alive); the new Server header answers last,
    with no old answer once it has settled; replicas stay within 4 + maxSurge and
    4 - maxUnavailable (25%: 1 and 1; hardened: 1 and 0).
    Hardened (readinessProbe, preStop sleep, maxUnavailable 0): zero failed requests.
    Naive (neither, Kubernetes' default 25% / 25%): its failed requests are measured,
    each with its cause, and reported (checks naive-<kind>-failed-requests and
    naive-<kind>-causes, the report's failures), not asserted; once the rollout has
    settled the only failures may be the ones conntrack's entries for the connections
    its pods reset still cause (`stale-conntrack`, up to 120 s), counted in
    naive-<kind>-failed-after-settled.
    """
    options = VARIANTS[variant]
    record.scenario = f"{record.scenario} [{variant}]"
    name = f"{variant}-demo"
    old, new = app_images["old"], app_images["new"]
    surge = scaled_value(options["max_surge"], DESIRED, round_up=True)
    unavailable = scaled_value(options["max_unavailable"], DESIRED, round_up=False)

    log.info("create %s v0.1 (%s, %s) behind a Service", name, old.image, options)
    probed_service.expose(name, {"app": name})
    deployments.apply(deployment(name, old.image, "v0.1", **options), change_cause=f"create {name} v0.1")
    deployments.wait_rollout_complete(name, timeouts.rollout)
    probed = probed_service(name, {"app": name}, failures="asserted" if variant == "hardened" else "measured")
    watcher = deployments.watch_replicasets(name)
    probed.watch(watcher)
    rollout_start = clock()

    log.info("apply v0.2 (%s)", new.image)
    with probed.phase("v0.1 -> v0.2", (old.server, new.server)):
        deployments.apply(deployment(name, new.image, "v0.2", **options), change_cause=f"update {name} to v0.2")
        verdict = deployments.wait_rollout_complete(name, timeouts.rollout)
    settled_at = probed.settled_at
    analyses = probed.finish()
    record.points.extend(watcher.stop())
    history = deployments.history(name)
    record.history.extend(HistoryEntry(str(r.revision), r.change_cause, ",".join(r.images)) for r in history)

    for analysis in analyses:
        record.measure(f"{variant}-{analysis.kind}-failed-requests", f"{analysis.failed} of {analysis.total}")
        causes = Counter(a.cause for a in analysis.attributions)
        record.measure(
            f"{variant}-{analysis.kind}-causes",
            ", ".join(f"{cause} {n}" for cause, n in sorted(causes.items())) or "none",
        )
        log.info(
            "%s %s: %d of %d failed in %d outage(s) %s; causes %s",
            variant,
            analysis.kind,
            analysis.failed,
            analysis.total,
            len(analysis.outages),
            dict(analysis.error_counts),
            dict(causes),
        )

    assert verdict.done
    assert_verdicts(analyses)  # hardened: no failed request; naive: failures measured, evidence and order judged
    for analysis in analyses:
        late = [s for s in analysis.samples if not s.ok and s.start >= settled_at]
        causes = {a.t: a.cause for a in analysis.attributions}
        record.measure(f"{variant}-{analysis.kind}-failed-after-settled", str(len(late)))
        unexplained = [s for s in late if causes.get(s.start) != "stale-conntrack"]
        assert not unexplained, (
            f"{len(unexplained)} {analysis.kind} request(s) failed after the rollout settled, not by a stale "
            f"conntrack entry:\n" + render_window(analysis.samples, unexplained[0].start, t0=record.t0)
        )
    assert_replica_bounds(
        record.points,
        since=rollout_start,
        desired=DESIRED,
        max_surge=surge,
        max_unavailable=unavailable,
        pods=record.datapath[-1].pods,
    )
    assert [(r.revision, r.change_cause) for r in history] == [
        (1, f"create {name} v0.1"),
        (2, f"update {name} to v0.2"),
    ]
