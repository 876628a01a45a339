"""Assessment: bottleneck classification, idle capacity, levers priced by the capacity model."""

from __future__ import annotations

import math
from dataclasses import replace

from llmstack.assess import analysis
from llmstack.spec.models import StackSpec

CALM = analysis.Observation(
    deployment="chat", replicas=2, request_rate=0.5, prompt_tokens_per_request=1024, output_tokens_per_request=256,
    queue_length=0, kv_cache_usage=0.2, preemption_rate=0, ttft_p95_s=0.3, tpot_p95_s=0.03, gpu_utilization=0.2,
    ttft_attainment=0.999, tpot_attainment=1.0,
)


def _one(stack: StackSpec, obs: analysis.Observation) -> analysis.Assessment:
    (result,) = analysis.assess(stack, [obs])
    return result


def test_calm_deployment_has_no_bottleneck_and_idle_gpus(example_stack: StackSpec) -> None:
    a = _one(example_stack, CALM)
    assert a.bottleneck == "none"
    assert a.replicas_needed == 1
    assert a.idle_gpus == 1 and a.idle_cost_per_hour == 0.45
    assert a.slo_attainment == 0.999


def test_preemptions_mean_kv_cache_bottleneck(example_stack: StackSpec) -> None:
    a = _one(example_stack, replace(CALM, preemption_rate=0.5, kv_cache_usage=0.97))
    assert a.bottleneck == "kv_cache"
    assert "97%" in a.evidence[0]


def test_queue_per_replica_means_queueing(example_stack: StackSpec) -> None:
    a = _one(example_stack, replace(CALM, queue_length=12, request_rate=4.0, ttft_p95_s=3.0))
    assert a.bottleneck == "queueing"
    assert "6.0 requests waiting per replica" in a.evidence[0]
    assert a.replicas_needed is not None and a.replicas_needed > 2


def test_slow_tokens_without_queue_mean_decode_bandwidth(example_stack: StackSpec) -> None:
    a = _one(example_stack, replace(CALM, tpot_p95_s=0.09))
    assert a.bottleneck == "decode_bandwidth"


def test_levers_are_priced_and_respect_quality_floor(example_stack: StackSpec) -> None:
    a = _one(example_stack, replace(CALM, request_rate=6.0))
    names = [lv.name for lv in a.levers]
    assert "replicas" in names
    # chat's quality floor is 0.8: the distilled 'small' variant (0.85) is allowed, nothing lower exists
    assert all(lv.cost_per_hour is None or lv.cost_per_hour > 0 for lv in a.levers)
    priced = [lv.cost_per_hour for lv in a.levers if lv.cost_per_hour is not None]
    assert priced == sorted(priced)
    replicas = next(lv for lv in a.levers if lv.name == "replicas")
    assert replicas.replicas_needed is not None and replicas.replicas_needed >= 3


def test_missing_observations_fall_back_to_spec_workload(example_stack: StackSpec) -> None:
    nan = math.nan
    a = _one(example_stack, replace(CALM, request_rate=nan, prompt_tokens_per_request=nan, queue_length=nan,
                                    ttft_attainment=nan, tpot_attainment=nan))
    assert a.replicas_needed is not None
    assert math.isnan(a.slo_attainment)
