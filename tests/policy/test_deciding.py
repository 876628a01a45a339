"""Deciding from snapshots built by hand: the rules, the conflict order and the guards.

Design note: time is an explicit ``now`` (seconds), and the state returned by one cycle is
passed to the next, the way the loop and the simulator adapter do it. "Applied" changes are
recorded with ``state.with_actions`` as the loop does after a successful apply.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from llmstack.metrics.reading import SignalSnapshot
from llmstack.policy import deciding
from llmstack.policy.recommendation import Setting
from llmstack.policy.rules import Policy, from_mapping, load_policy
from llmstack.policy.state import ScalingState, change_kinds
from llmstack.spec.loading import load_spec
from llmstack.spec.models import StackSpec
from tests.conftest import EXAMPLE_SPEC, ROOT

DEFAULT = ROOT / "policies" / "default.yaml"


def snap(name: str = "chat", replicas: int = 2, expected: int | None = None, **values: float) -> SignalSnapshot:
    base = {"request_rate": 1.0, "queue_length": 0.0, "running_requests": 4.0, "kv_cache_usage": 0.3,
            "kv_cache_usage_max": 0.3, "ttft_p95": 0.3, "prompt_tokens_rate": 1000.0,
            "generation_tokens_rate": 250.0, "preemption_rate": 0.0}
    base.update(values)
    return SignalSnapshot(name, 0.0, "1m", base, replicas, expected if expected is not None else replicas, 1.0)


@pytest.fixture
def stack() -> StackSpec:
    return load_spec(EXAMPLE_SPEC)


@pytest.fixture
def policy() -> Policy:
    return load_policy(DEFAULT)


def quiet() -> dict[str, SignalSnapshot]:
    return {"reasoning": snap("reasoning", 1, request_rate=0.2, prompt_tokens_rate=400, generation_tokens_rate=100)}


def test_scale_out_recommended_with_signals_when_load_bursts(stack: StackSpec, policy: Policy) -> None:
    snaps = quiet() | {"chat": snap(request_rate=6.0, queue_length=40, ttft_p95=2.4,
                                    prompt_tokens_rate=6000, generation_tokens_rate=1500)}
    recs = deciding.decide(snaps, ScalingState(), policy, stack, 1000.0)
    chat = [r for r in recs if r.deployment == "chat"]
    assert len(chat) == 1 and chat[0].kind == "horizontal"
    assert chat[0].proposed.replicas > chat[0].current.replicas == 2
    assert chat[0].signals and chat[0].window == "1m"
    assert chat[0].predicted is not None and "TTFT p95 2.40 s ->" in chat[0].predicted.text
    assert "+$" in chat[0].predicted.text
    assert chat[0].predicted.ttft_p95_s_after is not None and chat[0].predicted.ttft_p95_s_after < 2.4


def test_scale_in_only_after_stabilization_window(stack: StackSpec, policy: Policy) -> None:
    current = {"chat": Setting(6, "awq", "l4", 1)}
    state = ScalingState()
    idle = quiet() | {"chat": snap(replicas=6, request_rate=0.3, running_requests=1, prompt_tokens_rate=300,
                                   generation_tokens_rate=75, ttft_p95=0.2)}
    window = policy.guards.scale_in_stabilization
    # busy until t=0, then idle; the busy cycle wanted 6 replicas
    busy = quiet() | {"chat": snap(replicas=6, request_rate=5.0, queue_length=2, prompt_tokens_rate=5000,
                                   generation_tokens_rate=1250)}
    state = deciding.evaluate(busy, state, policy, stack, 0.0, current).state
    cycles = []  # (t, chat's recommendations, chat's skip reasons), every 15 s while idle
    for t in range(15, int(window) + 120, 15):
        ev = deciding.evaluate(idle, state, policy, stack, float(t), current)
        state = ev.state
        cycles.append((t, [r for r in ev.recommendations if r.deployment == "chat"],
                       [s.reason for s in ev.skips if s.deployment == "chat"]))
    acting = [(t, recs) for t, recs, _ in cycles if recs]
    assert acting, "never scaled in"
    first_t, first_recs = acting[0]
    assert first_t > window
    limits = policy.guards_for("chat")
    step = max(limits.max_step_down, math.floor(6 * limits.max_step_down_ratio))  # the step-down guard
    assert [r.proposed.replicas for r in first_recs] == [6 - step]
    held = [reasons for t, _, reasons in cycles if t < first_t]
    assert held and all(any("stabilization" in reason for reason in reasons) for reasons in held)


def test_vertical_proposal_fits_when_kv_saturated(stack: StackSpec, policy: Policy) -> None:
    current = {"chat": Setting(8, "awq", "l4", 1)}
    sat = quiet() | {"chat": snap(replicas=8, kv_cache_usage=0.97, kv_cache_usage_max=0.99, preemption_rate=2.0,
                                  request_rate=2.0, prompt_tokens_rate=2000, generation_tokens_rate=500)}
    state = ScalingState()
    proposals = []  # (t, vertical recommendations) every 15 s while saturated
    for t in range(0, 300, 15):
        ev = deciding.evaluate(sat, state, policy, stack, float(t), current)
        state = ev.state
        proposals.append((t, [r for r in ev.recommendations if r.kind == "vertical"]))
    first = [(t, found) for t, found in proposals if found]
    assert first, "no vertical proposal"
    first_t, vertical = first[0]
    assert first_t >= policy.vertical.for_
    rec = vertical[0]
    assert (rec.proposed.pool, rec.proposed.tensor_parallel) != ("l4", 1)
    from llmstack.policy.predicting import CapacityView

    view = CapacityView(stack)
    d = stack.deployment("chat")
    assert view.fits(d, rec.proposed)
    assert view.profile(d, rec.proposed).kv_cache_tokens >= 1.5 * view.profile(d, rec.current).kv_cache_tokens
    assert rec.priority == "safety" and "KV cache" in rec.reason


@pytest.mark.parametrize("problem", [
    pytest.param({"stale": True, "oldest_sample_age_s": 300.0}, id="stale"),
    pytest.param({"nan": ("ttft_p95",)}, id="nan"),
    pytest.param({"missing": ("queue_length",)}, id="missing"),
    pytest.param({"replicas_reporting": 1, "replicas_expected": 4}, id="partial"),
    pytest.param({"error": "Prometheus at http://x is unreachable"}, id="prometheus-down"),
])
def test_no_action_when_data_is_bad(stack: StackSpec, policy: Policy, problem: dict[str, Any]) -> None:
    from dataclasses import replace

    burst = snap(request_rate=6.0, queue_length=40, ttft_p95=2.4)
    if "missing" in problem:
        burst = replace(burst, values={k: v for k, v in burst.values.items() if k != "queue_length"})
    ev = deciding.evaluate(quiet() | {"chat": replace(burst, **problem)}, ScalingState(), policy, stack, 10.0)
    assert not [r for r in ev.recommendations if r.deployment == "chat"]
    refused = [s for s in ev.skips if s.deployment == "chat" and s.refused]
    assert len(refused) == 1 and refused[0].reason.startswith("no action:")


def test_flapping_signal_gives_bounded_number_of_actions(stack: StackSpec, policy: Policy) -> None:
    state = ScalingState()
    current = {"chat": Setting(2, "awq", "l4", 1)}
    actions = 0
    for i in range(240):  # one hour of 15 s cycles, load flipping every cycle
        high = i % 2 == 0
        s = snap(replicas=current["chat"].replicas, request_rate=6.0 if high else 0.5,
                 queue_length=30 if high else 0, ttft_p95=2.0 if high else 0.2,
                 prompt_tokens_rate=6000 if high else 500, generation_tokens_rate=1500 if high else 125)
        now = i * 15.0
        ev = deciding.evaluate(quiet() | {"chat": s}, state, policy, stack, now, current)
        state = ev.state
        for r in ev.recommendations:
            if r.deployment == "chat" and r.kind == "horizontal":
                actions += 1
                state = state.with_actions([("chat", change_kinds(r.kind, r.current.replicas,
                                                                  r.proposed.replicas))], now)
                current = {"chat": r.proposed}
    assert 1 <= actions <= 4


def test_variant_switch_never_below_quality_floor(stack: StackSpec) -> None:
    policy = from_mapping({"variants": {"pressure_for": 0}, "guards": {"scale_out_cooldown": 0}})
    current = {"chat": Setting(8, "awq", "l4", 1)}
    heavy = quiet() | {"chat": snap(replicas=8, request_rate=30.0, queue_length=100, ttft_p95=3.0,
                                    prompt_tokens_rate=30000, generation_tokens_rate=7500)}
    ev = deciding.evaluate(heavy, ScalingState(), policy, stack, 0.0, current)
    ev = deciding.evaluate(heavy, ev.state, policy, stack, 15.0, current)
    variants = [r for r in ev.recommendations if r.kind == "variant"]
    assert variants, [s.reason for s in ev.skips]
    chosen = stack.model("llama-3-1-8b").variant(variants[0].proposed.variant)
    assert stack.deployment("chat").quality_floor <= chosen.quality < 0.999
    # raise the floor above the variant chosen: it may no longer be proposed, nor any other below the floor
    floor_high = stack.model_copy(update={"deployments": [
        stack.deployment("chat").model_copy(update={"quality_floor": 0.999}), stack.deployment("reasoning")]})
    ev2 = deciding.evaluate(heavy, deciding.evaluate(heavy, ScalingState(), policy, floor_high, 0.0, current).state,
                            policy, floor_high, 15.0, current)
    qualities = [floor_high.model("llama-3-1-8b").variant(r.proposed.variant).quality
                 for r in ev2.recommendations if r.kind == "variant"]
    assert all(q >= 0.999 for q in qualities), qualities


def test_scale_out_held_during_cooldown(stack: StackSpec, policy: Policy) -> None:
    burst = quiet() | {"chat": snap(request_rate=6.0, queue_length=40, ttft_p95=2.4,
                                    prompt_tokens_rate=6000, generation_tokens_rate=1500)}
    state = ScalingState().with_actions([("chat", "out")], 100.0)
    ev = deciding.evaluate(burst, state, policy, stack, 110.0)
    assert not [r for r in ev.recommendations if r.deployment == "chat"]
    assert any("cooldown" in s.reason for s in ev.skips if s.deployment == "chat")


def test_budget_caps_scale_out(stack: StackSpec) -> None:
    policy = from_mapping({"guards": {"budget_per_hour": 11.85}})
    burst = quiet() | {"chat": snap(request_rate=6.0, queue_length=40, ttft_p95=2.4,
                                    prompt_tokens_rate=6000, generation_tokens_rate=1500)}
    recs = deciding.decide(burst, ScalingState(), policy, stack, 0.0)
    chat = next(r for r in recs if r.deployment == "chat")
    # reasoning costs 4 x 2.50 = 10/h and chat 2 x 0.45 = 0.90: room for 2 more L4 replicas at 0.45
    assert chat.proposed.replicas == 4


def test_a_deployments_own_budget_caps_its_cost_not_the_stacks(stack: StackSpec) -> None:
    """``deployments.chat.budget_per_hour`` 1.80: chat (2 x 0.45 $/h L4 replicas) may grow to 4, while the
    stack (reasoning alone 10 $/h) has no budget."""
    policy = from_mapping({"deployments": {"chat": {"budget_per_hour": 1.80}}})
    burst = quiet() | {"chat": snap(request_rate=6.0, queue_length=40, ttft_p95=2.4,
                                    prompt_tokens_rate=6000, generation_tokens_rate=1500)}
    recs = deciding.decide(burst, ScalingState(), policy, stack, 0.0)
    chat = next(r for r in recs if r.deployment == "chat")
    assert chat.proposed.replicas == 4
    assert "deployment chat budget $1.80/h allows only +2 replica(s)" in chat.reason
    unbounded = deciding.decide(burst, ScalingState(), from_mapping({}), stack, 0.0)
    assert next(r for r in unbounded if r.deployment == "chat").proposed.replicas > 4
