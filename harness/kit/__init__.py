"""The offline kit: a real kind cluster built from package registries alone.

`rollproof kit build` makes, on a machine with no container registry:
a Docker engine (Debian's, with a capability shim where the machine needs it),
kind and Kubernetes built from Go modules, a node image kind accepts unchanged,
and the nginx application images the suites roll between.
"""
