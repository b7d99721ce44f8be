"""Talking to a Kubernetes API server, and nothing else: no rollout logic lives here.

config   kubeconfig → ClusterAccess; typed ApiClient; `kube_errors`, the one boundary
         where the kubernetes client's ApiException and transport errors become
         `harness.errors`; `call_api` for typed-client calls
patches  pure builders of raw requests (PATCH flavours, PUT, legacy rollback)
raw      RawApi: a requests.Session that records every exchange
events   pure parsing of the controllers' Event messages
watch    ListWatchRecorder, the generic list-then-watch recording thread

May import: the standard library, the kubernetes client, requests, urllib3,
yaml, and `harness.errors`, `harness.kubeversion`, `harness.poll`, `harness.rundir`,
`harness.samples`, `harness.rolloutsteps`, `harness.timeouts` (and the package's
`__version__`, for the User-Agent). Never `harness.rollout` or anything above it. The package
imports no submodule itself, so the pure `patches` loads no client.
"""
