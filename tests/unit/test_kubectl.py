def test_kubectl_turns_the_watch_list_off_only_for_servers_before_1_27() -> None:
    from pathlib import Path

    from harness.kubectl import Kubectl

    old = Kubectl(Path("kubectl"), Path("kc"), None, "ns", (1, 15))
    env = old.env()
    assert env is not None and env["KUBE_FEATURE_WatchListClient"] == "false"
    assert Kubectl(Path("kubectl"), Path("kc"), None, "ns", (1, 27)).env() is None
    assert Kubectl(Path("kubectl"), Path("kc"), None, "ns").env() is None
