"""The lower bound: no simulated schedule that reaches an attainment uses fewer GPU-hours."""

from __future__ import annotations

import random

import pytest

from llmstack.capacity import throughput
from llmstack.sim import scoring
from llmstack.sim.baselines import Static
from llmstack.sim.bound import lower_bound, token_floor_s
from llmstack.sim.fleet import FleetConfig, simulate
from llmstack.sim.oracle import Oracle
from llmstack.sim.traces import bursts
from llmstack.spec.loading import load_spec
from llmstack.spec.resolving import resolve
from tests.conftest import ROOT

SPEC = ROOT / "benchmarks" / "specs" / "azure-conv.yaml"


def test_no_engine_step_beats_the_token_floor() -> None:
    stack = load_spec(SPEC)
    p = throughput.profile(resolve(stack, stack.deployment("chat")))
    floor = token_floor_s(p)
    rng = random.Random(0)
    for _ in range(2000):
        n = rng.randint(0, p.max_num_seqs)
        k = rng.randint(0 if n else 1, max(1, p.max_num_batched_tokens - n))
        step = throughput.step_time(p, k, rng.randint(0, 8000), n, n * rng.randint(0, 8000),
                                    prefill_seqs=rng.randint(1, max(1, min(k, 64))))
        assert step >= floor * (k + n) * (1 - 1e-9)


def test_every_schedule_reaching_the_attainment_costs_at_least_the_bound() -> None:
    stack = load_spec(SPEC)
    d = stack.deployment("chat")
    trace = bursts(4.0, 600.0, burst=4.0, every_s=300.0, length_s=60.0, prompt_tokens=1200, output_tokens=200,
                   sigma=0.5, seed=3)
    config = FleetConfig(startup_delay_s=110.0)
    rng = random.Random(1)
    schedules = [[k] * 41 for k in (1, 2, 3, 4, 6)] + [[rng.randint(1, 6) for _ in range(41)] for _ in range(4)]
    reached = 0
    for schedule in schedules:
        scaler = Oracle(schedule, 15.0, 125.0, 1.0)
        result = simulate(stack, "chat", trace, scaler, config)
        s = scoring.score(result)
        bound = lower_bound(stack, d, trace, s.slo_attainment, startup_delay_s=110.0,
                            initial_replicas=scaler.initial_replicas())
        assert s.gpu_hours >= bound.gpu_hours, (schedule, s.gpu_hours, bound)
        reached += s.slo_attainment >= 0.99
    assert reached >= 2  # the comparison includes schedules that meet the target
    static = scoring.score(simulate(stack, "chat", trace, Static(6), config))
    assert static.gpu_hours > lower_bound(stack, d, trace, 0.99, startup_delay_s=110.0, initial_replicas=6).gpu_hours


@pytest.mark.parametrize("attainment", [0.5, 0.9, 0.99, 1.0])
def test_bound_grows_with_the_attainment_asked(attainment: float) -> None:
    stack = load_spec(SPEC)
    d = stack.deployment("chat")
    trace = bursts(4.0, 300.0, burst=4.0, every_s=150.0, length_s=30.0, seed=2)
    lower = lower_bound(stack, d, trace, attainment - 0.05, startup_delay_s=110.0, initial_replicas=1)
    upper = lower_bound(stack, d, trace, attainment, startup_delay_s=110.0, initial_replicas=1)
    assert 0 < lower.gpu_hours <= upper.gpu_hours
