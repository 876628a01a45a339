"""The simulator adapter: the same evaluator answers ``desired_replicas`` with guards and state."""

from __future__ import annotations

from llmstack.policy.autoscaler import policy_autoscaler
from llmstack.spec.loading import load_spec
from tests.conftest import EXAMPLE_SPEC, ROOT

POLICY = str(ROOT / "policies" / "default.yaml")


def signals(rate: float, queue: float, ttft: float, up: int = 2) -> dict[str, float]:
    """A tick's snapshot as the fleet sends it: ``up`` engines answer scrapes."""
    return {"replicas_up": float(up), "request_rate": rate, "queue_length": queue, "running_requests": 8.0,
            "kv_cache_usage": 0.4, "kv_cache_usage_max": 0.5, "ttft_p95": ttft, "prompt_tokens_rate": rate * 1000,
            "generation_tokens_rate": rate * 250, "preemption_rate": 0.0}


def test_adapter_scales_out_under_burst_and_in_only_after_window() -> None:
    stack = load_spec(EXAMPLE_SPEC)
    scaler = policy_autoscaler(POLICY, stack, "chat")
    assert scaler.name.startswith("policy:")
    assert scaler.desired_replicas(0.0, signals(6.0, 40, 2.5), 2) > 2
    answers = [scaler.desired_replicas(15.0 * i, signals(0.2, 0, 0.2, up=6), 6) for i in range(1, 30)]
    first_in = next(i for i, n in enumerate(answers, 1) if n < 6)
    assert 15.0 * first_in >= 120.0  # the shipped scale-in stabilization window
    assert min(answers) >= 1


def test_adapter_accepts_deployment_spec_and_nan_idle_quantiles() -> None:
    stack = load_spec(EXAMPLE_SPEC)
    scaler = policy_autoscaler(POLICY, stack, stack.deployment("chat"))
    idle = signals(0.0, 0, float("nan"))
    assert scaler.desired_replicas(0.0, idle, 2) == 2


def test_the_simulators_snapshot_is_judged_like_a_prometheus_cycle() -> None:
    """A required signal missing, or a value no fleet reports, refuses the cycle in simulation as it
    does from Prometheus (metrics.reading.snapshot_of): no change, and the skip says why."""
    stack = load_spec(EXAMPLE_SPEC)
    burst = signals(6.0, 40, 2.5)
    missing = {k: v for k, v in burst.items() if k != "kv_cache_usage"}
    scaler = policy_autoscaler(POLICY, stack, "chat")
    assert scaler.desired_replicas(0.0, missing, 2) == 2
    negative = {**burst, "queue_length": -3.0}
    assert policy_autoscaler(POLICY, stack, "chat").desired_replicas(0.0, negative, 2) == 2
    assert policy_autoscaler(POLICY, stack, "chat").desired_replicas(0.0, burst, 2) > 2
