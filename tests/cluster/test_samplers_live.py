"""The samplers on the real data path, with nothing changing: the evidence they give is whole.

A record with a hole in a steady state would make every rollout verdict rest on
missing data; this is where such a hole shows first, with its timeline.
"""

from __future__ import annotations

from harness.assertions import assert_verdicts
from harness.manifests import deployment

NAME = "steady-demo"


def test_a_steady_service_is_sampled_without_a_hole(deployments, probed_service, app_images, record, timeouts):
    """Both samplers MUST record 10 s of a steady Service (4 ready pods, nothing changing) with no
    gap between request starts above the bound, no failed request and nothing lost."""
    old = app_images["old"]
    deployments.apply(deployment(NAME, old.image, "v0.1"))
    deployments.wait_rollout_complete(NAME, timeouts.rollout)
    probed = probed_service(NAME, {"app": NAME})
    probed.hold("steady", (old.server,), 10.0)
    analyses = probed.finish()
    for a in analyses:
        record.measure(f"steady-{a.label.replace(' ', '-')}-max-gap-ms", f"{a.coverage.max_gap * 1000:.1f}")
    assert_verdicts(analyses)
