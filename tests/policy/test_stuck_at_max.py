"""The stuck-at-maximum defect: after a burst drove the fleet to a maximum above 10 replicas, it never
scaled in again, because the 10 % tolerance band was judged after the one-replica step limit
(16 -> 15 is 6 % of 16, inside the band, every cycle). Fixed by judging the tolerance on the rules'
own proposal, as HPA does, before stabilization and the step limit."""

from __future__ import annotations

import pytest

from llmstack.policy.autoscaler import policy_autoscaler
from llmstack.policy.predicting import CapacityView
from llmstack.policy.recommendation import settings_of
from llmstack.spec.loading import load_spec
from llmstack.spec.models import StackSpec
from tests.conftest import ROOT

POLICY = str(ROOT / "policies" / "default.yaml")
BENCH_SPEC = ROOT / "benchmarks" / "specs" / "azure-conv.yaml"


def _with_max(stack: StackSpec, high: int) -> StackSpec:
    d = stack.deployment("chat")
    replicas = d.replicas.model_copy(update={"max": high})
    pools = [p.model_copy(update={"nodes": p.nodes.model_copy(update={"max": max(p.nodes.max, high)})})
             for p in stack.pools]
    return stack.model_copy(update={"deployments": [d.model_copy(update={"replicas": replicas})], "pools": pools})


def _quiet(rate: float, up: int) -> dict[str, float]:
    """After the burst: modest demand, no queue, TTFT far under the 1 s SLO; ``up`` replicas report."""
    return {"replicas_up": float(up), "request_rate": rate, "queue_length": 0.0, "running_requests": 4.0 * rate,
            "kv_cache_usage": 0.1, "kv_cache_usage_max": 0.15, "ttft_p95": 0.15, "tpot_p95": 0.02,
            "prompt_tokens_rate": rate * 1155, "generation_tokens_rate": rate * 211, "preemption_rate": 0.0}


@pytest.mark.parametrize("high", [12, 16, 32])
def test_fleet_leaves_its_maximum_after_a_burst(high: int) -> None:
    stack = _with_max(load_spec(BENCH_SPEC), high)
    scaler = policy_autoscaler(POLICY, stack, "chat")
    current, history = high, []
    for tick in range(1, 121):  # 30 minutes of 15 s cycles at 10 req/s (about 2 replicas' worth)
        current = scaler.desired_replicas(15.0 * tick, _quiet(10.0, current), current)
        history.append(current)
    first_in = next((i for i, n in enumerate(history, 1) if n < high), None)
    assert first_in is not None, f"stuck at the maximum {high} for 30 minutes: {history[-5:]}"
    base = stack.deployment("chat")
    window = scaler.policy.guards.scale_in_window(
        CapacityView(stack).startup_s(base, settings_of(stack)["chat"]))
    assert 15.0 * first_in <= window + 30.0  # the stabilization window plus two cycles, not never
    assert history[-1] <= 4, history  # ends near the demand, not near the maximum
