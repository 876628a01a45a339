"""Speed: a roofline model of one vLLM replica (prefill compute, decode bandwidth).

One engine step processes some prefill tokens (chunked prefill) and one token for
each running sequence. Its time is the larger of

- compute: 2 x active parameters x tokens (+ attention) over achievable FLOP/s, and
- memory: weight bytes + KV-cache bytes read over achievable bandwidth,

plus tensor-parallel all-reduces and a fixed scheduling overhead. The simulator
(:mod:`llmstack.sim`) advances time with exactly :func:`step_time`, so its batch-1
latencies equal :func:`single_request_latency`.

Pipeline parallelism is modelled for memory (layers split across GPUs) but not as a
throughput gain: stages run one after the other for a token, so per-token time is the
same as one TP group holding all layers. This is conservative for PP > 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from llmstack.capacity import memory
from llmstack.spec.models import SloSpec, WorkloadSpec
from llmstack.spec.resolving import ResolvedDeployment

PREFILL_MFU = 0.55
"""Share of dense peak FLOP/s that large prefill GEMMs achieve in vLLM (40-60 % is typical on H100/A100)."""

DECODE_MBU = 0.75
"""Share of peak HBM bandwidth that memory-bound decode steps achieve (vLLM reaches 70-80 % with CUDA graphs)."""

STEP_OVERHEAD_S = 0.0015
"""Scheduler, sampling and kernel launch time per engine step (CUDA graphs keep it near 1-2 ms)."""

ALLREDUCE_LATENCY_S = {"nvlink": 8e-6, "xgmi": 10e-6, "ici": 10e-6, "pcie": 25e-6, "other": 25e-6}
"""Latency of one small all-reduce between TP ranks, by interconnect."""

TTFT_QUEUE_PERCENTILE = 0.95

MD1_WAIT_FACTOR = 0.5
"""Deterministic service halves M/M/1 waiting times (Pollaczek-Khinchine)."""


@dataclass(frozen=True)
class EngineProfile:
    """The numbers of one replica that step times are computed from."""

    tensor_parallel: int
    pipeline_parallel: int
    active_params: float
    num_layers: int
    hidden_size: int
    attention_dim: int  # heads x head_dim
    weight_bytes_per_gpu: float
    expert_weight_fraction: float  # share of weight bytes in MoE experts (0 for dense)
    expert_touch_per_token: float  # experts_per_token / num_experts
    kv_bytes_per_token_per_gpu: int
    peak_flops_per_gpu: float
    bandwidth_per_gpu: float
    interconnect: str
    interconnect_bytes_per_s: float
    kv_cache_tokens: int
    max_num_seqs: int
    max_num_batched_tokens: int
    max_model_len: int
    block_size: int
    compute_label: str


def profile(resolved: ResolvedDeployment) -> EngineProfile:
    """The engine profile of a resolved deployment."""
    arch, accel, variant = resolved.architecture, resolved.accelerator, resolved.variant
    d = resolved.deployment
    fmt = memory.weight_format(variant, accel)
    mem = memory.breakdown(arch, variant, accel, d.engine, d.tensor_parallel, d.pipeline_parallel)
    peak = {
        "bf16": accel.bf16_tflops,
        "fp8": accel.fp8_tflops or accel.bf16_tflops,
        "int8": accel.int8_tops or accel.bf16_tflops,
    }[fmt.compute] * 1e12
    expert_fraction = 0.0
    touch = 1.0
    if arch.moe is not None:
        expert_params = 3 * arch.hidden_size * arch.intermediate_size * arch.moe.num_experts * arch.num_layers
        expert_fraction = min(1.0, expert_params / (arch.params_b * 1e9))
        touch = arch.moe.experts_per_token / arch.moe.num_experts
    return EngineProfile(
        tensor_parallel=d.tensor_parallel,
        pipeline_parallel=d.pipeline_parallel,
        active_params=arch.active_params_b * 1e9 * (1 - variant.sparsity),
        num_layers=arch.num_layers,
        hidden_size=arch.hidden_size,
        attention_dim=arch.num_attention_heads * arch.head_dim,
        weight_bytes_per_gpu=mem.weights_bytes,
        expert_weight_fraction=expert_fraction,
        expert_touch_per_token=touch,
        kv_bytes_per_token_per_gpu=mem.kv_bytes_per_token,
        peak_flops_per_gpu=peak,
        bandwidth_per_gpu=accel.memory_bandwidth_gb_s * 1e9,
        interconnect=accel.interconnect,
        interconnect_bytes_per_s=accel.interconnect_gb_s * 1e9,
        kv_cache_tokens=mem.kv_cache_tokens,
        max_num_seqs=d.engine.max_num_seqs or memory.default_max_num_seqs(accel),
        max_num_batched_tokens=d.engine.max_num_batched_tokens or memory.default_max_num_batched_tokens(accel),
        max_model_len=mem.max_model_len,
        block_size=d.engine.block_size,
        compute_label=fmt.label,
    )


def weight_bytes_read(p: EngineProfile, tokens: int) -> float:
    """Weight bytes one step reads per GPU; for MoE only the experts its tokens route to."""
    if p.expert_weight_fraction == 0 or tokens <= 0:
        return p.weight_bytes_per_gpu
    touched = 1 - (1 - p.expert_touch_per_token) ** tokens
    dense = p.weight_bytes_per_gpu * (1 - p.expert_weight_fraction)
    return dense + p.weight_bytes_per_gpu * p.expert_weight_fraction * touched


def allreduce_time(p: EngineProfile, tokens: int) -> float:
    if p.tensor_parallel == 1:
        return 0.0
    message = tokens * p.hidden_size * memory.BF16_BYTES
    ring = 2 * (p.tensor_parallel - 1) / p.tensor_parallel * message / p.interconnect_bytes_per_s
    per_reduce = ALLREDUCE_LATENCY_S.get(p.interconnect, ALLREDUCE_LATENCY_S["other"]) + ring
    return 2 * p.num_layers * per_reduce  # one after attention, one after the MLP


def step_time(p: EngineProfile, prefill_tokens: int = 0, prefill_context: int = 0, decode_seqs: int = 0,
              decode_context_tokens: int = 0) -> float:
    """Seconds for one engine step.

    ``prefill_tokens`` new prompt tokens whose sequences already hold ``prefill_context`` tokens
    of KV cache, plus ``decode_seqs`` running sequences holding ``decode_context_tokens`` in total.
    """
    tokens = prefill_tokens + decode_seqs
    if tokens <= 0:
        return 0.0
    linear_flops = 2 * p.active_params * tokens
    # causal attention: each prefill token attends to the context before it and half its own chunk;
    # each decode token attends to its sequence's context
    attended = prefill_tokens * (prefill_context + prefill_tokens / 2) + decode_context_tokens
    attention_flops = 4 * p.num_layers * p.attention_dim * attended
    compute = (linear_flops + attention_flops) / (p.tensor_parallel * p.peak_flops_per_gpu * PREFILL_MFU)
    kv_read = (prefill_context + decode_context_tokens) * p.kv_bytes_per_token_per_gpu
    kv_write = tokens * p.kv_bytes_per_token_per_gpu
    bytes_moved = (weight_bytes_read(p, tokens) + kv_read + kv_write) * p.pipeline_parallel
    memory_time = bytes_moved / (p.bandwidth_per_gpu * DECODE_MBU)
    return max(compute, memory_time) + allreduce_time(p, tokens) + STEP_OVERHEAD_S


def prefill_chunks(p: EngineProfile, prompt_tokens: int, running: int = 0) -> list[int]:
    """How chunked prefill splits a prompt when ``running`` sequences also take one token each."""
    budget = max(1, p.max_num_batched_tokens - running)
    full, rest = divmod(prompt_tokens, budget)
    return [budget] * full + ([rest] if rest else [])


def prefill_time(p: EngineProfile, prompt_tokens: int, running: int = 0, running_context: int = 0) -> float:
    """Time to prefill one prompt, chunk by chunk, alongside ``running`` decoding sequences."""
    total = 0.0
    done = 0
    for chunk in prefill_chunks(p, prompt_tokens, running):
        total += step_time(p, chunk, done, running, running_context)
        done += chunk
    return total


@dataclass(frozen=True)
class SingleRequestLatency:
    ttft_s: float
    tpot_s: float
    e2e_s: float


def single_request_latency(p: EngineProfile, prompt_tokens: int, output_tokens: int) -> SingleRequestLatency:
    """Latency of one request alone on the replica (batch 1).

    The first token comes out of the last prefill step; each further token takes one decode
    step at the sequence's current length. TPOT is the mean over those steps.
    """
    ttft = prefill_time(p, prompt_tokens)
    decode = sum(step_time(p, decode_seqs=1, decode_context_tokens=prompt_tokens + i)
                 for i in range(1, output_tokens))
    tpot = decode / (output_tokens - 1) if output_tokens > 1 else 0.0
    return SingleRequestLatency(ttft, tpot, ttft + decode)


@dataclass(frozen=True)
class LoadEstimate:
    """Steady-state estimate of one replica at a request rate."""

    rps: float
    concurrency: float
    tpot_s: float
    ttft_p95_s: float
    utilization: float
    saturated: bool


def max_batch(p: EngineProfile, workload: WorkloadSpec) -> int:
    """Sequences that can run at once: max_num_seqs, and KV cache at the mean context (prompt + output/2)."""
    mean_context = workload.prompt_tokens + workload.output_tokens / 2
    return max(0, min(p.max_num_seqs, int(p.kv_cache_tokens // max(1.0, mean_context))))


def _decode_tpot(p: EngineProfile, workload: WorkloadSpec, batch: float, prefill_share: float) -> float:
    b = max(1, round(batch))
    mean_context = workload.prompt_tokens + workload.output_tokens / 2
    step = step_time(p, decode_seqs=b, decode_context_tokens=int(b * mean_context))
    return step / max(1e-9, 1 - prefill_share)


def saturation_rps(p: EngineProfile, workload: WorkloadSpec) -> float:
    """Largest request rate the replica completes when its batch is full (throughput ceiling)."""
    b = max_batch(p, workload)
    if b == 0:
        return 0.0
    prefill = prefill_time(p, workload.prompt_tokens) - STEP_OVERHEAD_S
    decode_step = step_time(p, decode_seqs=b,
                            decode_context_tokens=int(b * (workload.prompt_tokens + workload.output_tokens / 2)))
    # per second: rps x prefill + (rps x output / b) x decode_step <= 1
    return 1.0 / (prefill + workload.output_tokens * decode_step / b)


def estimate_load(p: EngineProfile, workload: WorkloadSpec, rps: float) -> LoadEstimate:
    """Concurrency, TPOT and TTFT p95 of one replica at ``rps`` (M/M/1-style queueing near saturation)."""
    cap = saturation_rps(p, workload)
    if rps <= 0:
        single = single_request_latency(p, workload.prompt_tokens, workload.output_tokens)
        return LoadEstimate(0.0, 0.0, single.tpot_s, single.ttft_s, 0.0, cap == 0)
    if cap == 0 or rps >= cap:
        return LoadEstimate(rps, float(max_batch(p, workload)), math.inf, math.inf, 1.0, True)
    prefill_alone = prefill_time(p, workload.prompt_tokens)
    prefill_share = min(0.95, rps * prefill_alone)
    batch = 1.0
    tpot = _decode_tpot(p, workload, batch, prefill_share)
    for _ in range(30):  # Little's law fixed point: batch = rps x time in decode
        batch = max(1.0, rps * workload.output_tokens * tpot)
        tpot = _decode_tpot(p, workload, batch, prefill_share)
    # Prefill is the serialised resource: one prompt's chunks at a time, sharing steps with the running
    # batch. Queueing on it (and on batch slots near saturation) uses the M/M/1 waiting-time tail
    # P(W > t) = rho exp(-(1 - rho) t / s), halved because prefill service times are nearly
    # deterministic (M/D/1 waits are about half of M/M/1's).
    service = prefill_time(p, workload.prompt_tokens, running=int(batch),
                           running_context=int(batch * (workload.prompt_tokens + workload.output_tokens / 2)))
    rho = max(rps * service, rps / cap)
    ttft = service
    tail = 1 - TTFT_QUEUE_PERCENTILE
    if rho >= 1:
        return LoadEstimate(rps, batch, tpot, math.inf, 1.0, True)
    if rho > tail:
        ttft += MD1_WAIT_FACTOR * math.log(rho / tail) * service / (1 - rho)
    return LoadEstimate(rps, batch, tpot, ttft, rho, False)


def sustainable_rps(p: EngineProfile, workload: WorkloadSpec, slo: SloSpec) -> float:
    """Largest request rate at which the estimated TTFT p95 and TPOT stay within the SLO (0 if none)."""
    cap = saturation_rps(p, workload)
    if cap == 0:
        return 0.0

    def meets(rps: float) -> bool:
        est = estimate_load(p, workload, rps)
        return est.ttft_p95_s * 1000 <= slo.ttft_p95_ms and est.tpot_s * 1000 <= slo.tpot_p95_ms

    low, high = 0.0, cap
    if not meets(cap * 1e-4):
        return 0.0
    for _ in range(50):
        mid = (low + high) / 2
        if meets(mid):
            low = mid
        else:
            high = mid
    return low


def decode_tokens_per_s(p: EngineProfile, workload: WorkloadSpec) -> float:
    """Generated tokens/s of one replica with a full batch (the throughput roofline)."""
    return saturation_rps(p, workload) * workload.output_tokens
