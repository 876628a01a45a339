"""Which kernel vLLM 0.33 picks for a quantized variant on an accelerator (the capacity model's input).

Design note: the cases are vLLM's own selection rules (AWQ/GPTQ upgraded to Marlin on SM >= 8.0
unless forced, Machete for W4A16 on Hopper, CUTLASS FP8 on SM >= 8.9 and FP8 Marlin below),
with catalog accelerators on both sides of each threshold.
"""

from __future__ import annotations

import pytest

from llmstack.capacity import kernel_choice as kernels
from llmstack.catalog import accelerators
from llmstack.spec.models import VariantSpec


def variant(**fields: object) -> VariantSpec:
    return VariantSpec.model_validate({"name": "v", "weights": "org/w", **fields})


@pytest.mark.parametrize("fields, accelerator, kernel", [
    pytest.param({}, "L4", "unquantized", id="bf16"),
    pytest.param({"quantization": "awq"}, "L4", "awq_marlin", id="awq-ada-marlin"),
    pytest.param({"quantization": "awq"}, "T4", "awq", id="awq-turing-no-marlin"),
    pytest.param({"quantization": "gptq"}, "A100-SXM-80GB", "gptq_marlin", id="gptq-ampere"),
    pytest.param({"quantization": "compressed-tensors", "quantization_scheme": "w4a16"}, "H100-SXM-80GB", "machete",
                 id="w4a16-hopper-machete"),
    pytest.param({"quantization": "compressed-tensors", "quantization_scheme": "w4a16"}, "L40S", "marlin",
                 id="w4a16-ada-marlin"),
    pytest.param({"quantization": "fp8"}, "H100-SXM-80GB", "cutlass_fp8", id="fp8-hopper"),
    pytest.param({"quantization": "fp8"}, "A100-SXM-80GB", "fp8_marlin", id="fp8-ampere-weight-only"),
    pytest.param({"quantization": "compressed-tensors", "quantization_scheme": "w8a8-fp8"}, "MI300X", "rocm_fp8",
                 id="fp8-amd"),
])
def test_vllm_kernel(fields: dict[str, object], accelerator: str, kernel: str) -> None:
    assert kernels.vllm_kernel(variant(**fields), accelerators.get(accelerator)).name == kernel


def test_only_load_time_methods_get_a_flag() -> None:
    assert kernels.quantization_flag(variant(quantization="awq")) is None
    assert kernels.quantization_flag(variant(quantization="compressed-tensors", quantization_scheme="w8a8-fp8")) is None
    assert kernels.quantization_flag(variant(quantization="fp8")) == "fp8"
