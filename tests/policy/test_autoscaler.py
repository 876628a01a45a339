"""The simulator adapter: the same evaluator answers ``desired_replicas`` with guards and state."""

from __future__ import annotations

from dataclasses import replace

from llmstack.experiments import scenarios
from llmstack.policy.autoscaler import PolicyAutoscaler, policy_autoscaler
from llmstack.sim.fleet import simulate
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


def _flash_crowd_run(startup_factor: float) -> tuple[PolicyAutoscaler, float, float]:
    """The policy on the matrix's l40s-8b-fp8 x flash-crowd cell, replicas starting ``startup_factor`` x the
    capacity model's start-up estimate; (the adapter, that estimate, the allowance)."""
    stack = load_spec(ROOT / "benchmarks" / "scenarios" / "stacks.yaml")
    case = next(c for c in scenarios.TRACES if c.name == "flash-crowd")
    trace = scenarios.scaled_trace(stack, "l40s-8b-fp8", case, ROOT / "benchmarks" / "scenarios" / "data")
    config = scenarios.fleet_config(stack, "l40s-8b-fp8")
    config = replace(config, startup_delay_s=startup_factor * config.startup_delay_s)
    scaler = policy_autoscaler(POLICY, stack, "l40s-8b-fp8")
    simulate(stack, "l40s-8b-fp8", trace, scaler, config)
    estimate = scenarios.fleet_config(stack, "l40s-8b-fp8").startup_delay_s
    return scaler, estimate, scaler.policy.data.starting_allowance * estimate


def test_simulated_scale_out_reports_starting_replicas_and_keeps_acting() -> None:
    """The simulator feeds the real loop's inputs (reporting = engines up, expected = replicas asked for):
    during a scale-out the snapshots count the new replicas as starting and the policy is never refused."""
    scaler, _, _ = _flash_crowd_run(1.0)
    during = [s for s in scaler.snapshots if s.replicas_starting]
    assert during, "no snapshot saw a replica starting"
    assert all(s.replicas_reporting < s.replicas_expected and s.completeness == 1.0 for s in during)
    assert "starting" in during[0].coverage
    assert not [k for k in scaler.skips if "partial data" in k.reason]
    assert max(s.replicas_expected for s in scaler.snapshots) > min(s.replicas_expected for s in scaler.snapshots)


def test_simulated_replicas_silent_past_the_allowance_are_refused_as_partial_data() -> None:
    """Replicas that take 4x the start-up estimate are missing once 2x has passed: refused, as in the real loop."""
    scaler, _, allowance = _flash_crowd_run(4.0)
    partial = [k for k in scaler.skips if "partial data" in k.reason]
    assert partial, "a scale-out that never reported was acted on"
    refused_at = [s.timestamp for s in scaler.snapshots if s.replicas_reporting < s.replicas_due]
    first_out = min(s.timestamp for s in scaler.snapshots if s.replicas_expected > s.replicas_reporting)
    assert refused_at and min(refused_at) >= first_out + allowance - 15.0
