// Command coredns is CoreDNS with only the plugins kubeadm's default Corefile uses.
//
// Built by the rollproof kit from the github.com/coredns/coredns module; the
// cluster DNS image kubeadm asks for is made from it. The `ready` plugin of
// later Corefiles arrived in CoreDNS 1.5: ready.go, which imports it, is built
// in from that release on (harness/kit/gobuild.py picks the files).
package main

import (
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/reload"
)

func main() {
	coremain.Run()
}
