"""The offline kit: a real kind cluster built from package registries alone.

`rollproof kit build` makes, on a machine with no container registry:
a Docker engine (Debian's, with a capability shim where the machine needs it),
kind and Kubernetes built from Go modules, a node image kind accepts unchanged,
and the nginx application images the suites roll between. Every Go build lives
here: `gobuild` (programs from the module proxy), `referee` (kubectl 1.17) and
`proberbuild` (the in-cluster prober from the repository's own module).

build        `rollproof kit build`: every stage in order
versions     the pinned versions, per Kubernetes minor
engine       the Docker engine (and its runc shim where the machine needs it)
docker       image lookups, import, build and save through the engine
rootfs       Debian images by debootstrap (the node's base, the nginx images)
static       images of a few static binaries (etcd, CoreDNS, control plane, pause)
nodeimage    the kind node image and the images kubeadm asks for
appimages    the nginx application images the suites roll between
gobuild      Go programs from the module proxy (kind, Kubernetes, etcd, CoreDNS, ...)
referee      kubectl 1.17, the RC updater's referee
proberbuild  the in-cluster prober
stages       timed, logged stages cached by a hash of their inputs
paths        where the outputs live (outside the repository) and the shipped `files/`

May import: the standard library, `harness.errors`, `harness.kubeversion` and
`harness.poll`. Never the API client, the rollout layer, the prober or the plugin: the
kit runs before any cluster exists.
"""
