"""Memory per GPU: weights, KV cache, runtime reserve, and whether a deployment fits.

All functions are pure. Bytes are exact integers where the inputs are exact
(KV cache per token) and floats where they come from approximations (weights
of quantized checkpoints, activation peaks).

How vLLM budgets memory (V1 engine, the behaviour of vLLM 0.11-0.33): of ``total x
gpu_memory_utilization`` (total = what torch.cuda.mem_get_info reports, a few hundred MiB below
nvidia-smi's ``memory.total``), it keeps the weights, the peak activation measured in a profiling
forward pass of ``max_num_batched_tokens`` tokens plus a dummy sampler run over ``max_num_seqs``
rows of logits, the non-torch allocations made meanwhile (cuBLAS, NCCL, custom all-reduce) and
the CUDA-graph pool; everything left becomes KV-cache blocks of ``block_size`` tokens. vLLM logs
the result as "GPU KV cache size: N tokens" and "Maximum concurrency for L tokens per request".

Older release lines differ in what the profile counts (VLLM_PROFILES: the dummy sampler's path, logits
rows, CUDA graphs); the validation table (benchmarks/validation) compares each published measurement with
the line it came from. On NVSwitch Hopper/Blackwell boards NCCL's NVLink SHARP buffers (NVLS_*) are
non-torch memory once TP > 2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from llmstack.spec.models import AcceleratorSpec, ArchitectureSpec, EngineOptions, VariantSpec

GIB = 1024**3
MIB = 1024**2
GB = 1e9

VLLM_VERSION_MODELLED = "0.21-0.33 (V1 engine, gpu_worker.determine_available_memory, CUDA graphs profiled)"
"""The vLLM behaviour the memory constants below reproduce (V1 engine; profiling before KV allocation)."""

BF16_BYTES = 2
"""Unquantized weights and activations are 16-bit (bf16/fp16)."""

QUANT_GROUP_SIZE = 128
"""AWQ/GPTQ/W4A16 checkpoints store one fp16 scale and one packed zero point per group of 128 weights."""

DRIVER_RESERVED_MIB = 480
"""nvidia-smi ``memory.total`` minus what ``torch.cuda.mem_get_info`` calls total, where the catalog lacks the
latter: median of six read pairs (T4 256, RTX 4090 357, RTX 3090 451, A100-40GB 512, B200 729, A100-80GB 768 MiB;
sources in catalog/data/accelerators.json). vLLM multiplies the torch total by gpu_memory_utilization."""

NON_TORCH_BYTES = 0.2 * GIB
"""Memory allocated outside PyTorch during vLLM's profile run at TP=1 (cuBLAS workspaces, attention-backend
scratch): vLLM 0.6-0.8 logged ``non_torch_memory takes 0.1-0.3GiB`` for single-GPU Llama-class models."""

NON_TORCH_TP_BYTES = 0.8 * GIB
"""Extra non-torch memory per GPU once TP or PP > 1: NCCL channel buffers and vLLM's custom all-reduce
IPC buffers (vLLM logs 0.6-1.5 GiB ``non_torch_memory`` at TP 2-8)."""

NVLS_BYTES_PER_RANK = 301989888
"""NCCL's NVLink SHARP (NVLS) buffer per peer of a communicator, on every GPU of it: NCCL logs
"NVLS comm ... nHeads 8 buffSize 4194304 memSize 2097152 nvlsPerRankSize 301989888 nvlsTotalSize 2415919104"
(vllm-project/vllm#9699, 8 x H200, vLLM 0.6.3): each GPU holds nvlsPerRankSize x nHeads, one head per rank,
allocated outside PyTorch (so in vLLM's non-torch memory). Assumed the same per rank at 4 ranks (same channel
count on the same GPU generation)."""

NVLS_COMMUNICATORS = 2
"""NCCL communicators per TP group that set NVLS buffers up: vLLM's PyNcclCommunicator and torch.distributed's
NCCL device group (its all-gather of the logits runs in the profile pass). vllm#9699 measured it end to end:
Llama-3.1-405B TP8 on 8 x H200 had 17595 GPU blocks with NVLS and 227xx with NCCL_NVLS_ENABLE=0, i.e. about
5,100 blocks x 0.98 MiB = 5.0 GiB per GPU, close to 2 x 2.25 GiB."""

NVLS_MIN_RANKS = 3
"""NCCL enables NVLS only for more than 2 GPUs (vllm#9699: "NVLS is only enabled for n > 2 GPUs, in H100 and
above platforms")."""

NVSWITCH_MIN_NVLINK_GB_S = 900
"""NVLS needs the NVSwitch fabric of HGX/DGX boards (NVLink 4 at 900 GB/s and up: H100/H200 SXM, B200);
PCIe cards and NVLink-bridge pairs (H100 NVL, 600 GB/s) have no multicast switch."""

CUDA_GRAPH_BYTES = 0.35 * GIB
"""CUDA-graph pool that vLLM (>= 0.21) estimates in profiling and keeps out of the KV cache (decode graphs for the
default capture sizes; vLLM logs ``Graph capturing finished ... took 0.3-0.6 GiB`` for 7-70B models)."""

CUDA_GRAPH_TP_BYTES = 0.25 * GIB
"""Extra graph memory with TP > 1 (captured custom all-reduce buffers)."""

ACTIVATION_VALUES_PER_TOKEN_HIDDEN = 4
"""Peak activation per token ~ (4 x hidden + 3 x intermediate / TP) bf16 values: residual, normed input,
attention output and q/k/v alive at once, then the MLP's gate_up output (2 x intermediate) and its SiLU-mul
result (1 x intermediate), in vLLM's profile pass of max_num_batched_tokens tokens."""

ACTIVATION_VALUES_PER_TOKEN_INTERMEDIATE = 3
"""See ACTIVATION_VALUES_PER_TOKEN_HIDDEN."""

SAMPLER_BYTES_PER_LOGIT = 8
"""Bytes per (sequence, vocab entry) alive in the dummy sampler run of vLLM >= 0.21 (and of 0.8-0.20 builds
with FlashInfer's sampler): bf16 logits from compute_logits, their float32 copy, and FlashInfer's (or 0.3x's
Triton) top-k/top-p kernel, which keeps no vocab-sized temporaries. The vocab is gathered whole on every rank."""

SORT_SAMPLER_BYTES_PER_LOGIT = 28
"""Bytes per (sequence, vocab entry) at the peak of the PyTorch-native top-k/top-p path that vLLM's dummy
sampler run takes without FlashInfer (V0's Sampler._apply_top_k_top_p always; V1 0.8-0.20 builds without
FlashInfer, e.g. the pip wheels of 0.8-0.10, which did not depend on it and log "FlashInfer is not
available. Falling back to the PyTorch-native implementation of top-p & top-k sampling"): bf16 logits 2 +
float32 logits 4 + sorted values 4 + int64 sort indices 8 + top-k mask 1 + softmax of the sorted logits 4 +
top-p mask 1 + the scattered result 4. The dummy run sets top_k = vocab - 1 and top_p < 1
(vllm/v1/worker/gpu_model_runner.py _dummy_sampler_run; apply_top_k_top_p in
vllm/v1/sample/ops/topk_topp_sampler.py, read in the installed 0.32 source: sort, gather, masks, softmax,
cumsum, scatter)."""

BF16_LOGIT_BYTES = 2
"""V1 0.7.x ran no dummy sampler: its profile_run computed bf16 logits for every one of the
max_num_batched_tokens profiled tokens ("logits = self.model.compute_logits(hidden_states, None) ...
TODO(woosuk): Consider the memory usage of the sampler", vllm/v1/worker/gpu_model_runner.py, Jan 2025)."""


@dataclass(frozen=True)
class VllmProfile:
    """How one vLLM release line's start-up profile counts memory before it sizes the KV cache."""

    name: str
    sampler_bytes_per_logit: float
    logits_for_every_token: bool
    cuda_graphs_in_profile: bool


VLLM_PROFILES: dict[str, VllmProfile] = {
    # V0 (<= 0.6.x): dummy sampler run over max_num_seqs sequences, always the PyTorch sort path; CUDA graphs
    # captured after the KV cache, in the 1 - gpu_memory_utilization headroom
    "v0.6": VllmProfile("v0.6", SORT_SAMPLER_BYTES_PER_LOGIT, False, False),
    # V1 0.7.x: logits of every profiled token, no sampler run
    "v1-0.7": VllmProfile("v1-0.7", BF16_LOGIT_BYTES, True, False),
    # V1 0.8-0.20 without FlashInfer (e.g. the 0.8-0.10 pip wheels, which did not depend on it)
    "v1-native-sampler": VllmProfile("v1-native-sampler", SORT_SAMPLER_BYTES_PER_LOGIT, False, False),
    # V1 0.8-0.20 with FlashInfer installed (the vllm-openai docker image)
    "v1-flashinfer-sampler": VllmProfile("v1-flashinfer-sampler", SAMPLER_BYTES_PER_LOGIT, False, False),
    # V1 >= 0.21: CUDA-graph memory profiled before the KV cache is sized (eugr/spark-vllm-docker#396)
    "current": VllmProfile("current", SAMPLER_BYTES_PER_LOGIT, False, True),
}
"""The release lines whose start-up profile the memory model reproduces; ``current`` is what plan uses."""

CURRENT = VLLM_PROFILES["current"]

MOE_WORKSPACE_VALUES_PER_ROUTED_TOKEN = 3
"""fused_moe's intermediate caches per routed token (token x top-k): cache1 (2 x I / TP), cache2 (I / TP) in
bf16, i.e. 3 x I / TP values, plus cache3 (hidden); bounded by VLLM_FUSED_MOE_CHUNK_SIZE."""

FUSED_MOE_CHUNK_TOKENS = 32768
"""vLLM's VLLM_FUSED_MOE_CHUNK_SIZE default: fused_moe processes at most this many tokens at a time."""

ComputeFormat = Literal["bf16", "fp8", "int8"]


@dataclass(frozen=True)
class WeightFormat:
    """How a variant's linear-layer weights are stored and which tensor cores multiply them."""

    bits_per_weight: float
    compute: ComputeFormat
    weight_only: bool
    label: str


@dataclass(frozen=True)
class MemoryBreakdown:
    """Per-GPU memory of one replica, in bytes, as vLLM's start-up profile splits it, and the KV cache left."""

    gpu_bytes: float
    usable_bytes: float
    weights_bytes: float
    activation_bytes: float
    non_torch_bytes: float
    cuda_graph_bytes: float
    kv_cache_bytes: float
    kv_bytes_per_token: int
    kv_cache_tokens: int
    block_size: int
    max_model_len: int
    max_concurrent_seqs: int

    @property
    def overhead_bytes(self) -> float:
        """Non-torch plus CUDA-graph memory: what is neither weights, activations nor KV cache."""
        return self.non_torch_bytes + self.cuda_graph_bytes

    @property
    def fits(self) -> bool:
        """vLLM starts only if the KV cache holds one request of max_model_len tokens."""
        return self.kv_cache_bytes > 0 and self.kv_cache_tokens >= self.max_model_len

    @property
    def max_concurrency(self) -> float:
        """vLLM's "Maximum concurrency for max_model_len tokens per request: Nx" (whole blocks per request)."""
        if self.max_model_len <= 0:
            return 0.0
        per_request = math.ceil(self.max_model_len / self.block_size) * self.block_size
        return self.kv_cache_tokens / per_request

    @property
    def needed_bytes(self) -> float:
        """Bytes a GPU must offer (before gpu_memory_utilization) for one full-length sequence."""
        return (self.weights_bytes + self.activation_bytes + self.overhead_bytes
                + self.kv_bytes_per_token * self.max_model_len)


def supports_fp8_compute(accelerator: AcceleratorSpec) -> bool:
    """FP8 W8A8 needs FP8 tensor cores: NVIDIA SM >= 8.9 (Ada, Hopper, Blackwell) or an AMD part with FP8."""
    if accelerator.fp8_tflops is None:
        return False
    cc = accelerator.compute_capability_tuple
    return cc is None or cc >= (8, 9)


def supports_marlin(accelerator: AcceleratorSpec) -> bool:
    """vLLM's Marlin int4/int8 kernels need NVIDIA SM >= 8.0; elsewhere AWQ/GPTQ run slower kernels."""
    cc = accelerator.compute_capability_tuple
    return accelerator.vendor == "nvidia" and cc is not None and cc >= (8, 0)


def weight_format(variant: VariantSpec, accelerator: AcceleratorSpec) -> WeightFormat:
    """Bits per linear weight (scales included) and compute path of ``variant`` on ``accelerator``.

    FP8 on an accelerator without FP8 tensor cores (e.g. A100) runs weight-only through
    vLLM's FP8 Marlin kernel: weights take 8 bits, but the matmuls run in bf16.
    """
    method = variant.quantization
    scheme = variant.quantization_scheme
    if method is None:
        return WeightFormat(16, "bf16", False, "bf16")
    if method in ("awq", "awq_marlin", "gptq", "gptq_marlin") or scheme in ("w4a16", "w8a16"):
        bits = variant.weight_bits or (8 if scheme == "w8a16" else 4)
        # one fp16 scale + one packed zero point per group
        overhead = (16 + bits) / QUANT_GROUP_SIZE
        kernel = "Marlin" if supports_marlin(accelerator) else "non-Marlin"
        return WeightFormat(bits + overhead, "bf16", True, f"int{bits} weight-only ({kernel})")
    if method in ("fp8", "modelopt") or scheme == "w8a8-fp8":
        if supports_fp8_compute(accelerator):
            return WeightFormat(8, "fp8", False, "fp8 w8a8")
        return WeightFormat(8, "bf16", True, "fp8 weight-only (Marlin)")
    if scheme == "w8a8-int8":
        return WeightFormat(8, "int8", False, "int8 w8a8")
    if method == "experts_int8":
        return WeightFormat(8, "bf16", True, "int8 experts weight-only")
    raise ValueError(f"no weight format known for quantization {method!r}")  # unreachable for valid specs


def embedding_params(arch: ArchitectureSpec) -> int:
    """Input embedding plus LM head (once when tied): kept in 16 bits by every quantization method."""
    return arch.vocab_size * arch.hidden_size * (1 if arch.tie_word_embeddings else 2)


def weights_bytes(arch: ArchitectureSpec, fmt: WeightFormat, sparsity: float = 0.0) -> float:
    """Bytes of the whole checkpoint in GPU memory (all shards together)."""
    total = arch.params_b * 1e9
    embed = min(embedding_params(arch), total)
    linear = (total - embed) * (1 - sparsity)
    return embed * BF16_BYTES + linear * fmt.bits_per_weight / 8


def kv_dtype_bytes(variant: VariantSpec) -> int:
    return 1 if variant.kv_cache_dtype.startswith("fp8") else BF16_BYTES


def kv_bytes_per_token(arch: ArchitectureSpec, kv_bytes: int = BF16_BYTES) -> int:
    """KV cache per token for the whole model: 2 (K and V) x layers x KV heads x head dim x dtype bytes."""
    return 2 * arch.num_layers * arch.num_kv_heads * arch.head_dim * kv_bytes


def kv_bytes_per_token_per_gpu(arch: ArchitectureSpec, kv_bytes: int, tensor_parallel: int,
                               pipeline_parallel: int) -> int:
    """One GPU's share: layers split by PP, KV heads split by TP and replicated once TP exceeds them."""
    layers = math.ceil(arch.num_layers / pipeline_parallel)
    kv_heads = max(1, arch.num_kv_heads // tensor_parallel)
    return 2 * layers * kv_heads * arch.head_dim * kv_bytes


def cuda_total_bytes(accelerator: AcceleratorSpec) -> float:
    """The total vLLM multiplies by gpu_memory_utilization: torch's device total, else the driver's less its reserve."""
    mib = accelerator.cuda_total_mib or (accelerator.memory_mib - DRIVER_RESERVED_MIB)
    return float(mib * MIB)


def default_max_num_seqs(accelerator: AcceleratorSpec) -> int:
    """vLLM 0.33 ``get_batch_defaults`` for the OpenAI server: 1024 on >= 70 GiB parts except A100, else 256."""
    gib = cuda_total_bytes(accelerator) / GIB
    if gib >= 160 or (gib >= 70 and not accelerator.name.startswith("A100")):
        return 1024
    return 256


def default_max_num_batched_tokens(accelerator: AcceleratorSpec) -> int:
    """vLLM 0.33 ``get_batch_defaults``: 16384 on >= 160 GiB, 8192 on >= 70 GiB (not A100), else 2048."""
    gib = cuda_total_bytes(accelerator) / GIB
    if gib >= 160:
        return 16384
    if gib >= 70 and not accelerator.name.startswith("A100"):
        return 8192
    return 2048


def activation_bytes(arch: ArchitectureSpec, tokens: int, max_num_seqs: int, tensor_parallel: int,
                     vllm: VllmProfile = CURRENT) -> float:
    """Peak activation of vLLM's profile run: a ``tokens``-token forward pass, then the logits and sampler.

    For MoE the MLP term is fused_moe's workspace for ``tokens x top-k`` routed tokens (chunked), not the
    experts' total width. The logits stage has one row per dummy request (``min(tokens, max_num_seqs)``), or
    one per profiled token in V1 0.7.
    """
    hidden = ACTIVATION_VALUES_PER_TOKEN_HIDDEN * arch.hidden_size
    width = arch.intermediate_size / tensor_parallel
    if arch.moe is None:
        mlp = tokens * ACTIVATION_VALUES_PER_TOKEN_INTERMEDIATE * width
    else:
        routed = min(tokens, FUSED_MOE_CHUNK_TOKENS) * arch.moe.experts_per_token
        mlp = routed * (MOE_WORKSPACE_VALUES_PER_ROUTED_TOKEN * width + arch.hidden_size)
    forward = (tokens * hidden + mlp) * BF16_BYTES
    rows = tokens if vllm.logits_for_every_token else min(tokens, max_num_seqs)
    sampler = rows * arch.vocab_size * vllm.sampler_bytes_per_logit
    return max(forward, sampler)


def supports_nvls(accelerator: AcceleratorSpec) -> bool:
    """NVIDIA SM >= 9.0 on an NVSwitch fabric: NCCL sets NVLink SHARP buffers up there."""
    cc = accelerator.compute_capability_tuple
    return (accelerator.vendor == "nvidia" and accelerator.interconnect == "nvlink" and cc is not None
            and cc >= (9, 0) and accelerator.interconnect_gb_s >= NVSWITCH_MIN_NVLINK_GB_S)


def nvls_bytes(accelerator: AcceleratorSpec, tensor_parallel: int) -> float:
    """NCCL's NVLS buffers per GPU of a TP group (0 where NCCL does not enable NVLS)."""
    if tensor_parallel < NVLS_MIN_RANKS or not supports_nvls(accelerator):
        return 0.0
    return float(NVLS_COMMUNICATORS * NVLS_BYTES_PER_RANK * tensor_parallel)


def runtime_bytes(tensor_parallel: int, pipeline_parallel: int,
                  accelerator: AcceleratorSpec | None = None) -> tuple[float, float]:
    """(non-torch, CUDA-graph) bytes per GPU; both grow once the replica spans GPUs (NVLS buffers on NVSwitch)."""
    multi = tensor_parallel * pipeline_parallel > 1
    non_torch = NON_TORCH_BYTES + (NON_TORCH_TP_BYTES if multi else 0.0)
    if accelerator is not None:
        non_torch += nvls_bytes(accelerator, tensor_parallel)
    graphs = CUDA_GRAPH_BYTES + (CUDA_GRAPH_TP_BYTES if tensor_parallel > 1 else 0.0)
    return non_torch, graphs


def kv_cache_tokens(kv_bytes: float, per_token: int, block_size: int) -> int:
    """vLLM allocates whole blocks: floor(bytes / (block_size x bytes per token)) blocks of block_size tokens."""
    if kv_bytes <= 0 or per_token <= 0:
        return 0
    return int(kv_bytes // (per_token * block_size)) * block_size


def breakdown(
    arch: ArchitectureSpec,
    variant: VariantSpec,
    accelerator: AcceleratorSpec,
    engine: EngineOptions,
    tensor_parallel: int = 1,
    pipeline_parallel: int = 1,
    vllm: VllmProfile = CURRENT,
) -> MemoryBreakdown:
    """Per-GPU memory of one replica and the KV cache that is left (vLLM V1's start-up profile).

    ``vllm``: which release line's profile to reproduce (VLLM_PROFILES); plan and the simulator use
    ``current``, the validation table the line each published measurement came from.
    """
    fmt = weight_format(variant, accelerator)
    weights = weights_bytes(arch, fmt, variant.sparsity) / (tensor_parallel * pipeline_parallel)
    max_num_seqs = engine.max_num_seqs or default_max_num_seqs(accelerator)
    batched = engine.max_num_batched_tokens or default_max_num_batched_tokens(accelerator)
    activations = activation_bytes(arch, batched, max_num_seqs, tensor_parallel, vllm)
    non_torch, graphs = runtime_bytes(tensor_parallel, pipeline_parallel, accelerator)
    if not vllm.cuda_graphs_in_profile:
        graphs = 0.0
    gpu = cuda_total_bytes(accelerator)
    usable = gpu * engine.gpu_memory_utilization
    kv_total = usable - weights - activations - non_torch - graphs
    per_token = kv_bytes_per_token_per_gpu(arch, kv_dtype_bytes(variant), tensor_parallel, pipeline_parallel)
    tokens = kv_cache_tokens(kv_total, per_token, engine.block_size)
    max_len = engine.max_model_len or arch.max_position_embeddings
    concurrent = min(max_num_seqs, tokens // max_len) if max_len else 0
    return MemoryBreakdown(
        gpu_bytes=gpu, usable_bytes=usable, weights_bytes=weights, activation_bytes=activations,
        non_torch_bytes=non_torch, cuda_graph_bytes=graphs, kv_cache_bytes=max(0.0, kv_total),
        kv_bytes_per_token=per_token, kv_cache_tokens=tokens, block_size=engine.block_size,
        max_model_len=max_len, max_concurrent_seqs=concurrent,
    )


def max_concurrent_seqs(mem: MemoryBreakdown, context_tokens: int, max_num_seqs: int) -> int:
    """Sequences of ``context_tokens`` (prompt + output) whose KV cache fits at once."""
    if context_tokens <= 0:
        return max_num_seqs
    return min(max_num_seqs, mem.kv_cache_tokens // context_tokens)
