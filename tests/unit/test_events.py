from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

from harness.kube.events import parse_scaling_message, scaling_steps


def event(reason, name, message, seconds_ago):
    stamp = datetime.now(timezone.utc) - timedelta(seconds=seconds_ago)
    return SimpleNamespace(
        reason=reason,
        involved_object=SimpleNamespace(name=name),
        message=message,
        last_timestamp=stamp,
        event_time=None,
        first_timestamp=stamp,
    )


def test_scaling_messages_are_parsed() -> None:
    assert parse_scaling_message("Scaled down replica set web-6d4 from 4 to 3") == ("down", "web-6d4", 4, 3)
    assert parse_scaling_message("Created pod: web-6d4-x") is None


def test_steps_keep_only_this_deployment_in_time_order() -> None:
    events = [
        event("ScalingReplicaSet", "web", "Scaled down replica set web-old from 4 to 3", 5),
        event("ScalingReplicaSet", "web", "Scaled up replica set web-new from 0 to 1", 10),
        event("ScalingReplicaSet", "other", "Scaled up replica set other-1 from 0 to 1", 7),
        event("SuccessfulCreate", "web", "Created pod: web-new-abc", 6),
    ]
    steps = scaling_steps(events, "web")
    assert [(s.action, s.old, s.old_replicas, s.new, s.new_replicas) for s in steps] == [
        ("scale-up", "", 0, "web-new", 1),
        ("scale-down", "web-old", 3, "", 0),
    ]
    assert steps[0].t < steps[1].t
