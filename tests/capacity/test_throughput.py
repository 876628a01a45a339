"""Roofline speed model: batch-1 latencies from first principles, saturation, SLO sizing.

Design note: expected values are recomputed here from the published hardware figures
(not copied from the implementation's output), so a wrong constant or unit fails.
"""

from __future__ import annotations

import math

import pytest

from llmstack.capacity import throughput
from llmstack.spec import resolving
from llmstack.spec.models import SloSpec, WorkloadSpec
from tests.conftest import make_stack


def _profile(**kw: object) -> throughput.EngineProfile:
    stack = make_stack(**kw)
    return throughput.profile(resolving.resolve(stack, stack.deployments[0]))


def test_decode_at_batch_one_is_weight_bandwidth_bound() -> None:
    p = _profile()
    # Llama-3.1-8B bf16 on H100: 16.06 GB of weights over 3.35 TB/s at 75 % => 6.39 ms + overhead
    expected = 16.06e9 / (3350e9 * throughput.DECODE_MBU) + throughput.STEP_OVERHEAD_S
    assert throughput.step_time(p, decode_seqs=1, decode_context_tokens=100) == pytest.approx(expected, rel=0.01)


def test_prefill_is_compute_bound_for_long_prompts() -> None:
    p = _profile()
    tokens = 4096
    flops = 2 * 8.03e9 * tokens
    lower = flops / (989e12 * throughput.PREFILL_MFU)
    t = throughput.prefill_time(p, tokens)
    assert lower < t < lower * 1.6


def test_single_request_latency_matches_step_sum() -> None:
    p = _profile()
    lat = throughput.single_request_latency(p, 512, 10)
    decode = sum(throughput.step_time(p, decode_seqs=1, decode_context_tokens=512 + i) for i in range(1, 10))
    assert lat.ttft_s == pytest.approx(throughput.prefill_time(p, 512))
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
    # the roofline ceiling at 1000 tokens of context: each token must read its sequence's KV cache
    ceiling = (3350e9 * throughput.DECODE_MBU) / (1000 * 128 * 1024)
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
    full = p.weight_bytes_per_gpu / (p.bandwidth_per_gpu * throughput.DECODE_MBU)
    assert one < full * 0.5
