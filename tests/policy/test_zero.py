"""Scale to zero and wake from zero: the idle-to-zero and wake-from-zero rules of a ``replicas.min: 0`` deployment.

Design note: a deployment at 0 replicas exports no engine series, so its snapshot holds only
``replicas_up`` and the router's signals (HAProxy's backend queue and request rate); that is what
these snapshots carry. Idle time counts from the first idle cycle plus the 1-minute rate window.
"""

from __future__ import annotations

import pytest

from llmstack.metrics.reading import SignalSnapshot
from llmstack.policy import deciding
from llmstack.policy.autoscaler import PolicyAutoscaler
from llmstack.policy.recommendation import Recommendation, settings_of
from llmstack.policy.rules import Policy, load_policy
from llmstack.policy.state import ScalingState, change_kinds
from llmstack.spec.models import StackSpec
from tests.conftest import ROOT, make_stack

DEFAULT = ROOT / "policies" / "default.yaml"
IDLE = {"request_rate": 0.0, "queue_length": 0.0, "running_requests": 0.0, "kv_cache_usage": 0.0,
        "kv_cache_usage_max": 0.0, "router_queue_length": 0.0, "router_request_rate": 0.0}


@pytest.fixture
def policy() -> Policy:
    return load_policy(DEFAULT)


def zero_stack(**replicas: object) -> StackSpec:
    return make_stack(replicas={"min": 0, "max": 4, "idle_window": "5m", **replicas})


def cycle(stack: StackSpec, policy: Policy, state: ScalingState, now: float, replicas: int,
          values: dict[str, float]) -> tuple[list[Recommendation], ScalingState, list[str]]:
    current = {"chat": settings_of(stack)["chat"].with_(replicas=replicas)}
    snap = SignalSnapshot("chat", now, "1m", values, replicas, replicas)
    evaluation = deciding.evaluate({"chat": snap}, state, policy, stack, now, current)
    return evaluation.recommendations, evaluation.state, [s.reason for s in evaluation.skips]


def test_idle_deployment_scales_to_zero_after_idle_window_with_reason(policy: Policy) -> None:
    stack = zero_stack()
    state = ScalingState()
    first_zero = None
    for now in range(600, 1200, 15):
        recs, state, _ = cycle(stack, policy, state, float(now), 1, IDLE)
        if recs:
            first_zero = now
            break
    assert first_zero == 600 + 240  # 4 idle minutes of cycles + the 1-minute rate window = the 5-minute window
    (rec,) = recs
    assert rec.proposed.replicas == 0 and rec.rule == "idle-to-zero" and rec.priority == "cost"
    assert rec.reason.startswith("idle 300 s >= idle_window 300 s: 1 -> 0")
    assert rec.signals["router_request_rate"] == 0.0


def test_idle_deployment_stays_up_without_a_router_signal_to_wake_it(policy: Policy) -> None:
    stack = zero_stack()
    state = ScalingState()
    engine_only = {k: v for k, v in IDLE.items() if not k.startswith("router_")}
    skips: list[str] = []
    for now in range(600, 1200, 15):
        recs, state, skips = cycle(stack, policy, state, float(now), 1, engine_only)
        assert not recs
    assert any("no router signal" in s and "staying at 1" in s for s in skips)


def test_idle_clock_restarts_on_an_arrival(policy: Policy) -> None:
    stack = zero_stack()
    state = ScalingState()
    for now in range(600, 800, 15):
        recs, state, _ = cycle(stack, policy, state, float(now), 1, IDLE)
        assert not recs
    _, state, _ = cycle(stack, policy, state, 800.0, 1, IDLE | {"router_request_rate": 0.02})
    for now in range(815, 1000, 15):
        recs, state, _ = cycle(stack, policy, state, float(now), 1, IDLE)
        assert not recs, now


def test_other_rules_never_take_a_min_zero_deployment_below_one(policy: Policy) -> None:
    stack = zero_stack()
    state = ScalingState()
    quiet = IDLE | {"request_rate": 0.001, "router_request_rate": 0.001}  # a trickle: not idle
    for now in range(600, 2400, 15):
        recs, state, _ = cycle(stack, policy, state, float(now), 2, quiet)
        assert all(r.proposed.replicas >= 1 for r in recs)
        for r in recs:
            state = state.with_actions([("chat", change_kinds(r.kind, 2, r.proposed.replicas))], float(now))


def test_min_one_deployment_never_idles_to_zero(policy: Policy) -> None:
    stack = make_stack(replicas={"min": 1, "max": 4})
    state = ScalingState()
    for now in range(600, 2400, 15):
        recs, state, _ = cycle(stack, policy, state, float(now), 1, IDLE)
        assert not recs


def test_held_requests_wake_a_deployment_at_zero_with_reason(policy: Policy) -> None:
    recs, _, _ = cycle(zero_stack(), policy, ScalingState(), 1000.0, 0,
                       {"replicas_up": 0.0, "router_queue_length": 3.0, "router_request_rate": 0.05})
    (rec,) = recs
    assert rec.rule == "wake-from-zero" and rec.priority == "slo" and rec.proposed.replicas == 1
    assert rec.reason.startswith("3 request(s) held at the router, 0.05 req/s arriving, 0 ready: 0 -> 1")


def test_wake_sized_by_the_arrival_rate(policy: Policy) -> None:
    recs, _, _ = cycle(zero_stack(), policy, ScalingState(), 1000.0, 0,
                       {"replicas_up": 0.0, "router_queue_length": 40.0, "router_request_rate": 30.0})
    (rec,) = recs
    assert 2 <= rec.proposed.replicas <= 4
    assert "req/s per replica" in rec.reason


def test_wake_not_held_by_cooldown_right_after_scaling_to_zero(policy: Policy) -> None:
    state = ScalingState().with_actions([("chat", "in")], 990.0)
    recs, _, _ = cycle(zero_stack(), policy, state, 1000.0, 0, {"router_queue_length": 1.0})
    assert [r.proposed.replicas for r in recs] == [1]


def test_deployment_at_zero_stays_there_while_nothing_arrives(policy: Policy) -> None:
    recs, _, skips = cycle(zero_stack(), policy, ScalingState(), 1000.0, 0,
                           {"replicas_up": 0.0, "router_queue_length": 0.0, "router_request_rate": 0.0})
    assert not recs and any("nothing held or arriving" in s for s in skips)


def test_deployment_at_zero_without_router_signal_is_refused_not_guessed(policy: Policy) -> None:
    recs, _, skips = cycle(zero_stack(), policy, ScalingState(), 1000.0, 0, {"replicas_up": 0.0})
    assert not recs and any("no router signal" in s for s in skips)


BACKLOG = {"request_rate": 6.0, "queue_length": 40.0, "running_requests": 64.0, "kv_cache_usage": 0.5,
           "kv_cache_usage_max": 0.5, "ttft_p95": 9.9, "prompt_tokens_rate": 6000.0, "generation_tokens_rate": 1500.0,
           "router_queue_length": 0.0, "router_request_rate": 1.0}
"""The first replica right after a wake: the held backlog queued in its engine, arrivals 1 req/s."""


def test_backlog_after_a_wake_is_not_read_as_demand(policy: Policy) -> None:
    stack = zero_stack()
    _, state, _ = cycle(stack, policy, ScalingState(), 1000.0, 0, {"router_queue_length": 60.0,
                                                                   "router_request_rate": 1.0})
    recs, _, skips = cycle(stack, policy, state, 1135.0, 1, BACKLOG)
    assert not recs
    assert any(s.startswith("settling 135 s after a wake from zero") and s.endswith("holding 1") for s in skips)
    later, _, _ = cycle(stack, policy, ScalingState(), 1135.0, 1, BACKLOG)  # the same reading with no wake before
    assert later and later[0].proposed.replicas > 1


def test_arrivals_after_a_wake_still_scale_out(policy: Policy) -> None:
    stack = zero_stack()
    _, state, _ = cycle(stack, policy, ScalingState(), 1000.0, 0, {"router_queue_length": 60.0,
                                                                   "router_request_rate": 1.0})
    recs, _, _ = cycle(stack, policy, state, 1135.0, 1, BACKLOG | {"router_request_rate": 40.0})
    (rec,) = recs
    assert rec.rule == "wake-settling" and rec.proposed.replicas > 1
    assert "40.00 req/s arriving" in rec.reason


def test_policy_autoscaler_wakes_from_router_queue_in_the_sim_snapshot(policy: Policy) -> None:
    scaler = PolicyAutoscaler(policy, zero_stack(), "chat")
    assert scaler.desired_replicas(15.0, {"replicas_up": 0.0, "router_queue_length": 2.0,
                                          "router_request_rate": 2 / 60}, 0) == 1
    assert scaler.log[-1].rule == "wake-from-zero"



def _with_budget(policy: Policy, per_hour: float) -> Policy:
    return policy.model_copy(update={"guards": policy.guards.model_copy(update={"budget_per_hour": per_hour})})


HELD_BURST = {"replicas_up": 0.0, "router_queue_length": 80.0, "router_request_rate": 60.0}


def test_a_wake_keeps_to_the_stack_budget(policy: Policy) -> None:
    """A wake is not held by a cooldown, but it is by the budget: shrunk to what fits, held when not one does."""
    one_replica = zero_stack().pools[0].cost_per_gpu_hour
    (unbounded,) = cycle(zero_stack(), policy, ScalingState(), 1000.0, 0, HELD_BURST)[0]
    assert unbounded.proposed.replicas >= 3
    (shrunk,), _, _ = cycle(zero_stack(), _with_budget(policy, 2 * one_replica), ScalingState(), 1000.0, 0,
                            HELD_BURST)
    assert shrunk.rule == "wake-from-zero" and shrunk.proposed.replicas == 2
    assert "stack budget $5.00/h allows only +2 replica(s)" in shrunk.reason
    recs, _, skips = cycle(zero_stack(), _with_budget(policy, 0.5 * one_replica), ScalingState(), 1000.0, 0,
                           HELD_BURST)
    assert recs == [] and any("over the $1.25/h budget" in reason for reason in skips)


def test_a_woken_deployment_counts_toward_the_budget_the_next_one_sees(policy: Policy) -> None:
    """Two deployments on 2.5 $/h GPUs under a 10 $/h budget: ``chat`` wakes to 2 (5 $/h), so ``code``,
    at 2 (5 $/h) and bursting, may not grow in the same cycle (before, it saw 5 $/h spent and grew)."""
    raw = zero_stack().model_dump(exclude_none=True)
    code = {**raw["deployments"][0], "name": "code", "replicas": {"min": 1, "max": 8}}
    stack = StackSpec.model_validate({**raw, "deployments": [*raw["deployments"], code]})
    current = settings_of(stack) | {"chat": settings_of(stack)["chat"].with_(replicas=0),
                                    "code": settings_of(stack)["code"].with_(replicas=2)}
    busy = {"request_rate": 40.0, "queue_length": 60.0, "running_requests": 200.0, "kv_cache_usage": 0.5,
            "kv_cache_usage_max": 0.6, "ttft_p95": 5.0, "prompt_tokens_rate": 40000.0,
            "generation_tokens_rate": 8000.0, "replicas_up": 2.0}
    snaps = {"chat": SignalSnapshot("chat", 1000.0, "1m", {**HELD_BURST, "router_request_rate": 30.0}, 0, 0),
             "code": SignalSnapshot("code", 1000.0, "1m", busy, 2, 2)}
    evaluation = deciding.evaluate(snaps, ScalingState(), _with_budget(policy, 10.0), stack, 1000.0, current)
    woken = [r for r in evaluation.recommendations if r.deployment == "chat"]
    assert [r.proposed.replicas for r in woken] == [2]
    assert not [r for r in evaluation.recommendations if r.deployment == "code"]
    assert any(s.deployment == "code" and "over the $10.00/h budget" in s.reason for s in evaluation.skips)
