"""rollproof: prove that Kubernetes rolling updates drop no request.

The library and the pytest plugin. Its folders, each saying in its docstring what it may import:

kube/      talking to the API server (kubeconfig, raw requests, patches, events, watch
           helpers); the one boundary where the kubernetes client's errors become
           `harness.errors`
rollout/   the engines that drive a rollout and watch it (Deployments, ReplicaSet and
           pod watchers, StatefulSet/DaemonSet waits, the RC updater) and kubectl's rules
cluster/   the cluster a run uses: a kind cluster it creates or reuses, or an existing one
kit/       the offline kit: Docker engine, kind, node image, application images, Go builds
the rest   the prober and its analysis, the report, the suites' helpers, the plugin

Shared by all: `errors` (the error tree), `poll` (the one wait loop), `timeouts` (every
duration by name), `samples` (the one clock), `kubeversion` (the one version parser),
`rolloutsteps` (what a rollout engine records), `rundir` and `owner` (this run's private
directory and who owns what it creates). These import only the standard library and each
other; the rest may import any folder, and no folder imports the rest. `plugin` only wires
hooks and fixtures; no other module imports pytest. `tests/unit/test_layers.py` checks all this.
"""

__version__ = "0.1.0"
