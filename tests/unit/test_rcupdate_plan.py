"""The ReplicationController rolling-update arithmetic, checked against kubectl 1.17's rules.

Expected values were worked out by hand from the rules of kubectl 1.17's
`RollingUpdater.scaleUp`, `RollingUpdater.scaleDown`, `RollingUpdater.Update`
(the loop and the desired == 0 override) and `deploymentutil.ResolveFenceposts`
(pkg/kubectl/cmd/rollingupdate/rolling_updater.go); each row names the rule it
exercises.
"""

from __future__ import annotations

import pytest

from harness.errors import ConfigError
from harness.rollout.rcupdate import plan
from harness.rollout.rcupdate.plan import (
    DESIRED_REPLICAS_ANNOTATION,
    NEXT_CONTROLLER_ANNOTATION,
    UpdateConfig,
    derive_image_update,
    old_deployment_value,
    prepare_manifest,
    resolve_fenceposts,
    scale_down_target,
    scale_up_target,
    simulate,
    template_hash,
    validate_new_name,
    validate_selectors,
)

# --------------------------------------------------------------------------- scaleUp

# (old, new, desired, surge) -> new target
SCALE_UP = [
    # scaleUp: new already == desired -> no-op
    pytest.param(2, 4, 4, 1, 4, id="at-desired"),
    # scaleUp: increment = (desired + surge) - (old + new) = 5 - 4
    pytest.param(4, 0, 4, 1, 1, id="first-step"),
    # scaleUp: increment 5 - 5 = 0 -> no-op (surge budget used up)
    pytest.param(4, 1, 4, 1, 1, id="surge-full"),
    # scaleUp: old == 0 -> increment = desired - new, straight to desired
    pytest.param(0, 1, 4, 1, 4, id="old-zero-jumps"),
    pytest.param(0, 0, 3, 1, 3, id="old-zero-from-empty"),
    # scaleUp: surge 2 -> increment 6 - 4 = 2
    pytest.param(4, 0, 4, 2, 2, id="surge-two"),
    # scaleUp: surge 25% of 10 = 3 (rounded up) -> increment 13 - 10
    pytest.param(10, 0, 10, 3, 3, id="surge-percent"),
    # scaleUp: fencepost, new + increment capped at desired (7 - 1 = 6 -> 2)
    pytest.param(1, 0, 2, 5, 2, id="capped-at-desired"),
    # scaleUp: old shrank by itself (volatile) -> increment 5 - 3 = 2
    pytest.param(2, 1, 4, 1, 3, id="volatile-old"),
    # scaleUp: old == 0 and new above desired -> increment negative -> no-op (never scales new down)
    pytest.param(0, 5, 4, 1, 5, id="never-down"),
    # scaleUp: desired 0 -> new == desired -> no-op
    pytest.param(3, 0, 0, 1, 0, id="desired-zero"),
    # scaleUp: surge 0 -> increment 4 - 4 = 0 until old goes down
    pytest.param(4, 0, 4, 0, 0, id="no-surge-blocked"),
    pytest.param(3, 0, 4, 0, 1, id="no-surge-after-old-down"),
]


@pytest.mark.parametrize(("old", "new", "desired", "surge", "expected"), SCALE_UP)
def test_scale_up_target(old: int, new: int, desired: int, surge: int, expected: int) -> None:
    assert scale_up_target(old, new, desired, surge) == expected


# --------------------------------------------------------------------------- scaleDown

# (old, new, desired, available_new, min_available) -> old target
SCALE_DOWN = [
    # scaleDown: old already 0 -> no-op
    pytest.param(0, 4, 4, 4, 4, 0, id="old-zero"),
    # scaleDown: decrement = (old + new) - min_available - (new - available) = 5 - 4 - 0
    pytest.param(4, 1, 4, 1, 4, 3, id="one-ready"),
    # scaleDown: new pod not ready -> decrement 5 - 4 - 1 = 0 -> no-op
    pytest.param(4, 1, 4, 0, 4, 4, id="not-ready-blocks"),
    # scaleDown: maxUnavailable 1 (min 3) and new pod not ready -> 4 - 3 - 1 = 0
    pytest.param(3, 1, 4, 0, 3, 3, id="unavailable-one-spent"),
    # scaleDown: maxUnavailable 1 -> 5 - 3 - 1 = 1 even with nothing ready
    pytest.param(4, 1, 4, 0, 3, 3, id="unavailable-one"),
    # scaleDown: maxUnavailable 1 and the new pod ready -> 5 - 3 - 0 = 2
    pytest.param(4, 1, 4, 1, 3, 2, id="unavailable-one-ready"),
    # scaleDown: new complete and all available -> old straight to 0
    pytest.param(1, 4, 4, 4, 4, 0, id="complete"),
    pytest.param(3, 4, 4, 4, 3, 0, id="complete-with-budget"),
    # scaleDown: old shrank by itself -> decrement 3 - 4 - 0 < 0 -> no-op (transient)
    pytest.param(2, 1, 4, 1, 4, 2, id="volatile-old"),
    # Update: desired 0 -> min_available 0 -> everything goes: 3 - 0 - 0
    pytest.param(3, 0, 0, 0, 0, 0, id="desired-zero"),
    # scaleDown: fencepost, old - decrement clamped at 0 (2 - 4)
    pytest.param(2, 3, 4, 3, 1, 0, id="clamped-at-zero"),
    # scaleDown: desired 5, maxUnavailable 1 -> 7 - 4 - 1 = 2
    pytest.param(5, 2, 5, 1, 4, 3, id="five-partly-ready"),
]


@pytest.mark.parametrize(("old", "new", "desired", "available", "min_available", "expected"), SCALE_DOWN)
def test_scale_down_target(old: int, new: int, desired: int, available: int, min_available: int, expected: int) -> None:
    assert scale_down_target(old, new, desired, available, min_available) == expected


# --------------------------------------------------------------------------- fenceposts

FENCEPOSTS = [
    # ResolveFenceposts: surge rounds up, unavailable rounds down
    pytest.param("25%", "25%", 4, (1, 1), id="25pct-of-4"),
    pytest.param("25%", "25%", 5, (2, 1), id="25pct-of-5"),
    pytest.param("25%", "25%", 10, (3, 2), id="25pct-of-10"),
    pytest.param("33%", "33%", 3, (1, 0), id="33pct-of-3"),
    pytest.param("100%", "0%", 3, (3, 0), id="100pct"),
    pytest.param("10%", "0%", 4, (1, 0), id="surge-rounds-up"),
    # ResolveFenceposts: both resolve to 0 only by rounding -> unavailable = 1
    pytest.param("0%", "10%", 4, (0, 1), id="rounded-to-zero"),
    pytest.param("50%", "50%", 0, (0, 1), id="percent-of-zero"),
    # ints are taken as they are
    pytest.param(1, 0, 0, (1, 0), id="ints-desired-zero"),
    pytest.param(2, 3, 4, (2, 3), id="ints"),
    pytest.param(" 20% ", 1, 10, (2, 1), id="whitespace"),
]


@pytest.mark.parametrize(("surge", "unavailable", "desired", "expected"), FENCEPOSTS)
def test_resolve_fenceposts(surge: object, unavailable: object, desired: int, expected: tuple[int, int]) -> None:
    assert resolve_fenceposts(surge, unavailable, desired) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(("surge", "unavailable"), [(0, 0), ("0%", 0), ("0%", "0%"), (0, "0%")])
def test_both_zero_is_an_error(surge: object, unavailable: object) -> None:
    with pytest.raises(ConfigError, match="both 0"):
        resolve_fenceposts(surge, unavailable, 4)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["abc", "5", "%", "-5%", "1.5%", -1, True, 1.5, None])
def test_bad_int_or_percent(bad: object) -> None:
    with pytest.raises(ConfigError, match="max_surge"):
        resolve_fenceposts(bad, 1, 4)  # type: ignore[arg-type]


def test_update_config_derived_limits() -> None:
    config = UpdateConfig(10, "25%", "25%")
    assert (config.surge, config.unavailable, config.min_available, config.max_total) == (3, 2, 8, 13)


def test_update_config_desired_zero_lets_every_old_pod_go() -> None:
    # Update: desired == 0 -> maxUnavailable = old replicas, minAvailable = 0
    config = UpdateConfig(0, 1, 0, old_replicas=3)
    assert (config.unavailable, config.min_available) == (3, 0)


def test_update_config_rejects_negative_desired() -> None:
    with pytest.raises(ConfigError):
        UpdateConfig(-1)


# --------------------------------------------------------------------------- simulator


SEQUENCES = [
    # 4 replicas, surge 1, unavailable 0: up one, down one, ..., last scaleDown takes old to 0
    pytest.param(4, 1, 0, 4, [(4, 1), (3, 1), (3, 2), (2, 2), (2, 3), (1, 3), (1, 4), (0, 4)], id="4-s1-u0"),
    # ResolveFenceposts doc: 1 desired, unavailable 0%, surge 1% -> new(+1), then old(-1)
    pytest.param(1, "1%", "0%", 1, [(1, 1), (0, 1)], id="1-s1pct-u0pct"),
    # ResolveFenceposts doc: 2 desired, unavailable 25%, surge 1% -> new(+1), old(-1), new(+1), old(-1)
    pytest.param(2, "1%", "25%", 2, [(2, 1), (1, 1), (1, 2), (0, 2)], id="2-s1pct-u25pct"),
    # ResolveFenceposts doc: 2 desired, unavailable 1%, surge 0% -> old(-1), new(+1), old(-1), new(+1)
    pytest.param(2, "0%", "1%", 2, [(1, 0), (1, 1), (0, 1), (0, 2)], id="2-s0pct-u1pct"),
    # maxUnavailable 1: scaleDown may go 2 below the surge peak once the new pod is ready
    pytest.param(4, 1, 1, 4, [(4, 1), (2, 1), (2, 3), (0, 3), (0, 4)], id="4-s1-u1"),
    # scaleUp with old == 0 from the start: one step to desired
    pytest.param(3, 1, 0, 0, [(0, 3)], id="old-empty"),
    # growing 2 -> 4: the surge budget (5) allows 3 new at once
    pytest.param(4, 1, 0, 2, [(2, 3), (1, 3), (1, 4), (0, 4)], id="grow-2-to-4"),
    # shrinking 4 -> 2: scaleUp blocked (3 - 4 < 0) until scaleDown made room
    pytest.param(2, 1, 0, 4, [(2, 0), (2, 1), (1, 1), (1, 2), (0, 2)], id="shrink-4-to-2"),
    # desired 0 (a rollback to an RC that had 0): the old one goes to 0 at once
    pytest.param(0, 1, 0, 3, [(0, 0)], id="desired-zero"),
    # surge given as a percentage: 25% of 8 = 2 per step
    pytest.param(8, "25%", 0, 8, [(8, 2), (6, 2), (6, 4), (4, 4), (4, 6), (2, 6), (2, 8), (0, 8)], id="8-s25pct"),
]


@pytest.mark.parametrize(("desired", "surge", "unavailable", "old", "expected"), SEQUENCES)
def test_simulated_sequences(
    desired: int, surge: object, unavailable: object, old: int, expected: list[tuple[int, int]]
) -> None:
    sim = simulate(UpdateConfig(desired, surge, unavailable), old)  # type: ignore[arg-type]
    assert sim.completed
    assert sim.pairs == expected


def test_simulated_actions_alternate_and_respect_bounds() -> None:
    config = UpdateConfig(6, 2, 1)
    sim = simulate(config, 6)
    assert sim.completed
    for step in sim.steps:
        assert step.old + step.new <= config.max_total
        assert step.old + step.available >= config.min_available
    assert {s.action for s in sim.steps} == {"scale-up", "scale-down"}


def test_simulation_never_ready_is_stuck() -> None:
    # scaleDown: the new pod never becomes available -> decrement 5 - 4 - 1 = 0 forever
    sim = simulate(UpdateConfig(4, 1, 0), 4, lambda new: 0)
    assert not sim.completed
    assert sim.pairs == [(4, 1)]


def test_simulation_with_one_pod_always_unready() -> None:
    # maxUnavailable 1 is spent on the one unready new pod: one old pod per round
    sim = simulate(UpdateConfig(4, 1, 1), 4, lambda new: max(0, new - 1))
    assert sim.completed
    assert sim.pairs == [(4, 1), (3, 1), (3, 2), (2, 2), (2, 3), (1, 3), (1, 4), (0, 4)]
    assert [s.available for s in sim.steps if s.action == "scale-down"] == [0, 1, 2, 3]


def test_simulation_resumes_from_a_partial_state() -> None:
    # a resumed updater starts from whatever the RCs have: (3, 1) is mid-way through 4-s1-u0
    sim = simulate(UpdateConfig(4, 1, 0), 3, new_replicas=1)
    assert sim.pairs == [(3, 2), (2, 2), (2, 3), (1, 3), (1, 4), (0, 4)]


# --------------------------------------------------------------------------- validation


def test_new_name_must_differ() -> None:
    validate_new_name("web", "web-2")
    with pytest.raises(ConfigError, match="like the one it replaces"):
        validate_new_name("web", "web")
    with pytest.raises(ConfigError, match="no name"):
        validate_new_name("web", "")


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ({"app": "web", "version": "v1"}, {"app": "web", "version": "v2"}),
        ({"app": "web", "deployment": "a-orig"}, {"app": "web", "deployment": "b"}),
        ({"app": "web"}, {"app": "web2"}),
    ],
)
def test_selector_with_a_changed_value_is_accepted(old: dict[str, str], new: dict[str, str]) -> None:
    validate_selectors("web", old, new)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        # a key only the new selector has does not count: the old selector would still match new pods
        ({"app": "web"}, {"app": "web", "version": "v2"}),
        ({"app": "web"}, {"app": "web"}),
        ({}, {"app": "web"}),
        ({"app": "web", "tier": "a"}, {"tier2": "b"}),
    ],
)
def test_selector_without_a_changed_value_is_rejected(old: dict[str, str], new: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="different value"):
        validate_selectors("web", old, new)


# --------------------------------------------------------------------------- image-only updates


def _rc(
    name: str = "web",
    image: str = "rollproof/nginx:1.22.1",
    replicas: int = 3,
    selector: dict[str, str] | None = None,
    containers: list[dict[str, object]] | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, object]:
    labels = dict(selector or {"app": "web"})
    return {
        "apiVersion": "v1",
        "kind": "ReplicationController",
        "metadata": {
            "name": name,
            "namespace": "ns",
            "uid": "u-1",
            "resourceVersion": "7",
            "labels": {"app": "web"},
            "annotations": dict(annotations or {}),
        },
        "spec": {
            "replicas": replicas,
            "selector": dict(labels),
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": containers or [{"name": "nginx", "image": image}]},
            },
        },
        "status": {"replicas": replicas},
    }


def test_image_update_derives_name_selector_and_label_from_template_hash() -> None:
    old = _rc(annotations={NEXT_CONTROLLER_ANNOTATION: "stale", "team": "a"})
    new = derive_image_update(old, "rollproof/nginx:1.26.3")
    digest = new["spec"]["selector"]["deployment"]
    assert new["metadata"]["name"] == f"web-{digest}"
    assert new["spec"]["template"]["metadata"]["labels"] == {"app": "web", "deployment": digest}
    assert new["spec"]["selector"] == {"app": "web", "deployment": digest}
    assert new["spec"]["template"]["spec"]["containers"][0]["image"] == "rollproof/nginx:1.26.3"
    assert new["spec"]["replicas"] == 3
    assert new["metadata"]["annotations"] == {"team": "a"}
    assert "uid" not in new["metadata"] and "status" not in new
    assert digest == template_hash(new["spec"]["template"])
    # the old RC is untouched
    assert old["spec"]["template"]["spec"]["containers"][0]["image"] == "rollproof/nginx:1.22.1"


def test_image_update_hash_ignores_an_existing_deployment_label() -> None:
    plain = derive_image_update(_rc(), "img:2")
    labelled = derive_image_update(_rc(selector={"app": "web", "deployment": "abc-orig"}), "img:2")
    assert plain["metadata"]["name"] == labelled["metadata"]["name"]
    assert plain["metadata"]["name"] != derive_image_update(_rc(), "img:3")["metadata"]["name"]


def test_image_update_selector_differs_from_old_after_marking() -> None:
    old = _rc()
    new = derive_image_update(old, "img:2")
    marked = {**old["spec"]["selector"], "deployment": old_deployment_value(old)}
    assert old_deployment_value(old).endswith("-orig")
    validate_selectors("web", marked, new["spec"]["selector"])


def test_image_update_with_explicit_name() -> None:
    assert derive_image_update(_rc(), "img:2", new_name="web-v2")["metadata"]["name"] == "web-v2"


def test_image_update_same_image_needs_pull_policy() -> None:
    with pytest.raises(ConfigError, match="image_pull_policy"):
        derive_image_update(_rc(), "rollproof/nginx:1.22.1")
    new = derive_image_update(_rc(), "rollproof/nginx:1.22.1", image_pull_policy="Never")
    assert new["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] == "Never"


def test_image_update_multi_container() -> None:
    two = [{"name": "a", "image": "x:1"}, {"name": "b", "image": "y:1"}]
    with pytest.raises(ConfigError, match="name the one"):
        derive_image_update(_rc(containers=two), "y:2")
    with pytest.raises(ConfigError, match="not found"):
        derive_image_update(_rc(containers=two), "y:2", container="c")
    new = derive_image_update(_rc(containers=two), "y:2", container="b")
    assert [c["image"] for c in new["spec"]["template"]["spec"]["containers"]] == ["x:1", "y:2"]


def test_image_update_without_containers() -> None:
    old = _rc()
    old["spec"]["template"]["spec"]["containers"] = []
    with pytest.raises(ConfigError, match="no containers"):
        derive_image_update(old, "img:2")


# --------------------------------------------------------------------------- manifests


def test_manifest_defaults_replicas_and_selector_from_old_and_template() -> None:
    manifest = _rc(name="web-v2", selector={"app": "web", "version": "v2"})
    del manifest["spec"]["replicas"]
    del manifest["spec"]["selector"]
    old = _rc(replicas=5, selector={"app": "web", "version": "v1"})
    prepared = prepare_manifest(manifest, old)
    assert prepared["spec"]["replicas"] == 5
    assert prepared["spec"]["selector"] == {"app": "web", "version": "v2"}
    assert "status" not in prepared and "uid" not in prepared["metadata"]
    assert DESIRED_REPLICAS_ANNOTATION not in prepared["metadata"]["annotations"]


def test_manifest_errors() -> None:
    old = _rc(selector={"app": "web", "version": "v1"})
    with pytest.raises(ConfigError, match="like the one it replaces"):
        prepare_manifest(_rc(name="web", selector={"app": "web", "version": "v2"}), old)
    with pytest.raises(ConfigError, match="different value"):
        prepare_manifest(_rc(name="web-v2", selector={"app": "web", "version": "v1"}), old)
    with pytest.raises(ConfigError, match="ReplicationController"):
        prepare_manifest({**_rc(name="web-v2"), "kind": "Deployment"}, old)


def test_plan_module_is_pure() -> None:
    source = open(plan.__file__, encoding="utf-8").read()
    for forbidden in ("import kubernetes", "from kubernetes", "import pytest", "time.sleep", "open("):
        assert forbidden not in source
