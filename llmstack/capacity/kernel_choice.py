"""Which quantization flag llmstack passes to vLLM, and which linear kernel vLLM will then pick.

Pure functions of the variant and the accelerator, for ``artifacts.vllm_args`` (the flag) and
the capacity model (its efficiency factors in :mod:`llmstack.capacity.kernels` can key on :attr:`Kernel.name`).

vLLM reads a pre-quantized checkpoint's ``quantization_config`` itself and picks the fastest
kernel for the GPU; an explicit ``--quantization`` overrides that choice. Two ways that goes
wrong, and what is done instead:

- ``--quantization awq`` (or ``gptq``) forces vLLM's original AWQ/GPTQ kernels, although vLLM
  would pick the Marlin kernels (several times faster in decode) on SM >= 8.0 if left alone;
- ``--quantization fp8`` on an llm-compressor checkpoint, which declares ``compressed-tensors``,
  is refused by vLLM ("quantization method specified in the model config ... does not match").

So checkpoint-declared methods (awq, awq_marlin, gptq, gptq_marlin, compressed-tensors,
modelopt) get **no flag**: vLLM detects them. Only methods that quantize BF16 weights while
loading (``fp8`` dynamic, ``experts_int8``) are passed; vLLM also accepts ``--quantization fp8``
for a checkpoint that declares ``fp8``. The kernel choice follows vLLM 0.33's
``override_quantization_method`` (AWQ/GPTQ Marlin when SM >= 8.0), the mixed-precision kernel
order (Machete on Hopper, Marlin otherwise, for W4A16/W8A16) and the FP8 path (CUTLASS W8A8 on
SM >= 8.9, FP8 Marlin weight-only below, ROCm's own on AMD).
"""

from __future__ import annotations

from dataclasses import dataclass

from llmstack.capacity import memory
from llmstack.catalog.entries import AcceleratorSpec
from llmstack.spec.models import VariantSpec

DECLARED_BY_CHECKPOINT = frozenset({"awq", "awq_marlin", "gptq", "gptq_marlin", "compressed-tensors", "modelopt"})
"""Methods a checkpoint declares in its config.json ``quantization_config``: vLLM detects them."""
ONLINE = frozenset({"fp8", "experts_int8"})
"""Methods that quantize while loading (fp8 also names FP8 checkpoints): they need the flag."""


@dataclass(frozen=True)
class Kernel:
    name: str
    """``unquantized``, ``awq``, ``awq_marlin``, ``gptq``, ``gptq_marlin``, ``marlin``, ``machete``,
    ``cutlass_fp8``, ``fp8_marlin``, ``rocm_fp8``, ``cutlass_int8``, ``experts_int8``, or the
    backend's own (``tpu``, ``hpu``) off GPUs."""
    weight_only: bool
    """Weights are dequantized to 16 bits inside the matmul (activations stay 16-bit)."""


def quantization_flag(variant: VariantSpec) -> str | None:
    """The ``--quantization`` value to pass (None: pass nothing, vLLM reads the checkpoint)."""
    method = variant.quantization
    if method is None or method in DECLARED_BY_CHECKPOINT:
        return None
    return method


def vllm_kernel(variant: VariantSpec, accelerator: AcceleratorSpec) -> Kernel:
    """The linear kernel vLLM 0.33 uses for ``variant`` on ``accelerator`` (given :func:`quantization_flag`)."""
    method = variant.quantization_scheme or variant.quantization
    if method is None:
        return Kernel("unquantized", False)
    if accelerator.vendor not in ("nvidia", "amd"):
        return Kernel(_backend(accelerator), method not in ("w8a8-int8", "w8a8-fp8", "fp8"))
    sm = accelerator.compute_capability_tuple or (0, 0)
    nvidia = accelerator.vendor == "nvidia"
    marlin = memory.supports_marlin(accelerator)  # one rule for both: NVIDIA SM >= 8.0
    if method in ("awq", "awq_marlin"):
        return Kernel("awq_marlin" if marlin else "awq", True)
    if method in ("gptq", "gptq_marlin"):
        bits = variant.weight_bits or 4
        return Kernel("gptq_marlin" if marlin and bits in (4, 8) else "gptq", True)
    if method in ("w4a16", "w8a16"):
        return Kernel("machete" if nvidia and sm >= (9, 0) else "marlin", True)
    if method in ("fp8", "w8a8-fp8", "modelopt"):
        if not nvidia:
            return Kernel("rocm_fp8", False)
        return Kernel("cutlass_fp8", False) if memory.supports_fp8_compute(accelerator) else Kernel("fp8_marlin", True)
    if method == "w8a8-int8":
        return Kernel("cutlass_int8", False)
    return Kernel(method, True)  # experts_int8: MoE experts int8 weight-only


def _backend(accelerator: AcceleratorSpec) -> str:
    return {"google": "tpu", "intel": "hpu"}.get(accelerator.vendor, accelerator.vendor)
