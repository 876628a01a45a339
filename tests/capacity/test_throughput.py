"""Roofline speed model: batch-1 latencies from first principles, saturation, SLO sizing.

Design note: expected values are recomputed here from the published hardware figures
(not copied from the implementation's output), so a wrong constant or unit fails.
"""

from __future__ import annotations

import math

import pytest

from llmstack.capacity import kernels, memory, throughput
from llmstack.spec import resolving
from llmstack.spec.models import SloSpec, WorkloadSpec
from tests.conftest import make_stack


def _profile(**kw: object) -> throughput.EngineProfile:
    stack = make_stack(**kw)
    return throughput.profile(resolving.resolve(stack, stack.deployments[0]))


def test_decode_at_batch_one_is_weight_bandwidth_bound() -> None:
    p = _profile()
    # Llama-3.1-8B bf16 on H100: 16.06 GB of weights over 3.35 TB/s at 85 % => 5.64 ms + the fixed step
    # overhead, counted once (the bandwidth efficiency is a kernel property, not overhead in disguise)
    expected = 16.06e9 / (3350e9 * kernels.BASE_BANDWIDTH_EFFICIENCY) + throughput.STEP_OVERHEAD_S \
        + 32 * throughput.PER_LAYER_OVERHEAD_S + throughput.PER_SEQUENCE_OVERHEAD_S
    assert throughput.step_time(p, decode_seqs=1, decode_context_tokens=100) == pytest.approx(expected, rel=0.01)


def test_prefill_is_compute_bound_for_long_prompts() -> None:
    p = _profile()
    tokens = 4096
    flops = 2 * 8.03e9 * tokens
    lower = flops / (989e12 * kernels.BASE_COMPUTE_EFFICIENCY)
    t = throughput.prefill_time(p, tokens)
    assert lower < t < lower * 1.6


def test_single_request_latency_matches_step_sum() -> None:
    p = _profile()
    lat = throughput.single_request_latency(p, 512, 10)
    decode = sum(throughput.step_time(p, decode_seqs=1, decode_context_tokens=512 + i) for i in range(1, 10))
    assert lat.ttft_s == pytest.approx(p.api_server_s + throughput.prefill_time(p, 512))
    assert lat.tpot_s == pytest.approx(decode / 9)


def test_tensor_parallel_lowers_tpot() -> None:
    one, four = _profile(), _profile(tensor_parallel=4)
    assert throughput.single_request_latency(four, 1024, 64).tpot_s < \
        throughput.single_request_latency(one, 1024, 64).tpot_s / 2


def test_throughput_saturates_with_batch() -> None:
    p = _profile()
    per_token = [throughput.step_time(p, decode_seqs=b, decode_context_tokens=b * 1000) / b
                 for b in (1, 8, 64, 256)]
    assert per_token == sorted(per_token, reverse=True)
    # the ceiling at 1000 tokens of context: each token must read its sequence's KV cache and pay the
    # engine's per-sequence step overhead
    kv_read_s = 1000 * 128 * 1024 / (3350e9 * kernels.BASE_BANDWIDTH_EFFICIENCY)
    ceiling = 1 / (kv_read_s + p.per_sequence_overhead_s)
    rates = [b / throughput.step_time(p, decode_seqs=b, decode_context_tokens=b * 1000) for b in (256, 4096)]
    assert rates[0] < rates[1] < ceiling
    assert rates[1] > 0.8 * ceiling


def test_fp8_w8a8_prefill_faster_than_bf16_on_h100() -> None:
    fp8_model = {"name": "m", "architecture": "Llama-3.1-8B",
                 "variants": [{"name": "bf16", "weights": "x", "quantization": "fp8"}]}
    assert throughput.prefill_time(_profile(model_spec=fp8_model), 4096) < \
        throughput.prefill_time(_profile(), 4096) * 0.7


def test_fp8_on_a100_saves_memory_not_compute() -> None:
    a100 = {"name": "gpu", "accelerator": "A100-SXM-80GB", "gpus_per_node": 8, "cost_per_gpu_hour": 1.8}
    fp8_model = {"name": "m", "architecture": "Llama-3.1-8B",
                 "variants": [{"name": "bf16", "weights": "x", "quantization": "fp8"}]}
    bf16, fp8 = _profile(pool_spec=a100), _profile(pool_spec=a100, model_spec=fp8_model)
    assert fp8.peak_flops_per_gpu == bf16.peak_flops_per_gpu
    assert fp8.weight_bytes_per_gpu < bf16.weight_bytes_per_gpu * 0.6


def test_load_estimate_latency_grows_with_rate_and_saturates() -> None:
    p = _profile()
    w = WorkloadSpec(prompt_tokens=1024, output_tokens=256)
    cap = throughput.saturation_rps(p, w)
    low, high = throughput.estimate_load(p, w, cap * 0.1), throughput.estimate_load(p, w, cap * 0.9)
    assert low.ttft_p95_s < high.ttft_p95_s and low.tpot_s < high.tpot_s
    assert math.isinf(throughput.estimate_load(p, w, cap * 1.01).ttft_p95_s)


def test_sustainable_rate_meets_slo_and_next_step_does_not() -> None:
    p = _profile()
    w = WorkloadSpec(prompt_tokens=1024, output_tokens=256)
    slo = SloSpec(ttft_p95_ms=500, tpot_p95_ms=40)
    rps = throughput.sustainable_rps(p, w, slo)
    assert rps > 0
    ok = throughput.estimate_load(p, w, rps)
    assert ok.ttft_p95_s <= 0.5 and ok.tpot_s <= 0.040
    over = throughput.estimate_load(p, w, rps * 1.05)
    assert over.ttft_p95_s > 0.5 or over.tpot_s > 0.040


def test_impossible_slo_gives_zero_rate() -> None:
    assert throughput.sustainable_rps(_profile(), WorkloadSpec(), SloSpec(ttft_p95_ms=1, tpot_p95_ms=1)) == 0


def test_moe_reads_fewer_weights_at_batch_one() -> None:
    mixtral = {"name": "m", "architecture": "Mixtral-8x7B-v0.1", "variants": [{"name": "bf16", "weights": "x"}]}
    p = _profile(model_spec=mixtral, tensor_parallel=2)
    one = throughput.step_time(p, decode_seqs=1)
    full = p.weight_bytes_per_gpu / (p.bandwidth_per_gpu * p.bandwidth_efficiency)
    assert one < full * 0.5


def test_moe_decode_pays_the_fused_moe_chain_per_layer() -> None:
    # Qwen3-30B-A3B bf16 on one A100-80GB at batch 1: the routed experts' and dense weights at the base
    # bandwidth efficiency, plus per layer the fused-MoE chain's fixed time and the dense per-layer launches
    qwen = {"name": "m", "architecture": "Qwen3-30B-A3B", "variants": [{"name": "bf16", "weights": "x"}]}
    p = _profile(model_spec=qwen, pool_spec={"name": "gpu", "accelerator": "A100-SXM-80GB", "gpus_per_node": 8,
                                             "cost_per_gpu_hour": 2.0})
    assert p.moe_layers == 48
    experts = 3 * 2048 * 768 * 8 * 48 * 2  # 8 routed experts of 3 x hidden x 768, 48 layers, bf16
    dense = p.weight_bytes_per_gpu * (1 - p.expert_weight_fraction)
    memory_s = (experts + dense + p.kv_bytes_per_token_per_gpu) / (2039e9 * kernels.BASE_BANDWIDTH_EFFICIENCY)
    fixed_s = throughput.STEP_OVERHEAD_S + 48 * (throughput.PER_LAYER_OVERHEAD_S + throughput.MOE_LAYER_KERNEL_S) \
        + throughput.PER_SEQUENCE_OVERHEAD_S
    assert throughput.step_time(p, decode_seqs=1) == pytest.approx(memory_s + fixed_s, rel=0.01)
    assert _profile().moe_layers == 0  # dense Llama: no fused-MoE time


def test_v0_engine_pays_more_per_running_sequence_than_v1() -> None:
    stack = make_stack()
    resolved = resolving.resolve(stack, stack.deployments[0])
    v0 = throughput.profile(resolved, memory.VLLM_PROFILES["v0.6"])
    v1 = throughput.profile(resolved)
    assert v0.per_sequence_overhead_s == throughput.V0_PER_SEQUENCE_OVERHEAD_S
    assert v1.per_sequence_overhead_s == throughput.PER_SEQUENCE_OVERHEAD_S
    extra = throughput.step_time(v0, decode_seqs=64) - throughput.step_time(v1, decode_seqs=64)
    assert extra == pytest.approx(64 * (throughput.V0_PER_SEQUENCE_OVERHEAD_S - throughput.PER_SEQUENCE_OVERHEAD_S))


def test_pipeline_parallel_spreads_prefill_compute_not_decode_latency() -> None:
    seventy = {"name": "m", "architecture": "Llama-3.1-70B", "variants": [{"name": "bf16", "weights": "x"}]}
    pool = {"name": "gpu", "accelerator": "H100-SXM-80GB", "gpus_per_node": 4, "cost_per_gpu_hour": 2.0,
            "nodes": {"min": 0, "max": 2}}
    tp4 = _profile(model_spec=seventy, pool_spec=pool, tensor_parallel=4, engine={"max_model_len": 8192})
    tp4pp2 = _profile(model_spec=seventy, pool_spec=pool, tensor_parallel=4, pipeline_parallel=2,
                      engine={"max_model_len": 8192})
    assert throughput.prefill_time(tp4pp2, 8192) < 0.6 * throughput.prefill_time(tp4, 8192)
    one, two = (throughput.step_time(p, decode_seqs=1, decode_context_tokens=1000) for p in (tp4, tp4pp2))
    assert two == pytest.approx(one, rel=0.05)
    assert tp4pp2.kv_cache_tokens > 1.5 * tp4.kv_cache_tokens


def test_marlin_awq_beats_non_marlin_awq() -> None:
    awq = {"name": "m", "architecture": "Llama-3.1-8B",
           "variants": [{"name": "bf16", "weights": "x", "quantization": "awq"}]}
    l4 = {"name": "gpu", "accelerator": "L4", "gpus_per_node": 1, "cost_per_gpu_hour": 0.5}
    t4 = {"name": "gpu", "accelerator": "T4", "gpus_per_node": 1, "cost_per_gpu_hour": 0.3}
    marlin, slow = _profile(model_spec=awq, pool_spec=l4), _profile(model_spec=awq, pool_spec=t4)
    assert marlin.compute_label.endswith("(Marlin)") and slow.compute_label.endswith("(non-Marlin)")
    assert slow.bandwidth_efficiency < 0.5 * marlin.bandwidth_efficiency


def test_tp8_allreduce_latency_grows_with_ranks() -> None:
    seventy = {"name": "m", "architecture": "Llama-3.1-70B", "variants": [{"name": "bf16", "weights": "x"}]}
    two, eight = _profile(model_spec=seventy, tensor_parallel=2), _profile(model_spec=seventy, tensor_parallel=8)
    # per all-reduce: 6 us on NVLink at TP2, 6 + 2 x 6 = 18 us at TP8; 160 of them per step
    assert throughput.allreduce_time(eight, 1) == pytest.approx(160 * 18e-6, rel=0.02)
    assert throughput.allreduce_time(two, 1) == pytest.approx(160 * 6e-6, rel=0.02)


def test_closed_loop_throughput_grows_then_flattens_and_ttft_rises() -> None:
    p = _profile()
    w = WorkloadSpec(prompt_tokens=1024, output_tokens=128)
    runs = [throughput.estimate_concurrency(p, w, c) for c in (1, 8, 64, 512)]
    rates = [r.output_tokens_per_s for r in runs]
    assert rates == sorted(rates)
    assert rates[1] > 5 * rates[0]  # batching is nearly free at low concurrency
    assert [r.ttft_mean_s for r in runs] == sorted(r.ttft_mean_s for r in runs)
    single = throughput.single_request_latency(p, 1024, 128)
    assert runs[0].tpot_s == pytest.approx(single.tpot_s, rel=0.05)
