"""kube-proxy's rules read from a nat table: which endpoints a Service's chains send traffic to."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import harness.proxyrules as proxyrules
from harness.proxyrules import NatTableReader, service_routes
from harness.samples import clock

TABLE = (Path(__file__).parent / "data" / "nat-table-1.34.txt").read_text()
"""`iptables-save -t nat` of a kind 1.34 node: Service rtest/web (NodePort, three pods; one of them,
10.244.0.21, deleted just before, its chain gone) and the cluster's own Services."""

# kube-proxy 1.17 (the walkthrough's era): no "->" comments on the jumps, named ports in the comments,
# and a terminating endpoint's chain still written but not jumped to
OLD = """*nat
:KUBE-SERVICES - [0:0]
:KUBE-SVC-AAAA - [0:0]
:KUBE-SEP-ONE - [0:0]
:KUBE-SEP-TWO - [0:0]
:KUBE-SEP-GONE - [0:0]
-A KUBE-SERVICES -d 10.96.0.20/32 -p tcp -m comment --comment "ns1/web:http cluster IP" -j KUBE-SVC-AAAA
-A KUBE-SVC-AAAA -m comment --comment "ns1/web:http" -m statistic --mode random --probability 0.5 -j KUBE-SEP-ONE
-A KUBE-SVC-AAAA -m comment --comment "ns1/web:http" -j KUBE-SEP-TWO
-A KUBE-SEP-ONE -p tcp -m comment --comment "ns1/web:http" -m tcp -j DNAT --to-destination 10.244.1.5:80
-A KUBE-SEP-TWO -p tcp -m comment --comment "ns1/web:http" -m tcp -j DNAT --to-destination 10.244.1.6:80
-A KUBE-SEP-GONE -p tcp -m comment --comment "ns1/web:http" -m tcp -j DNAT --to-destination 10.244.1.4:80
COMMIT
"""


def test_a_service_s_routes_from_a_kind_node_s_table() -> None:
    assert service_routes(TABLE, "rtest/web") == ("10.244.0.20", "10.244.0.22", "10.244.0.23")
    assert service_routes(TABLE, "kube-system/kube-dns") == ("10.244.0.2", "10.244.0.3")
    assert service_routes(TABLE, "default/kubernetes") == ("172.18.0.2",)


def test_a_chain_written_but_not_jumped_to_is_not_a_route_and_names_must_match_whole() -> None:
    assert service_routes(OLD, "ns1/web") == ("10.244.1.5", "10.244.1.6")
    assert service_routes(OLD, "ns1/we") == ()  # a prefix of the name is another Service


def test_a_service_without_endpoints_in_the_rules_has_no_routes() -> None:
    assert service_routes(TABLE, "rtest/absent") == ()


def test_a_table_without_kube_proxy_s_chains_says_nothing() -> None:
    assert service_routes("*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n", "rtest/web") is None


def test_the_reader_takes_the_backend_that_holds_kube_proxy_s_chains(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        proxyrules,
        "SAVE_COMMANDS",
        (("sh", "-c", "echo '*nat'; echo COMMIT"), ("sh", "-c", "printf '%s' \"$0\"", OLD)),
    )
    reader = NatTableReader()
    assert reader.read() == OLD and reader.error is None
    assert reader.read() == OLD  # then that one only


def test_the_reader_says_why_it_read_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        proxyrules,
        "SAVE_COMMANDS",
        (("sh", "-c", "echo denied >&2; exit 4"), ("/nonexistent/iptables-legacy-save",)),
    )
    reader = NatTableReader()
    assert reader.read() is None
    assert reader.error is not None
    assert reader.error.startswith("kube-proxy's rules not read: sh: exit 4: denied; /nonexistent/iptables-legacy")


def _metrics(stamp: float, count: int) -> str:
    return (
        f'kubeproxy_sync_proxy_rules_duration_seconds_sum{{ip_family="IPv4"}} {count * 0.05}\n'
        f'kubeproxy_sync_proxy_rules_duration_seconds_count{{ip_family="IPv4"}} {count}\n'
        f'kubeproxy_sync_proxy_rules_last_timestamp_seconds{{ip_family="IPv4"}} {stamp}\n'
    )


def test_the_poller_keeps_a_sync_s_rules_only_when_no_later_sync_stamped_before_the_next_poll(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Poll by poll: sync 1 stamped, its rules read (A, B), the next poll the same stamp: kept. Sync 2
    stamped, its rules read (A), but the next poll shows sync 3 already: what was read may be sync
    3's, so sync 2 keeps none; sync 3's own read (B) is kept."""
    import harness.datapath as datapath

    polls = iter([_metrics(1000.0, 1), _metrics(1000.0, 1), _metrics(1001.0, 2), _metrics(1002.0, 3)])
    last = _metrics(1002.0, 3)
    tables = iter(["a b", "a", "b"])
    routes = {"a b": ("10.0.0.1", "10.0.0.2"), "a": ("10.0.0.1",), "b": ("10.0.0.2",)}
    monkeypatch.setattr(datapath, "join_netns", lambda pid: None)
    monkeypatch.setattr(datapath, "_http_get", lambda *a: next(polls, last))
    monkeypatch.setattr(datapath.NatTableReader, "read", lambda self: next(tables, "b"))
    monkeypatch.setattr(datapath, "service_routes", lambda text, service: routes[text])
    poller = datapath.ProxySyncPoller({"node-1": 1}, interval=0.01, service="ns/web").start()
    deadline = clock() + 2.0
    while clock() < deadline and len(poller.records) < 3:
        time.sleep(0.01)
    time.sleep(0.1)
    records = poller.stop()
    assert [r.routes for r in records] == [("10.0.0.1", "10.0.0.2"), None, ("10.0.0.2",)]
    assert poller.rules_errors == {}
