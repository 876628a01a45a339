"""How much of an accelerator's datasheet peak each kind of vLLM kernel reaches.

The roofline in :mod:`llmstack.capacity.throughput` divides FLOPs by ``peak x compute
efficiency`` and bytes by ``bandwidth x bandwidth efficiency``. Both efficiencies are a base
value (what vLLM's bf16 kernels reach on NVIDIA) times a factor for the kernel that runs the
variant's linear layers (Marlin vs non-Marlin int4, FP8 W8A8 vs weight-only FP8, ...) times a
factor for the vendor's software stack (ROCm vs CUDA). Bandwidth efficiency is a pure kernel
property; everything else a step costs (scheduler, sampler, launches) is a separate fixed term,
so nothing is counted twice.

Values are tuned on the tuning rows of ``benchmarks/validation/measurements.yaml`` only and
reproduce vLLM 0.6-0.23 as measured there (see each constant).
"""

from __future__ import annotations

from dataclasses import dataclass

from llmstack.spec.models import AcceleratorSpec

BASE_COMPUTE_EFFICIENCY = 0.60
"""Share of dense bf16 peak that vLLM's large prefill GEMMs plus attention reach on NVIDIA (cuBLAS/CUTLASS
reach 60-75 % of peak on H100/A100 at these shapes; attention and norms pull the average down)."""

BASE_BANDWIDTH_EFFICIENCY = 0.85
"""Share of peak memory bandwidth a decode step's weight and KV reads reach (streaming GEMV kernels:
85-90 % of peak in microbenchmarks; A100-40GB Llama-3.1-8B batch-1 decode at ~75 tok/s is 77 % of the
roofline including the fixed step overhead)."""


@dataclass(frozen=True)
class KernelFactor:
    """Multipliers on the base efficiencies for one kind of linear-layer kernel."""

    compute: float
    bandwidth: float
    why: str


KERNEL_FACTORS: dict[str, KernelFactor] = {
    "bf16": KernelFactor(1.0, 1.0, "cuBLAS/hipBLASLt bf16 GEMM"),
    "fp8 w8a8": KernelFactor(0.75, 0.95, "CUTLASS FP8 GEMM: 2x peak, lower share of it; per-token activation quant"),
    "fp8 weight-only (Marlin)": KernelFactor(0.65, 0.85, "FP8 Marlin on pre-Ada GPUs: dequantize then bf16 MMA"),
    "int4 weight-only (Marlin)": KernelFactor(0.80, 0.80, "AWQ/GPTQ Marlin: int4 dequant in the MMA loop; at prefill "
                                              "sizes Marlin reaches 70-90 % of fp16 GEMM; no tuning row"),
    "int4 weight-only (non-Marlin)": KernelFactor(0.20, 0.35, "AWQ/GPTQ Triton/exllama kernels (no Marlin: "
                                                  "SM < 8.0, ROCm, or --quantization awq forced)"),
    "int8 weight-only (Marlin)": KernelFactor(0.60, 0.85, "W8A16 Marlin"),
    "int8 w8a8": KernelFactor(0.70, 0.95, "CUTLASS INT8 GEMM with per-token activation quant"),
    "int8 experts weight-only": KernelFactor(0.60, 0.80, "experts_int8: dequantized fused MoE"),
}
"""Kernel factor by :class:`llmstack.capacity.memory.WeightFormat` label."""


@dataclass(frozen=True)
class VendorFactor:
    compute: float
    bandwidth: float
    fp8_compute: float
    why: str


VENDOR_FACTORS: dict[str, VendorFactor] = {
    "nvidia": VendorFactor(1.0, 1.0, 1.0, "reference: the base efficiencies are NVIDIA's"),
    "amd": VendorFactor(0.70, 0.80, 0.75, "ROCm vLLM on MI300X reaches ~4.2 of 5.3 TB/s in decode and a smaller "
                        "share of its (higher) GEMM peak; hipBLASLt FP8 further below peak"),
}
"""Vendor software-stack factors (vendors not listed use NVIDIA's)."""


@dataclass(frozen=True)
class Efficiency:
    compute: float
    bandwidth: float


def efficiency(label: str, accelerator: AcceleratorSpec) -> Efficiency:
    """Compute and bandwidth efficiency of ``label`` kernels on ``accelerator``."""
    kernel = KERNEL_FACTORS.get(label, KERNEL_FACTORS["bf16"])
    vendor = VENDOR_FACTORS.get(accelerator.vendor, VENDOR_FACTORS["nvidia"])
    compute = BASE_COMPUTE_EFFICIENCY * kernel.compute * vendor.compute
    if label == "fp8 w8a8":
        compute *= vendor.fp8_compute
    return Efficiency(compute=compute, bandwidth=BASE_BANDWIDTH_EFFICIENCY * kernel.bandwidth * vendor.bandwidth)
