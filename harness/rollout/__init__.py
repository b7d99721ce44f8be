"""The engines that drive a rollout and watch it, and kubectl's rules they apply.

deployments  kubectl-equivalent Deployment operations (apply, status, history, undo, ...)
replicasets  a Deployment's ReplicaSets watched into `ReplicaPoint`s, and their totals
podsets      StatefulSet / DaemonSet apply, pod and revision lists, rollout waits
podwatcher   a pod watcher whose `PodEvent`s say which pod moved to which revision when
pods         pure: one pod's `PodState` and `PodEvent`
podlives     pure: pod events read back (lives, update order, per-owner points, hand-overs)
status       pure: `kubectl rollout status`'s rules for the three kinds, a rollout dump
history      pure: `kubectl rollout history` / `undo`'s rules (ReplicaSets, ControllerRevisions)
rcupdate/    client-side ReplicationController rolling updates (`kubectl rolling-update`)

May import: the standard library, the kubernetes client, yaml, `harness.kube` (the
API server), `harness.errors`, `harness.poll`, `harness.samples`, `harness.rolloutsteps`,
`harness.timeouts`.
Never the prober, the analysis, the report or the plugin. The package imports
no submodule itself, so its pure modules load no client.
"""
