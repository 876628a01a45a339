"""Starting and stopping replicas: what an applied change asks for, and how long it may stay silent (or report)."""

from __future__ import annotations

from llmstack.policy import starting
from llmstack.policy.predicting import CapacityView
from llmstack.policy.recommendation import Recommendation, Setting, settings_of
from llmstack.policy.rules import load_policy
from llmstack.policy.state import ScalingState
from llmstack.spec.loading import load_spec
from llmstack.targets.docker import draining as docker_draining
from llmstack.targets.kubernetes import draining as k8s_draining
from tests.conftest import EXAMPLE_SPEC, ROOT

POLICY = load_policy(ROOT / "policies" / "default.yaml")


def _rec(kind: str, current: Setting, proposed: Setting) -> Recommendation:
    return Recommendation("chat", kind, current, proposed, "test", "slo", {}, "1m", 1.0, "test")  # type: ignore[arg-type]


def test_applied_changes_record_the_replicas_they_start_and_stop() -> None:
    two = settings_of(load_spec(EXAMPLE_SPEC))["chat"].with_(replicas=2)
    state = starting.record_applied(ScalingState(), [_rec("horizontal", two, two.with_(replicas=6))], 100.0)
    assert (state.started_since("chat", 100.0), state.stopped_since("chat", 100.0)) == (4, 0)
    assert state.last("chat", "out") == 100.0
    state = starting.record_applied(state, [_rec("horizontal", two.with_(replicas=6), two.with_(replicas=3))], 200.0)
    assert (state.started_since("chat", 200.0), state.stopped_since("chat", 200.0)) == (0, 3)
    moved = starting.record_applied(ScalingState(), [_rec("variant", two, two.with_(variant="fp8"))], 300.0)
    assert (moved.started_since("chat", 0.0), moved.stopped_since("chat", 0.0)) == (2, 2)  # a new fleet, the old drains


def test_replicas_count_as_starting_for_twice_the_start_up_estimate() -> None:
    stack = load_spec(EXAMPLE_SPEC)
    settings = settings_of(stack)
    startup = CapacityView(stack).startup_s(stack.deployment("chat"), settings["chat"])
    state = ScalingState().with_started("chat", 4, 1000.0)
    within = starting.asked_recently(state, stack, POLICY, settings, 1000.0 + 2 * startup)
    past = starting.asked_recently(state, stack, POLICY, settings, 1000.0 + 2 * startup + 1)
    assert within == {"chat": 4, "reasoning": 0} and past == {"chat": 0, "reasoning": 0}
    assert POLICY.data.starting_allowance == 2.0


def test_the_stop_allowance_covers_every_targets_stop_deadline() -> None:
    """The policy cannot import the targets: its deregistration bound must cover theirs."""
    for path in (EXAMPLE_SPEC, ROOT / "examples" / "docker-stack.yaml"):
        stack = load_spec(path)
        for d in stack.deployments:
            k8s = k8s_draining.drain_plan(stack, d.name).grace_period_s
            assert starting.stop_allowance_s(stack, d.name) >= k8s
            longest = max(k8s_draining.deregister_s(stack, d.name), docker_draining.DEREGISTER_S)
            assert longest <= starting.DEREGISTER_BOUND_S
    state = ScalingState().with_stopped("chat", 1, 0.0)
    stack = load_spec(EXAMPLE_SPEC)
    deadline = starting.stop_allowance_s(stack, "chat")
    assert starting.stopping_recently(state, stack, deadline)["chat"] == 1
    assert starting.stopping_recently(state, stack, deadline + 1)["chat"] == 0
