"""Memory per GPU: weights, KV cache, runtime reserve, and whether a deployment fits.

All functions are pure. Bytes are exact integers where the inputs are exact
(KV cache per token) and floats where they come from approximations (weights
of quantized checkpoints, activation peaks).

How vLLM budgets memory (V1 engine): of ``total x gpu_memory_utilization``, it
keeps the weights, the peak activation measured in a profiling forward pass of
``max_num_batched_tokens`` tokens, and non-torch allocations (CUDA context, NCCL,
CUDA graphs); everything left becomes KV-cache blocks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from llmstack.spec.models import AcceleratorSpec, ArchitectureSpec, EngineOptions, VariantSpec

GIB = 1024**3
GB = 1e9

BF16_BYTES = 2
"""Unquantized weights and activations are 16-bit (bf16/fp16)."""

QUANT_GROUP_SIZE = 128
"""AWQ/GPTQ/W4A16 checkpoints store one fp16 scale and one packed zero point per group of 128 weights."""

RUNTIME_OVERHEAD_BYTES = 1.5 * GIB
"""CUDA context, cuBLAS/NCCL workspaces and captured CUDA graphs (vLLM logs 0.5-1.5 GiB for graphs)."""

ACTIVATION_VALUES_PER_TOKEN_HIDDEN = 4
"""Peak activation per token ~ (4 x hidden + 2 x intermediate / TP) bf16 values: the tensors alive at once
in one layer's attention and MLP during vLLM's profiling pass of max_num_batched_tokens tokens."""

SAMPLER_BYTES_PER_LOGIT = 4
"""Logits for the sampler are float32: max_num_seqs x vocab x 4 bytes."""

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
    """Per-GPU memory of one replica, in bytes, and what is left for the KV cache."""

    gpu_bytes: float
    usable_bytes: float
    weights_bytes: float
    activation_bytes: float
    overhead_bytes: float
    kv_cache_bytes: float
    kv_bytes_per_token: int
    kv_cache_tokens: int
    max_model_len: int
    max_concurrent_seqs: int

    @property
    def fits(self) -> bool:
        return self.kv_cache_bytes > 0 and self.kv_cache_tokens >= self.max_model_len

    @property
    def needed_bytes(self) -> float:
        """Bytes a GPU must offer (before gpu_memory_utilization) for one full-length sequence."""
        return self.weights_bytes + self.activation_bytes + self.overhead_bytes + self.kv_bytes_per_token * (
            self.max_model_len
        )


def supports_fp8_compute(accelerator: AcceleratorSpec) -> bool:
    """FP8 W8A8 needs FP8 tensor cores: NVIDIA SM >= 8.9 (Ada, Hopper, Blackwell) or an AMD part with FP8."""
    if accelerator.fp8_tflops is None:
        return False
    cc = accelerator.compute_capability_tuple
    return cc is None or cc >= (8, 9)


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
        return WeightFormat(bits + overhead, "bf16", True, f"int{bits} weight-only")
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


def default_max_num_seqs(accelerator: AcceleratorSpec) -> int:
    """vLLM 0.33 ``get_batch_defaults`` for the OpenAI server: 1024 on >= 70 GiB parts except A100, else 256."""
    gib = accelerator.memory_gb * GB / GIB
    if gib >= 160 or (gib >= 70 and not accelerator.name.startswith("A100")):
        return 1024
    return 256


def default_max_num_batched_tokens(accelerator: AcceleratorSpec) -> int:
    """vLLM 0.33 ``get_batch_defaults``: 16384 on >= 160 GiB, 8192 on >= 70 GiB (not A100), else 2048."""
    gib = accelerator.memory_gb * GB / GIB
    if gib >= 160:
        return 16384
    if gib >= 70 and not accelerator.name.startswith("A100"):
        return 8192
    return 2048


def activation_bytes(arch: ArchitectureSpec, tokens: int, max_num_seqs: int, tensor_parallel: int) -> float:
    values = ACTIVATION_VALUES_PER_TOKEN_HIDDEN * arch.hidden_size + 2 * arch.intermediate_size / tensor_parallel
    per_token = values * BF16_BYTES
    sampler = max_num_seqs * arch.vocab_size * SAMPLER_BYTES_PER_LOGIT / tensor_parallel
    return tokens * per_token + sampler


def breakdown(
    arch: ArchitectureSpec,
    variant: VariantSpec,
    accelerator: AcceleratorSpec,
    engine: EngineOptions,
    tensor_parallel: int = 1,
    pipeline_parallel: int = 1,
) -> MemoryBreakdown:
    """Per-GPU memory of one replica and the KV cache that is left."""
    fmt = weight_format(variant, accelerator)
    shards = tensor_parallel * pipeline_parallel
    weights = weights_bytes(arch, fmt, variant.sparsity) / shards
    max_num_seqs = engine.max_num_seqs or default_max_num_seqs(accelerator)
    batched = engine.max_num_batched_tokens or default_max_num_batched_tokens(accelerator)
    activations = activation_bytes(arch, batched, max_num_seqs, tensor_parallel)
    gpu = accelerator.memory_gb * GB
    usable = gpu * engine.gpu_memory_utilization
    kv_total = usable - weights - activations - RUNTIME_OVERHEAD_BYTES
    per_token = kv_bytes_per_token_per_gpu(arch, kv_dtype_bytes(variant), tensor_parallel, pipeline_parallel)
    kv_tokens = max(0, int(kv_total // per_token))
    # vLLM allocates whole blocks
    kv_tokens -= kv_tokens % engine.block_size
    max_len = engine.max_model_len or arch.max_position_embeddings
    concurrent = min(max_num_seqs, kv_tokens // max_len) if max_len else 0
    return MemoryBreakdown(
        gpu_bytes=gpu,
        usable_bytes=usable,
        weights_bytes=weights,
        activation_bytes=activations,
        overhead_bytes=RUNTIME_OVERHEAD_BYTES,
        kv_cache_bytes=max(0.0, kv_total),
        kv_bytes_per_token=per_token,
        kv_cache_tokens=kv_tokens,
        max_model_len=max_len,
        max_concurrent_seqs=concurrent,
    )


def max_concurrent_seqs(mem: MemoryBreakdown, context_tokens: int, max_num_seqs: int) -> int:
    """Sequences of ``context_tokens`` (prompt + output) whose KV cache fits at once."""
    if context_tokens <= 0:
        return max_num_seqs
    return min(max_num_seqs, mem.kv_cache_tokens // context_tokens)
