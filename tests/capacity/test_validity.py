"""Validity rules: TP vs heads, GPUs per node, quantization vs hardware, context length."""

from __future__ import annotations

from llmstack.capacity import memory, validity
from llmstack.catalog import accelerators
from llmstack.spec import resolving
from llmstack.spec.models import VariantSpec
from tests.conftest import make_stack

V100 = {"name": "gpu", "gpus_per_node": 8, "cost_per_gpu_hour": 1.0,
        "accelerator": {"name": "V100-SXM2-32GB", "memory_gb": 32, "memory_bandwidth_gb_s": 900,
                        "bf16_tflops": 125, "compute_capability": "7.0"}}
AWQ_MODEL = {"name": "m", "architecture": "Llama-3.1-8B",
             "variants": [{"name": "bf16", "weights": "hugging-quants/Llama-3.1-8B-AWQ", "quantization": "awq"}]}


def _problems(**kw: object) -> list[validity.Problem]:
    stack = make_stack(**kw)
    return validity.problems(resolving.resolve(stack, stack.deployments[0]))


def test_tensor_parallel_rejected_when_heads_not_divisible() -> None:
    found = _problems(tensor_parallel=3)
    assert found[0].path == "deployments[chat].tensor_parallel"
    assert found[0].message == "3 does not divide 32 attention heads of Llama-3.1-8B"
    assert found[0].hint == "use 1, 2, 4, 8, 16, 32"


def test_awq_rejected_on_v100_with_reason() -> None:
    found = _problems(pool_spec=V100, model_spec=AWQ_MODEL)
    assert len(found) == 1
    assert found[0].path == "models[m].variants[bf16].quantization"
    assert "AWQ needs compute capability >= 7.5; V100-SXM2-32GB has 7.0" in found[0].message


def test_gptq_accepted_on_v100() -> None:
    gptq = {**AWQ_MODEL, "variants": [{"name": "bf16", "weights": "x", "quantization": "gptq"}]}
    assert _problems(pool_spec=V100, model_spec=gptq) == []


def test_fp8_on_a100_is_weight_only() -> None:
    fp8 = VariantSpec(name="fp8", weights="x", quantization="fp8")
    fmt = memory.weight_format(fp8, accelerators.get("A100-SXM-80GB"))
    assert (fmt.bits_per_weight, fmt.compute, fmt.weight_only) == (8, "bf16", True)
    fmt_h100 = memory.weight_format(fp8, accelerators.get("H100-SXM-80GB"))
    assert (fmt_h100.compute, fmt_h100.weight_only) == ("fp8", False)


def test_replica_larger_than_pool_rejected_with_numbers() -> None:
    found = _problems(tensor_parallel=16)
    assert any("needs TP 16 x PP 1 = 16 GPUs" in p.message and "1 node(s) x 8 GPUs = 8" in p.message
               for p in found)


def test_multi_node_replica_allowed_when_pool_has_nodes() -> None:
    pool = {"name": "gpu", "accelerator": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": {"min": 2, "max": 2},
            "cost_per_gpu_hour": 2.5}
    assert _problems(pool_spec=pool, tensor_parallel=8, pipeline_parallel=2) == []


def test_max_model_len_above_model_limit_rejected() -> None:
    found = _problems(engine={"max_model_len": 200000})
    assert found[0].path == "deployments[chat].engine.max_model_len"
    assert "131072" in found[0].message


def test_variant_too_big_says_needed_and_available_memory() -> None:
    found = _problems(pool_spec={"name": "gpu", "accelerator": "L4", "gpus_per_node": 1,
                                 "cost_per_gpu_hour": 0.5})
    assert len(found) == 1
    assert "does not fit" in found[0].message
    assert "has 22.0 GiB" in found[0].message  # 23034 MiB less the driver reserve
