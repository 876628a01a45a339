"""Memory model against known values (config.json arithmetic and public checkpoint sizes)."""

from __future__ import annotations

import pytest

from llmstack.capacity import memory, validity
from llmstack.catalog import accelerators, architectures
from llmstack.spec import resolving
from llmstack.spec.models import EngineOptions, VariantSpec
from tests.conftest import make_stack

BF16 = VariantSpec(name="bf16", weights="x")


def test_llama_3_1_8b_kv_cache_is_128_kib_per_token_bf16() -> None:
    assert memory.kv_bytes_per_token(architectures.get("Llama-3.1-8B")) == 128 * 1024


def test_fp8_kv_cache_halves_bytes_per_token() -> None:
    arch = architectures.get("Llama-3.1-8B")
    fp8 = VariantSpec(name="kv8", weights="x", kv_cache_dtype="fp8")
    assert memory.kv_bytes_per_token_per_gpu(arch, memory.kv_dtype_bytes(fp8), 1, 1) == 64 * 1024


def test_llama_3_1_8b_bf16_weights_about_16_gb() -> None:
    arch = architectures.get("Llama-3.1-8B")
    fmt = memory.weight_format(BF16, accelerators.get("H100-SXM-80GB"))
    assert memory.weights_bytes(arch, fmt) / 1e9 == pytest.approx(16.06, abs=0.1)


def test_awq_int4_weights_near_public_checkpoint_size() -> None:
    # hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4 is about 5.7 GB on disk
    arch = architectures.get("Llama-3.1-8B")
    awq = VariantSpec(name="awq", weights="x", quantization="awq")
    fmt = memory.weight_format(awq, accelerators.get("L4"))
    assert memory.weights_bytes(arch, fmt) / 1e9 == pytest.approx(5.7, abs=0.3)


def test_kv_heads_replicated_when_tp_exceeds_them() -> None:
    arch = architectures.get("Llama-3.1-70B")  # 8 KV heads
    per_gpu_tp8 = memory.kv_bytes_per_token_per_gpu(arch, 2, 8, 1)
    per_gpu_tp16 = memory.kv_bytes_per_token_per_gpu(arch, 2, 16, 1)
    assert per_gpu_tp8 == per_gpu_tp16 == memory.kv_bytes_per_token(arch) // 8


def test_llama_70b_bf16_does_not_fit_one_h100() -> None:
    stack = make_stack(model_spec={"name": "m", "architecture": "Llama-3.1-70B",
                                   "variants": [{"name": "bf16", "weights": "meta-llama/Llama-3.1-70B"}]})
    found = validity.problems(resolving.resolve(stack, stack.deployments[0]))
    assert len(found) == 1
    assert "does not fit" in found[0].message and "131.5 GiB weights" in found[0].message


def test_llama_70b_bf16_fits_tp4_h100_with_kv_room() -> None:
    stack = make_stack(tensor_parallel=4, engine={"max_model_len": 32768},
                       model_spec={"name": "m", "architecture": "Llama-3.1-70B",
                                   "variants": [{"name": "bf16", "weights": "meta-llama/Llama-3.1-70B"}]})
    r = resolving.resolve(stack, stack.deployments[0])
    assert validity.problems(r) == []
    mem = memory.breakdown(r.architecture, r.variant, r.accelerator, r.deployment.engine, 4, 1)
    assert mem.weights_bytes / memory.GIB == pytest.approx(32.9, abs=0.2)
    assert mem.kv_cache_bytes / memory.GIB > 20
    assert mem.max_concurrent_seqs >= 4


def test_kv_capacity_grows_with_gpu_memory_utilization() -> None:
    arch, accel = architectures.get("Llama-3.1-8B"), accelerators.get("L4")
    low = memory.breakdown(arch, BF16, accel, EngineOptions(gpu_memory_utilization=0.85, max_model_len=2048))
    high = memory.breakdown(arch, BF16, accel, EngineOptions(gpu_memory_utilization=0.95, max_model_len=2048))
    assert high.kv_cache_tokens > low.kv_cache_tokens
    # gpu_memory_utilization scales torch's total: L4's 23034 MiB less the driver reserve, not 24e9 bytes
    assert (high.kv_cache_bytes - low.kv_cache_bytes) == pytest.approx(
        0.10 * (23034 - memory.DRIVER_RESERVED_MIB) * 2**20, rel=1e-6)


def test_vllm_batch_defaults_follow_memory_size() -> None:
    assert memory.default_max_num_seqs(accelerators.get("H100-SXM-80GB")) == 1024
    assert memory.default_max_num_seqs(accelerators.get("A100-SXM-80GB")) == 256
    assert memory.default_max_num_batched_tokens(accelerators.get("H200-SXM-141GB")) == 8192
    assert memory.default_max_num_batched_tokens(accelerators.get("B200")) == 16384
    assert memory.default_max_num_batched_tokens(accelerators.get("L4")) == 2048


def test_gpu_memory_is_what_the_driver_reports_not_decimal_gb() -> None:
    h100, rtx3090 = accelerators.get("H100-SXM-80GB"), accelerators.get("RTX-3090")
    assert h100.memory_mib == 81559
    assert memory.cuda_total_bytes(h100) / memory.GIB == pytest.approx(79.2, abs=0.1)
    # vLLM logged "Free memory on device (22.93/23.56 GiB)" on an RTX 3090 (catalog cuda_total_mib)
    assert memory.cuda_total_bytes(rtx3090) / memory.GIB == pytest.approx(23.56, abs=0.01)


def test_every_catalog_accelerator_names_its_memory_source() -> None:
    for accel in accelerators.all_accelerators().values():
        assert accel.memory_source, accel.name
        assert accel.cuda_total_mib is None or accel.cuda_total_source, accel.name


def test_kv_cache_is_whole_blocks() -> None:
    arch, accel = architectures.get("Llama-3.1-8B"), accelerators.get("L4")
    for block in (16, 32):
        mem = memory.breakdown(arch, BF16, accel, EngineOptions(max_model_len=2048, block_size=block))
        assert mem.kv_cache_tokens % block == 0 and mem.kv_cache_tokens > 0


def test_moe_workspace_follows_top_k_not_expert_count() -> None:
    mixtral = architectures.get("Mixtral-8x7B-v0.1")
    more_experts = mixtral.model_copy(update={"moe": mixtral.moe.model_copy(update={"num_experts": 64})})
    assert memory.activation_bytes(mixtral, 8192, 1, 1) == memory.activation_bytes(more_experts, 8192, 1, 1)
    top4 = mixtral.model_copy(update={"moe": mixtral.moe.model_copy(update={"experts_per_token": 4})})
    assert memory.activation_bytes(top4, 8192, 1, 1) > memory.activation_bytes(mixtral, 8192, 1, 1)


def test_legacy_memory_gb_of_inline_accelerator_becomes_mib() -> None:
    from llmstack.spec.models import AcceleratorSpec
    accel = AcceleratorSpec(name="V100", memory_gb=32, memory_bandwidth_gb_s=900, bf16_tflops=125)
    assert accel.memory_mib == int(32e9 / 2**20) and "memory_gb" in (accel.memory_source or "")


def test_sort_path_sampler_leaves_less_kv_cache_than_flashinfer() -> None:
    # vLLM's dummy sampler run (top_k = vocab - 1, top_p < 1) over max_num_seqs rows: the PyTorch sort path
    # holds sorted values, int64 indices, masks and softmax, FlashInfer's kernel none of them
    arch, accel = architectures.get("Llama-3.1-8B"), accelerators.get("A100-SXM-80GB")
    engine = EngineOptions(max_model_len=8192, max_num_batched_tokens=512, max_num_seqs=512)
    native = memory.breakdown(arch, BF16, accel, engine, vllm=memory.VLLM_PROFILES["v1-native-sampler"])
    flashinfer = memory.breakdown(arch, BF16, accel, engine, vllm=memory.VLLM_PROFILES["v1-flashinfer-sampler"])
    logits = 512 * arch.vocab_size
    assert native.activation_bytes == pytest.approx(logits * memory.SORT_SAMPLER_BYTES_PER_LOGIT)
    assert flashinfer.kv_cache_bytes - native.kv_cache_bytes == pytest.approx(
        logits * (memory.SORT_SAMPLER_BYTES_PER_LOGIT - memory.SAMPLER_BYTES_PER_LOGIT))


def test_v1_0_7_profile_computes_logits_for_every_profiled_token() -> None:
    arch = architectures.get("Llama-3.1-8B")
    v07 = memory.VLLM_PROFILES["v1-0.7"]
    # 8192 tokens in 256 dummy requests: 0.7 kept bf16 logits for all 8192 rows, later lines one per request
    assert memory.activation_bytes(arch, 8192, 256, 1, v07) == 8192 * arch.vocab_size * memory.BF16_LOGIT_BYTES
    assert memory.activation_bytes(arch, 8192, 256, 1) < memory.activation_bytes(arch, 8192, 256, 1, v07)


def test_plan_uses_the_current_vllm_profile_with_cuda_graphs() -> None:
    assert memory.CURRENT.cuda_graphs_in_profile
    assert not memory.VLLM_PROFILES["v1-native-sampler"].cuda_graphs_in_profile


def test_nvls_buffers_only_on_nvswitch_hopper_with_more_than_two_ranks() -> None:
    # NCCL's "nvlsPerRankSize 301989888 nvlsTotalSize 2415919104" at 8 ranks (vllm#9699): 288 MiB per rank,
    # two communicators per TP group (pynccl and torch's NCCL group)
    h100, pcie, nvl, a100 = (accelerators.get(n) for n in ("H100-SXM-80GB", "H100-PCIe-80GB", "H100-NVL",
                                                            "A100-SXM-80GB"))
    assert memory.nvls_bytes(h100, 8) == 2 * 2415919104
    assert memory.nvls_bytes(h100, 4) == 2 * 4 * 301989888
    assert memory.nvls_bytes(h100, 2) == 0
    assert memory.nvls_bytes(pcie, 8) == memory.nvls_bytes(nvl, 4) == memory.nvls_bytes(a100, 8) == 0
    arch = architectures.get("Llama-3.1-70B")
    engine = EngineOptions(max_model_len=8192)
    tp4 = memory.breakdown(arch, BF16, h100, engine, 4, 1)
    tp4_pcie = memory.breakdown(arch, BF16, pcie, engine, 4, 1)
    assert tp4_pcie.kv_cache_bytes - tp4.kv_cache_bytes == pytest.approx(memory.nvls_bytes(h100, 4))
