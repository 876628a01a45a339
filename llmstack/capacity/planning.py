"""The planner: every (deployment, variant, pool, TP) option with its memory, speed and cost.

``plan(stack, demand)`` evaluates each deployment as declared plus the alternatives
the policy engine could move it to (other variants of its model, other pools,
other tensor-parallel sizes), and ranks the options that fit cheapest first.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from llmstack.capacity import memory, throughput, validity
from llmstack.errors import LlmstackError
from llmstack.spec.models import DeploymentSpec, SloSpec, StackSpec, WorkloadSpec
from llmstack.spec.resolving import ResolvedDeployment, resolve
from llmstack.spec.scaling import Shape

GIB = memory.GIB
TP_CHOICES = (1, 2, 4, 8, 16)


@dataclass(frozen=True)
class Demand:
    """Load to size for; fields left None come from each deployment's ``workload``."""

    requests_per_s: float | None = None
    prompt_tokens: int | None = None
    output_tokens: int | None = None
    concurrency: int | None = None
    """Closed loop: this many clients, each sending its next request when the last one finishes."""

    def for_deployment(self, d: DeploymentSpec) -> WorkloadSpec:
        return WorkloadSpec(
            requests_per_s=d.workload.requests_per_s if self.requests_per_s is None else self.requests_per_s,
            prompt_tokens=self.prompt_tokens or d.workload.prompt_tokens,
            output_tokens=self.output_tokens or d.workload.output_tokens,
        )


@dataclass(frozen=True)
class PlanOption:
    """One way to serve a deployment, and what it costs and delivers."""

    deployment: str
    declared: bool
    model: str
    variant: str
    pool: str
    accelerator: str
    tensor_parallel: int
    pipeline_parallel: int
    gpus_per_replica: int
    fits: bool
    weights_gib_per_gpu: float
    kv_cache_gib_per_gpu: float
    max_concurrent_seqs: int
    decode_tokens_per_s: float
    ttft_ms_batch1: float
    tpot_ms_batch1: float
    sustainable_rps: float
    requests_per_s: float
    replicas_needed: int | None
    cost_per_hour: float | None
    cost_per_million_tokens: float | None
    compute: str
    reason: str
    kv_cache_tokens: int = 0
    """What vLLM logs as "GPU KV cache size: N tokens" (per replica)."""
    max_concurrency: float = 0.0
    """vLLM's "Maximum concurrency for max_model_len tokens per request: Nx"."""
    load: str = ""
    """The load the next fields are estimated at, per replica ("rps=..." or "concurrency=...")."""
    output_tokens_per_s: float = 0.0
    ttft_mean_s: float | None = None
    ttft_p95_s: float | None = None
    tpot_mean_s: float | None = None
    calibrated_from: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class _AtLoad:
    replicas: int
    label: str
    estimate: throughput.LoadEstimate


def _meets(est: throughput.LoadEstimate, slo: SloSpec) -> bool:
    return est.ttft_p95_s * 1000 <= slo.ttft_p95_ms and est.tpot_tail_s * 1000 <= slo.tpot_p95_ms


def at_concurrency(prof: throughput.EngineProfile, workload: WorkloadSpec, clients: int, slo: SloSpec,
                   max_replicas: int) -> _AtLoad:
    """Fewest replicas (up to ``max_replicas``) whose share of ``clients`` meets the SLO, and the estimate there."""
    replicas = 1
    est = throughput.estimate_concurrency(prof, workload, clients)
    while not _meets(est, slo) and replicas < max(1, max_replicas) and replicas < clients:
        replicas += 1
        est = throughput.estimate_concurrency(prof, workload, math.ceil(clients / replicas))
    return _AtLoad(replicas, f"concurrency={math.ceil(clients / replicas)}", est)


def _load_fields(at: _AtLoad, mem: memory.MemoryBreakdown) -> dict[str, Any]:
    est = at.estimate
    return dict(
        kv_cache_tokens=mem.kv_cache_tokens, max_concurrency=round(mem.max_concurrency, 2), load=at.label,
        output_tokens_per_s=round(est.output_tokens_per_s, 1) if math.isfinite(est.output_tokens_per_s) else 0.0,
        ttft_mean_s=_finite(est.ttft_mean_s), ttft_p95_s=_finite(est.ttft_p95_s), tpot_mean_s=_finite(est.tpot_s, 5),
    )


def _finite(value: float, digits: int = 4) -> float | None:
    return round(value, digits) if math.isfinite(value) else None


@dataclass(frozen=True)
class _Sizing:
    at: _AtLoad
    served_tokens_per_hour: float
    fits: bool
    reason: str


def _size(resolved: ResolvedDeployment, prof: throughput.EngineProfile, workload: WorkloadSpec,
          sustainable: float, concurrency: int | None) -> _Sizing:
    """Replicas for the load (closed loop of ``concurrency`` clients, else the workload's rate) and why."""
    d = resolved.deployment
    gpus = d.gpus_per_replica
    capacity_gpus = resolved.pool.max_gpus
    if concurrency is not None:
        at = at_concurrency(prof, workload, concurrency, d.slo, capacity_gpus // gpus)
        est = at.estimate
        served = max(1e-9, est.output_tokens_per_s) * at.replicas * 3600
        fits = _meets(est, d.slo)
        reason = (f"{at.replicas} x {gpus} GPU(s) on {resolved.pool.name} serve {concurrency} clients: TTFT p95 "
                  f"{est.ttft_p95_s * 1e3:.0f} ms (SLO {d.slo.ttft_p95_ms:.0f}), "
                  f"TPOT {'p95' if est.tpot_p95_s else 'mean'} {est.tpot_tail_s * 1e3:.1f} ms "
                  f"(SLO {d.slo.tpot_p95_ms:.0f})")
    else:
        replicas = max(1, math.ceil(workload.requests_per_s / sustainable - 1e-9))
        at = _AtLoad(replicas, f"rps={workload.requests_per_s / replicas:.3g}",
                     throughput.estimate_load(prof, workload, workload.requests_per_s / replicas))
        served = max(workload.requests_per_s, 1e-9) * workload.output_tokens * 3600
        fits, reason = True, (f"{replicas} x {gpus} GPU(s) on {resolved.pool.name} sustain "
                              f"{replicas * sustainable:.2f} req/s within the SLO")
    if at.replicas * gpus > capacity_gpus:
        fits = False
        reason = (f"needs {at.replicas} replicas x {gpus} GPUs = {at.replicas * gpus} GPUs; pool "
                  f"{resolved.pool.name} has at most {capacity_gpus}")
    return _Sizing(at, served, fits, reason)


def evaluate(stack: StackSpec, resolved: ResolvedDeployment, workload: WorkloadSpec, declared: bool,
             concurrency: int | None = None) -> PlanOption:
    """Memory, speed and cost of one resolved option (at ``concurrency`` clients, else at the workload's rate)."""
    d = resolved.deployment
    gpus = d.tensor_parallel * d.pipeline_parallel
    mem = memory.breakdown(resolved.architecture, resolved.variant, resolved.accelerator, d.engine,
                           d.tensor_parallel, d.pipeline_parallel)
    common: dict[str, Any] = dict(
        deployment=d.name, declared=declared, model=resolved.model.name, variant=resolved.variant.name,
        pool=resolved.pool.name, accelerator=resolved.accelerator.name, tensor_parallel=d.tensor_parallel,
        pipeline_parallel=d.pipeline_parallel, gpus_per_replica=gpus,
        weights_gib_per_gpu=round(mem.weights_bytes / GIB, 2),
        kv_cache_gib_per_gpu=round(mem.kv_cache_bytes / GIB, 2),
        compute=memory.weight_format(resolved.variant, resolved.accelerator).label,
        requests_per_s=workload.requests_per_s, kv_cache_tokens=mem.kv_cache_tokens,
        max_concurrency=round(mem.max_concurrency, 2),
    )
    found = validity.problems(resolved)
    if found:
        return PlanOption(**common, fits=False, max_concurrent_seqs=0, decode_tokens_per_s=0.0, ttft_ms_batch1=0.0,
                          tpot_ms_batch1=0.0, sustainable_rps=0.0, replicas_needed=None, cost_per_hour=None,
                          cost_per_million_tokens=None,
                          reason="; ".join(p.message for p in found))
    prof = throughput.profile(resolved)
    single = throughput.single_request_latency(prof, workload.prompt_tokens, workload.output_tokens)
    sustainable = throughput.sustainable_rps(prof, workload, d.slo)
    concurrent = memory.max_concurrent_seqs(mem, workload.prompt_tokens + workload.output_tokens,
                                            prof.max_num_seqs)
    tokens_per_s = throughput.decode_tokens_per_s(prof, workload)
    per_replica_hour = resolved.pool.cost_per_hour(gpus)
    if sustainable <= 0:
        return PlanOption(**common, fits=False, max_concurrent_seqs=concurrent,
                          decode_tokens_per_s=round(tokens_per_s, 1), ttft_ms_batch1=round(single.ttft_s * 1e3, 1),
                          tpot_ms_batch1=round(single.tpot_s * 1e3, 2), sustainable_rps=0.0, replicas_needed=None,
                          cost_per_hour=None, cost_per_million_tokens=None,
                          reason=(f"cannot meet the SLO even at low load: TTFT {single.ttft_s * 1e3:.0f} ms "
                                  f"(SLO {d.slo.ttft_p95_ms:.0f}), TPOT {single.tpot_s * 1e3:.1f} ms "
                                  f"(SLO {d.slo.tpot_p95_ms:.0f})"))
    sizing = _size(resolved, prof, workload, sustainable, concurrency)
    replicas = sizing.at.replicas
    cost = replicas * per_replica_hour
    common.update(_load_fields(sizing.at, mem), calibrated_from=prof.calibrated_from)
    fits, reason = sizing.fits, sizing.reason
    return PlanOption(
        **common, fits=fits, max_concurrent_seqs=concurrent, decode_tokens_per_s=round(tokens_per_s, 1),
        ttft_ms_batch1=round(single.ttft_s * 1e3, 1), tpot_ms_batch1=round(single.tpot_s * 1e3, 2),
        sustainable_rps=round(sustainable, 3), replicas_needed=replicas, cost_per_hour=round(cost, 2),
        cost_per_million_tokens=round(cost / sizing.served_tokens_per_hour * 1e6, 3), reason=reason,
    )


def shapes(stack: StackSpec, d: DeploymentSpec) -> Iterator[Shape]:
    """Every shape ``d`` could run as: the declared one first, then every other variant x pool x TP.

    The one generator of alternatives: the planner evaluates these and the policy engine moves only
    between them. TP stays inside a node (NVLink/PCIe; only PP crosses nodes) and the replica's
    GPUs (TP x the declared PP) fit the pool.
    """
    declared = Shape(d.variant, d.pool, d.tensor_parallel)
    yield declared
    for variant in stack.model(d.model).variants:
        for pool in stack.pools:
            for tp in TP_CHOICES:
                shape = Shape(variant.name, pool.name, tp)
                if tp > pool.gpus_per_node or tp * d.pipeline_parallel > pool.max_gpus or shape == declared:
                    continue
                yield shape


def candidates(stack: StackSpec, d: DeploymentSpec) -> Iterator[tuple[ResolvedDeployment, bool]]:
    """Each of :func:`shapes` resolved, and whether it is the declared one (PP kept as declared)."""
    for shape in shapes(stack, d):
        declared = shape == Shape(d.variant, d.pool, d.tensor_parallel)
        yield resolve(stack, d, pool=shape.pool, variant=shape.variant, tensor_parallel=shape.tensor_parallel), \
            declared


def plan(stack: StackSpec, demand: Demand | None = None, deployment: str | None = None,
         alternatives: bool = True) -> list[PlanOption]:
    """All options for the stack's deployments, fitting ones cheapest first, then rejected ones."""
    demand = demand or Demand()
    targets = [stack.deployment(deployment)] if deployment else stack.deployments
    if not targets:
        raise LlmstackError("the stack has no deployments to plan", path="deployments")
    options: list[PlanOption] = []
    for d in targets:
        workload = demand.for_deployment(d)
        for resolved, declared in candidates(stack, d):
            if not declared and not alternatives:
                continue
            options.append(evaluate(stack, resolved, workload, declared, demand.concurrency))
    return rank(options)


def rank(options: list[PlanOption]) -> list[PlanOption]:
    fitting = sorted((o for o in options if o.fits),
                     key=lambda o: (o.cost_per_hour or 0.0, -o.sustainable_rps, o.deployment, o.variant, o.pool,
                                    o.tensor_parallel))
    rejected = sorted((o for o in options if not o.fits),
                      key=lambda o: (o.deployment, o.variant, o.pool, o.tensor_parallel))
    return fitting + rejected


def check_stack(stack: StackSpec) -> list[ResolvedDeployment]:
    """Resolve every deployment as declared and raise the first that cannot run (used before deploying)."""
    resolved = []
    for d in stack.deployments:
        r = resolve(stack, d)
        validity.check_deployment(r)
        resolved.append(r)
    return resolved
