"""Validity rules: can this variant run on this pool with this parallelism at all?

Each rule returns :class:`Problem` objects (never raises), so the planner can list
rejected options with their reasons and ``check_deployment`` can raise the first.

Quantization support follows vLLM's supported-hardware table (docs "Quantization >
Supported Hardware"; Volta = SM 7.0, Turing 7.5, Ampere 8.0/8.6, Ada 8.9, Hopper 9.0)
and the FP8 W8A8 page: FP8 compute needs SM >= 8.9; on Turing/Ampere FP8 checkpoints
run weight-only through the FP8 Marlin kernel.
"""

from __future__ import annotations

from dataclasses import dataclass

from llmstack.capacity import memory
from llmstack.errors import LlmstackError
from llmstack.spec.models import AcceleratorSpec, ArchitectureSpec, VariantSpec
from llmstack.spec.resolving import ResolvedDeployment

GIB = memory.GIB


@dataclass(frozen=True)
class Problem:
    path: str
    message: str
    hint: str | None = None

    def error(self) -> LlmstackError:
        return LlmstackError(self.message, path=self.path, hint=self.hint)


@dataclass(frozen=True)
class QuantSupport:
    """Minimum NVIDIA SM version, and whether AMD (ROCm) runs it."""

    min_sm: tuple[int, int]
    amd: bool
    label: str


QUANT_SUPPORT: dict[str, QuantSupport] = {
    "awq": QuantSupport((7, 5), False, "AWQ"),
    "gptq": QuantSupport((7, 0), False, "GPTQ"),
    "awq_marlin": QuantSupport((8, 0), False, "Marlin (AWQ)"),
    "gptq_marlin": QuantSupport((8, 0), False, "Marlin (GPTQ)"),
    "fp8": QuantSupport((7, 5), True, "FP8 (W8A8 on SM >= 8.9, weight-only Marlin on SM 7.5-8.6)"),
    "modelopt": QuantSupport((7, 5), False, "ModelOpt FP8"),
    "w8a8-fp8": QuantSupport((7, 5), True, "FP8 (W8A8 on SM >= 8.9, weight-only Marlin on SM 7.5-8.6)"),
    "w8a8-int8": QuantSupport((7, 5), False, "INT8 (W8A8)"),
    "w4a16": QuantSupport((8, 0), False, "INT4 W4A16 (Marlin)"),
    "w8a16": QuantSupport((8, 0), False, "INT8 W8A16 (Marlin)"),
    "experts_int8": QuantSupport((7, 0), True, "experts_int8"),
}


def _sm(cc: tuple[int, int]) -> str:
    return f"{cc[0]}.{cc[1]}"


def divisors_up_to(n: int, limit: int) -> list[int]:
    return [d for d in range(1, min(n, limit) + 1) if n % d == 0]


def quantization_problem(variant: VariantSpec, arch: ArchitectureSpec, accel: AcceleratorSpec,
                         path: str) -> Problem | None:
    if variant.quantization is None:
        return None
    key = variant.quantization_scheme or variant.quantization
    support = QUANT_SUPPORT[key]
    if key == "experts_int8" and arch.moe is None:
        return Problem(path, f"experts_int8 quantizes MoE experts, and {arch.name} is not a MoE model")
    if accel.platform is not None and accel.platform.backend != "rocm":
        return _platform_quantization_problem(key, support, accel, path)
    if accel.vendor == "amd":
        if not support.amd:
            return Problem(path, f"{support.label} is not supported by vLLM on AMD GPUs ({accel.name})",
                           hint="use fp8 or an unquantized variant on AMD")
        return None
    if accel.vendor != "nvidia":
        return Problem(path, f"{support.label} is not supported by vLLM on {accel.vendor} accelerators "
                       f"({accel.name})", hint="use an unquantized variant")
    cc = accel.compute_capability_tuple
    if cc is None:
        return Problem(path, f"accelerator {accel.name} has no compute_capability; cannot check {support.label}",
                       hint="set compute_capability on the inline accelerator")
    if cc < support.min_sm:
        return Problem(
            path,
            f"{support.label} needs compute capability >= {_sm(support.min_sm)}; "
            f"{accel.name} has {accel.compute_capability}",
            hint="pick a newer GPU class or another quantization (gptq runs on SM 7.0)",
        )
    return None


def _platform_quantization_problem(key: str, support: QuantSupport, accel: AcceleratorSpec,
                                   path: str) -> Problem | None:
    """TPU and Gaudi: only what their vLLM backend runs (catalog ``platform.quantization``)."""
    assert accel.platform is not None
    allowed = accel.platform.quantization
    if key in allowed:
        return None
    runs = f"it runs {', '.join(allowed)}" if allowed else "it runs unquantized (BF16) weights only"
    return Problem(path, f"{support.label} is not supported by vLLM's {accel.platform.backend} backend on "
                   f"{accel.name}; {runs}", hint="use an unquantized variant" + (
                       f" or compressed-tensors {allowed[0]}" if allowed else ""))


def platform_problem(resolved: ResolvedDeployment) -> Problem | None:
    """Devices per replica the accelerator's vLLM backend supports (TPU slices, Gaudi cards)."""
    platform = resolved.accelerator.platform
    d = resolved.deployment
    if platform is None or not platform.tensor_parallel:
        return None
    devices = d.tensor_parallel * d.pipeline_parallel
    if d.pipeline_parallel == 1 and devices in platform.tensor_parallel:
        return None
    return Problem(f"deployments[{d.name}].tensor_parallel",
                   f"vLLM's {platform.backend} backend on {resolved.accelerator.name} runs TP "
                   f"{'/'.join(map(str, platform.tensor_parallel))} without pipeline parallelism; got TP "
                   f"{d.tensor_parallel} x PP {d.pipeline_parallel}",
                   hint=f"use tensor_parallel in {platform.tensor_parallel} and pipeline_parallel 1")


def problems(resolved: ResolvedDeployment) -> list[Problem]:
    """Every reason ``resolved`` cannot run (empty list: it can)."""
    d, arch, accel, pool, variant = (resolved.deployment, resolved.architecture, resolved.accelerator,
                                     resolved.pool, resolved.variant)
    base = f"deployments[{d.name}]"
    found: list[Problem] = []
    tp, pp = d.tensor_parallel, d.pipeline_parallel
    if arch.num_attention_heads % tp:
        found.append(Problem(
            f"{base}.tensor_parallel",
            f"{tp} does not divide {arch.num_attention_heads} attention heads of {arch.name}",
            hint="use " + ", ".join(map(str, divisors_up_to(arch.num_attention_heads, 64))),
        ))
    elif tp > arch.num_kv_heads and tp % arch.num_kv_heads:
        found.append(Problem(
            f"{base}.tensor_parallel",
            f"{tp} is above {arch.name}'s {arch.num_kv_heads} KV heads but not a multiple of them",
            hint="KV heads are replicated only when TP is a multiple of them",
        ))
    if pp > arch.num_layers:
        found.append(Problem(f"{base}.pipeline_parallel",
                             f"{pp} pipeline stages exceed {arch.num_layers} layers of {arch.name}"))
    gpus = tp * pp
    most = pool.max_gpus
    if gpus > most:
        found.append(Problem(
            f"{base}.tensor_parallel",
            f"one replica needs TP {tp} x PP {pp} = {gpus} GPUs; pool {pool.name} has at most "
            f"{pool.nodes.max} node(s) x {pool.gpus_per_node} GPUs = {most}",
        ))
    quant = quantization_problem(variant, arch, accel, f"models[{resolved.model.name}].variants[{variant.name}]"
                                 ".quantization")
    if quant is not None:
        found.append(quant)
    platform = platform_problem(resolved)
    if platform is not None:
        found.append(platform)
    max_len = d.engine.max_model_len
    if max_len is not None and max_len > arch.max_position_embeddings:
        found.append(Problem(
            f"{base}.engine.max_model_len",
            f"{max_len} exceeds {arch.name}'s context limit of {arch.max_position_embeddings} tokens",
            hint=f"use at most {arch.max_position_embeddings}",
        ))
    if not found:
        fit = memory_problem(resolved)
        if fit is not None:
            found.append(fit)
    return found


def memory_problem(resolved: ResolvedDeployment) -> Problem | None:
    d = resolved.deployment
    mem = memory.breakdown(resolved.architecture, resolved.variant, resolved.accelerator, d.engine,
                           d.tensor_parallel, d.pipeline_parallel)
    if mem.fits:
        return None
    needed = mem.needed_bytes / d.engine.gpu_memory_utilization
    gpus = d.tensor_parallel * d.pipeline_parallel
    return Problem(
        f"deployments[{d.name}]",
        f"variant {resolved.variant.name} ({resolved.architecture.name}) does not fit: each of {gpus} "
        f"{resolved.accelerator.name} GPU(s) needs {mem.weights_bytes / GIB:.1f} GiB weights + "
        f"{(mem.activation_bytes + mem.overhead_bytes) / GIB:.1f} GiB runtime + "
        f"{mem.kv_bytes_per_token * mem.max_model_len / GIB:.2f} GiB KV cache for one {mem.max_model_len}-token "
        f"sequence = {needed / GIB:.1f} GiB at gpu_memory_utilization {d.engine.gpu_memory_utilization}, "
        f"and has {mem.gpu_bytes / GIB:.1f} GiB",
        hint="raise tensor_parallel, use a quantized variant, a larger GPU, or lower engine.max_model_len",
    )


def check_deployment(resolved: ResolvedDeployment) -> None:
    """Raise the first problem of ``resolved`` as an :class:`LlmstackError`."""
    found = problems(resolved)
    if found:
        raise found[0].error()
