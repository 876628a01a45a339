"""Baseline autoscalers: HPA tolerance and stabilization, KEDA threshold and cooldown, saturation, oracle, registry."""

from __future__ import annotations

import pytest

from llmstack.errors import LlmstackError
from llmstack.experiments import replay
from llmstack.experiments.registry import resolve_autoscaler
from llmstack.sim import traces
from llmstack.sim.baselines import Hpa, Keda, Saturation, Static
from llmstack.sim.fleet import FleetConfig
from llmstack.sim.oracle import CONSTANT_RUNS, Oracle, _smallest_constant, _Trial
from llmstack.sim.protocol import Autoscaler
from llmstack.spec.models import StackSpec


def test_hpa_holds_within_tolerance_and_scales_up_at_once() -> None:
    hpa = Hpa(target=0.5)
    assert hpa.desired_replicas(0, {"gpu_utilization": 0.54}, 4) == 4
    assert hpa.desired_replicas(15, {"gpu_utilization": 1.0}, 4) == 8


def test_hpa_scale_down_waits_for_stabilization_window() -> None:
    hpa = Hpa(target=0.5)
    assert hpa.desired_replicas(0, {"gpu_utilization": 0.5}, 4) == 4
    assert hpa.desired_replicas(100, {"gpu_utilization": 0.1}, 4) == 4
    assert hpa.desired_replicas(301, {"gpu_utilization": 0.1}, 4) == 1


def test_hpa_keeps_replicas_without_metric() -> None:
    assert Hpa().desired_replicas(0, {"replicas_up": 3}, 3) == 3


def test_keda_targets_five_waiting_per_replica_with_360s_cooldown() -> None:
    keda = Keda()
    assert keda.desired_replicas(0, {"queue_length": 20}, 2) == 4
    assert keda.desired_replicas(15, {"queue_length": 0}, 4) == 4
    assert keda.desired_replicas(370, {"queue_length": 0}, 4) == 0


def test_saturation_adds_one_when_spare_capacity_low_and_removes_only_if_load_fits() -> None:
    sat = Saturation()
    assert sat.desired_replicas(0, {"replicas_up": 2, "kv_cache_usage": 0.75, "queue_length": 0}, 2) == 3
    assert sat.desired_replicas(0, {"replicas_up": 2, "kv_cache_usage": 0.2, "queue_length": 8}, 2) == 3
    assert sat.desired_replicas(0, {"replicas_up": 3, "kv_cache_usage": 0.3, "queue_length": 0}, 3) == 2
    assert sat.desired_replicas(0, {"replicas_up": 3, "kv_cache_usage": 0.6, "queue_length": 0}, 3) == 3
    assert sat.desired_replicas(0, {"replicas_up": 2, "kv_cache_usage": 0.75, "queue_length": 0}, 3) == 3


def test_oracle_follows_future_load(example_stack: StackSpec) -> None:
    trace = traces.bursts(1.0, 1200, burst=6, every_s=600, length_s=120, start_s=600, seed=2,
                          prompt_tokens=500, output_tokens=100)
    oracle = resolve_autoscaler("oracle", example_stack, "chat", trace=trace,
                                config=FleetConfig(startup_delay_s=60))
    assert isinstance(oracle, Oracle)
    quiet = oracle.desired_replicas(100, {}, 1)
    ahead = oracle.desired_replicas(600 - 60, {}, 1)  # a replica requested now is ready at the burst
    assert ahead > quiet >= 1


@pytest.mark.parametrize(("name", "kind"), [("static:3", Static), ("hpa:0.6", Hpa), ("keda", Keda),
                                            ("saturation", Saturation)])
def test_registry_resolves_baselines(example_stack: StackSpec, name: str, kind: type) -> None:
    scaler = resolve_autoscaler(name, example_stack, "chat")
    assert isinstance(scaler, kind)
    assert isinstance(scaler, Autoscaler)


def test_registry_static_defaults_to_deployment_start(example_stack: StackSpec) -> None:
    scaler = resolve_autoscaler("static", example_stack, "chat")
    assert scaler.desired_replicas(0, {}, 5) == 2


def test_registry_rejects_unknown_and_malformed_names(example_stack: StackSpec) -> None:
    with pytest.raises(LlmstackError, match="unknown autoscaler"):
        resolve_autoscaler("magic", example_stack, "chat")
    with pytest.raises(LlmstackError, match="bad argument"):
        resolve_autoscaler("static:x", example_stack, "chat")
    with pytest.raises(LlmstackError, match="trace"):
        resolve_autoscaler("oracle", example_stack, "chat")


def test_oracle_meets_slo_on_bursts_where_static_at_its_mean_does_worse_or_costs_more(
        example_stack: StackSpec) -> None:
    trace = traces.bursts(1.0, 1500, burst=6, every_s=600, length_s=120, start_s=300, seed=3,
                          prompt_tokens=500, output_tokens=100)
    config = FleetConfig(startup_delay_s=60)
    oracle_run, = replay.replay(example_stack, "chat", trace, ["oracle"], config=config)
    mean = round(oracle_run.score.mean_replicas)
    static_run, = replay.replay(example_stack, "chat", trace, [f"static:{mean}"], config=config)
    assert oracle_run.score.slo_attainment >= 0.99
    assert (static_run.score.slo_attainment < oracle_run.score.slo_attainment
            or static_run.score.gpu_hours > oracle_run.score.gpu_hours)


def test_oracle_gpu_hours_at_most_smallest_static_fleet_meeting_target(example_stack: StackSpec) -> None:
    trace = traces.poisson(3.3, 900, prompt_tokens=500, output_tokens=100, seed=1)  # every request attainable
    config = FleetConfig(startup_delay_s=60)
    oracle_run, = replay.replay(example_stack, "chat", trace, ["oracle"], config=config)
    for k in range(1, example_stack.deployment("chat").replicas.max + 1):
        static_run, = replay.replay(example_stack, "chat", trace, [f"static:{k}"], config=config)
        if static_run.score.slo_attainment >= 0.99:
            break
    assert static_run.score.slo_attainment >= 0.99
    assert oracle_run.score.slo_attainment >= 0.99
    assert oracle_run.score.gpu_hours <= static_run.score.gpu_hours + 1e-9


@pytest.mark.parametrize(("hint", "smallest"), [(5, 4), (4, 4), (2, 4), (9, 7), (12, None)])
def test_smallest_constant_finds_threshold_from_hint(hint: int, smallest: int | None) -> None:
    tried: list[int] = []

    def fake(schedule: list[int]) -> tuple[_Trial, list[int]]:
        tried.append(schedule[0])
        met = smallest is not None and schedule[0] >= smallest
        return _Trial(schedule, met, 1.0 if met else 0.5, float(schedule[0])), []

    assert _smallest_constant(fake, hint, 1, 10, 3) == smallest
    assert len(tried) <= CONSTANT_RUNS
