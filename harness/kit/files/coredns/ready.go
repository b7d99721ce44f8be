package main

// The `ready` plugin, in CoreDNS from 1.5 on (kubeadm's Corefile uses it from then).
import _ "github.com/coredns/coredns/plugin/ready"
