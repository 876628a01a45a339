"""The start-up estimate and the router's hold timeout sized from it (scale to zero)."""

from __future__ import annotations

import pytest

from llmstack.capacity import startup, throughput
from llmstack.spec.resolving import resolve
from tests.conftest import make_stack


def test_hold_timeout_covers_the_cold_start_by_half_again() -> None:
    stack = make_stack(replicas={"min": 0, "max": 2})
    profile = throughput.profile(resolve(stack, stack.deployments[0]))
    cold_start = startup.startup_delay_s(profile)
    assert 100 < cold_start < 200  # 8B BF16 on one H100: pod start, 16 GB of weights, warm-up
    assert startup.hold_timeout_s(stack.deployments[0].replicas, profile) == pytest.approx(1.5 * cold_start, abs=0.5)


def test_hold_timeout_from_the_spec_wins() -> None:
    stack = make_stack(replicas={"min": 0, "max": 2, "hold_timeout": "90s"})
    profile = throughput.profile(resolve(stack, stack.deployments[0]))
    assert startup.hold_timeout_s(stack.deployments[0].replicas, profile) == 90.0
