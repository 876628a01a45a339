"""What a running stack is doing, and which lever would help most (pure).

Input: per-deployment observations over a window (from Prometheus, see
:mod:`llmstack.assess.observing`). Output: SLO attainment, utilization, the bottleneck
with its evidence, idle capacity and its cost, and the levers (more replicas, bigger
GPU, more tensor parallelism, quantized or distilled variant, batching limits, prefix
caching) ranked by what the capacity model predicts they cost and deliver.

Bottleneck rules (first match wins, most severe first):
1. KV cache: preemptions > 0 or KV-cache usage >= 90 % -> sequences are evicted and recomputed.
2. queueing: >= 1 waiting request per replica -> the batch is full (max_num_seqs or KV).
3. decode bandwidth: TPOT p95 over the SLO with no queue -> each step reads too many bytes.
4. prefill compute: TTFT p95 over the SLO with no queue -> prompts take too long to prefill.
5. none: within the SLO; idle capacity is then the question.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from llmstack.capacity import planning, throughput
from llmstack.errors import LlmstackError
from llmstack.spec.models import DeploymentSpec, StackSpec, WorkloadSpec
from llmstack.spec.resolving import resolve

KV_SATURATED = 0.90
QUEUE_PER_REPLICA = 1.0
IDLE_GPU_UTILIZATION = 0.30


@dataclass(frozen=True)
class Observation:
    """One deployment's behaviour over the assessment window (NaN where Prometheus had no data)."""

    deployment: str
    replicas: float
    request_rate: float
    prompt_tokens_per_request: float
    output_tokens_per_request: float
    queue_length: float
    kv_cache_usage: float
    preemption_rate: float
    ttft_p95_s: float
    tpot_p95_s: float
    gpu_utilization: float
    ttft_attainment: float
    tpot_attainment: float


@dataclass(frozen=True)
class Lever:
    name: str
    change: str
    replicas_needed: int | None
    cost_per_hour: float | None
    cost_delta_per_hour: float | None
    sustainable_rps_per_replica: float
    why: str


@dataclass(frozen=True)
class Assessment:
    deployment: str
    slo_attainment: float
    bottleneck: str
    evidence: list[str]
    replicas: float
    replicas_needed: int | None
    idle_gpus: float
    idle_cost_per_hour: float
    cost_per_hour: float
    levers: list[Lever] = field(default_factory=list)


def _finite(x: float) -> bool:
    return isinstance(x, int | float) and math.isfinite(x)


def observed_workload(obs: Observation, d: DeploymentSpec) -> WorkloadSpec:
    """The workload the deployment actually saw; the spec's where Prometheus had nothing."""
    prompt = obs.prompt_tokens_per_request if _finite(obs.prompt_tokens_per_request) else d.workload.prompt_tokens
    output = obs.output_tokens_per_request if _finite(obs.output_tokens_per_request) else d.workload.output_tokens
    rate = obs.request_rate if _finite(obs.request_rate) else d.workload.requests_per_s
    return WorkloadSpec(requests_per_s=max(0.0, rate), prompt_tokens=max(1, round(prompt)),
                        output_tokens=max(1, round(output)))


def bottleneck(obs: Observation, d: DeploymentSpec) -> tuple[str, list[str]]:
    replicas = obs.replicas if _finite(obs.replicas) and obs.replicas > 0 else 1.0
    slo_ttft, slo_tpot = d.slo.ttft_p95_ms / 1000, d.slo.tpot_p95_ms / 1000
    if (_finite(obs.preemption_rate) and obs.preemption_rate > 0) or (
            _finite(obs.kv_cache_usage) and obs.kv_cache_usage >= KV_SATURATED):
        return "kv_cache", [f"KV cache {obs.kv_cache_usage:.0%} used, {obs.preemption_rate:.2f} preemptions/s"]
    if _finite(obs.queue_length) and obs.queue_length / replicas >= QUEUE_PER_REPLICA:
        return "queueing", [f"{obs.queue_length / replicas:.1f} requests waiting per replica "
                            f"(TTFT p95 {obs.ttft_p95_s:.2f} s vs SLO {slo_ttft:.2f} s)"]
    if _finite(obs.tpot_p95_s) and obs.tpot_p95_s > slo_tpot:
        return "decode_bandwidth", [f"TPOT p95 {obs.tpot_p95_s * 1000:.0f} ms over the {slo_tpot * 1000:.0f} ms SLO "
                                    "with no queue"]
    if _finite(obs.ttft_p95_s) and obs.ttft_p95_s > slo_ttft:
        return "prefill_compute", [f"TTFT p95 {obs.ttft_p95_s:.2f} s over the {slo_ttft:.2f} s SLO with no queue "
                                   f"({obs.prompt_tokens_per_request:.0f} prompt tokens/request)"]
    return "none", ["within the SLO"]


def _lever(stack: StackSpec, d: DeploymentSpec, workload: WorkloadSpec, current_cost: float, name: str,
           change: str, why: str, *, pool: str | None = None, variant: str | None = None,
           tensor_parallel: int | None = None) -> Lever | None:
    try:
        resolved = resolve(stack, d, pool=pool, variant=variant, tensor_parallel=tensor_parallel)
    except LlmstackError:
        return None
    option = planning.evaluate(stack, resolved, workload, declared=False)
    if not option.fits or option.cost_per_hour is None:
        return None
    return Lever(name=name, change=change, replicas_needed=option.replicas_needed, cost_per_hour=option.cost_per_hour,
                 cost_delta_per_hour=round(option.cost_per_hour - current_cost, 2),
                 sustainable_rps_per_replica=option.sustainable_rps, why=why)


def levers(stack: StackSpec, d: DeploymentSpec, workload: WorkloadSpec, kind: str, current_cost: float) -> list[Lever]:
    """Every lever the capacity model says fits, cheapest first; ones matching the bottleneck flagged in ``why``."""
    found: list[Lever] = []
    current = resolve(stack, d)
    replicas = _lever(stack, d, workload, current_cost, "replicas", f"replicas -> as needed on {d.pool}",
                      "more replicas of the same configuration share the load")
    if replicas is not None:
        found.append(replicas)
    model = stack.model(d.model)
    for variant in model.variants:
        if variant.name == d.variant or variant.quality < d.quality_floor:
            continue
        kind_label = variant.effective_kind
        lever = _lever(stack, d, workload, current_cost, f"variant:{variant.name}",
                       f"variant {d.variant} -> {variant.name} ({kind_label}, quality {variant.quality})",
                       "fewer weight bytes per step: faster decode and more KV cache", variant=variant.name)
        if lever is not None:
            found.append(lever)
    for pool in stack.pools:
        if pool.name == d.pool:
            continue
        lever = _lever(stack, d, workload, current_cost, f"pool:{pool.name}", f"pool {d.pool} -> {pool.name}",
                       "a larger or faster accelerator class", pool=pool.name)
        if lever is not None:
            found.append(lever)
    for tp in (d.tensor_parallel * 2, d.tensor_parallel * 4):
        if tp > current.pool.gpus_per_node:
            break
        lever = _lever(stack, d, workload, current_cost, f"tensor_parallel:{tp}",
                       f"tensor_parallel {d.tensor_parallel} -> {tp}",
                       "weights and KV split over more GPUs: shorter steps, more KV room", tensor_parallel=tp)
        if lever is not None:
            found.append(lever)
    if kind == "prefill_compute" and not d.engine.enable_prefix_caching:
        found.append(Lever("prefix_caching", "engine.enable_prefix_caching -> true", None, None, None, 0.0,
                           "repeated prompt prefixes skip prefill (no capacity-model estimate: depends on reuse)"))
    if kind == "queueing":
        prof = throughput.profile(current)
        if prof.max_num_seqs < 1024:
            kv_room = prof.kv_cache_tokens // max(1, workload.prompt_tokens + workload.output_tokens)
            if kv_room > prof.max_num_seqs:
                found.append(Lever("batching", f"engine.max_num_seqs {prof.max_num_seqs} -> {min(1024, kv_room)}",
                                   None, None, None, 0.0,
                                   f"the KV cache holds {kv_room} sequences but the batch stops at "
                                   f"{prof.max_num_seqs}"))
    return sorted(found, key=lambda lv: (lv.cost_per_hour is None, lv.cost_per_hour or 0.0))


def assess(stack: StackSpec, observations: list[Observation]) -> list[Assessment]:
    """One assessment per observed deployment of ``stack``."""
    result = []
    for obs in observations:
        d = stack.deployment(obs.deployment)
        resolved = resolve(stack, d)
        workload = observed_workload(obs, d)
        kind, evidence = bottleneck(obs, d)
        replicas = obs.replicas if _finite(obs.replicas) else float(d.replicas.start)
        gpus = replicas * d.gpus_per_replica
        cost = resolved.pool.cost_per_hour(gpus)
        option = planning.evaluate(stack, resolved, workload, declared=True)
        needed = option.replicas_needed
        idle = max(0.0, (replicas - needed) * d.gpus_per_replica) if needed is not None else 0.0
        if _finite(obs.gpu_utilization) and obs.gpu_utilization < IDLE_GPU_UTILIZATION:
            evidence = [*evidence, f"GPUs {obs.gpu_utilization:.0%} busy"]
        attainment = min(x for x in (obs.ttft_attainment, obs.tpot_attainment) if _finite(x)) if any(
            _finite(x) for x in (obs.ttft_attainment, obs.tpot_attainment)) else math.nan
        result.append(Assessment(
            deployment=d.name, slo_attainment=attainment, bottleneck=kind, evidence=evidence, replicas=replicas,
            replicas_needed=needed, idle_gpus=idle, idle_cost_per_hour=round(resolved.pool.cost_per_hour(idle), 2),
            cost_per_hour=round(cost, 2), levers=levers(stack, d, workload, kind, cost),
        ))
    return result
