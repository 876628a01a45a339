"""The policy's vertical and variant proposals are simulated: the fleet changes shape mid-trace."""

from __future__ import annotations

from llmstack.policy.autoscaler import policy_autoscaler
from llmstack.sim import traces
from llmstack.sim.fleet import FleetConfig, simulate
from llmstack.sim.scoring import score
from llmstack.spec.loading import load_spec
from llmstack.spec.models import StackSpec
from llmstack.spec.scaling import Shape
from tests.conftest import EXAMPLE_SPEC, ROOT

POLICY = str(ROOT / "policies" / "default.yaml")


def chat_only(high: int) -> StackSpec:
    """The example stack's chat deployment (AWQ on 1-GPU L4 nodes) capped at ``high`` replicas."""
    stack = load_spec(EXAMPLE_SPEC)
    d = stack.deployment("chat")
    d = d.model_copy(update={"replicas": d.replicas.model_copy(update={"max": high, "initial": 1})})
    return stack.model_copy(update={"deployments": [d]})


def test_pressure_at_max_replicas_moves_the_simulated_fleet_to_another_variant() -> None:
    stack = chat_only(2)
    trace = traces.load_trace("poisson:rate=3,duration=15m")  # about 4 AWQ replicas' worth, 2 allowed
    scaler = policy_autoscaler(POLICY, stack, "chat")
    result = simulate(stack, "chat", trace, scaler, FleetConfig(startup_delay_s=100))
    variant_moves = [m for m in result.moves if m.rule == "variant-pressure"]
    assert variant_moves, [(r.kind, r.rule) for r in scaler.log]
    move = variant_moves[0]
    assert move.from_shape == Shape("awq", "l4", 1) and move.to_shape.variant != "awq"
    assert move.to_shape.variant in {v.name for v in stack.model("llama-3-1-8b").variants if v.quality >= 0.8}
    assert "at max 2" in move.reason and move.t >= 300.0  # pressure held for variants.pressure_for (5 min)
    # new replicas of the new variant served the rest of the trace; the old ones drained
    late = [r for r in result.finished if r.arrival_s > (move.done_s or result.end_s)]
    assert late and all(result.replica_shapes[r.replica] == move.to_shape for r in late)
    assert len(result.finished) + result.dropped == len(trace.requests)
    # the policy decided on with the new shape in force, and the GPU-hours name both shapes
    after = [r for r in scaler.log if r.kind == "horizontal" and r.current.variant == move.to_shape.variant]
    assert after or scaler.setting.shape == move.to_shape
    scored = score(result)
    assert set(scored.gpu_hours_by_shape) == {"awq@l4 TP1", move.to_shape.label}
    assert scored.moves[0]["why"] == move.reason and scored.moves[0]["to"] == move.to_shape.label


def test_kv_saturation_moves_the_simulated_fleet_to_a_larger_shape() -> None:
    stack = chat_only(2)
    trace = traces.load_trace("poisson:rate=1,duration=5m,prompt=6000,output=1500")  # long requests fill the KV
    scaler = policy_autoscaler(POLICY, stack, "chat")
    result = simulate(stack, "chat", trace, scaler, FleetConfig(startup_delay_s=100))
    move = result.moves[0]
    assert move.rule == "kv-saturation" and move.from_shape == Shape("awq", "l4", 1)
    # a shape with more KV per replica, inside one node: TP 2 is not offered on 1-GPU L4 nodes
    assert move.to_shape.pool == "h100" and move.to_shape.variant == "awq"
    assert result.shapes[move.to_shape].profile.kv_cache_tokens >= 1.5 * result.profile.kv_cache_tokens
    assert result.gpu_hours_by_shape[move.to_shape] > 0
