"""The offline kit: a real kind cluster built from package registries alone.

`rollproof kit build` makes, on a machine with no container registry:
a Docker engine (Debian's, with a capability shim where the machine needs it),
kind and Kubernetes built from Go modules, a node image kind accepts unchanged,
and the nginx application images the suites roll between. Every Go build lives
here: `gobuild` (programs from the module proxy), `referee` (kubectl 1.17) and
`proberbuild` (the in-cluster prober from the repository's own module).

May import: the standard library, `harness.errors` and `harness.poll`. Never the
API client, the rollout layer, the prober or the plugin: the kit runs before any
cluster exists.
"""
