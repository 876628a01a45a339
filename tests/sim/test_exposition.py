"""A simulated replica's /metrics: vLLM 0.33's names, types and labels, and values that follow the engine."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from llmstack.capacity import throughput
from llmstack.sim.engine import Engine, SimRequest
from llmstack.sim.exposition import ReplicaMetrics, default_metrics
from llmstack.spec.models import StackSpec
from llmstack.spec.resolving import resolve


def _replica(example_stack: StackSpec) -> tuple[Engine, ReplicaMetrics]:
    engine = Engine(throughput.profile(resolve(example_stack, example_stack.deployment("chat"))))
    metrics = ReplicaMetrics("chat-model", engine, max_model_len=8192, gpus=2, gpu_model="NVIDIA L4",
                             gpu_memory_mib=23034, gpu_memory_utilization=0.9, replica_id="r0")
    return engine, metrics


def _samples(text: bytes) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text.decode()) for s in family.samples}


def _key(name: str, **labels: str) -> tuple[str, frozenset[tuple[str, str]]]:
    return name, frozenset(labels.items())


def _family_types(text: bytes) -> dict[str, str]:
    return {family.name: family.type for family in text_string_to_metric_families(text.decode())}


def test_every_default_vllm_metric_is_exposed_with_its_type(example_stack: StackSpec) -> None:
    _, metrics = _replica(example_stack)
    types = _family_types(metrics.exposition(0.0, 0.0))
    for entry in default_metrics():
        family = entry["name"].removesuffix("_total") if entry["type"] == "counter" else entry["name"]
        kind = entry["type"].split()[0]  # "gauge (info-style, value always 1)" is a gauge
        assert types.get(family) == kind, entry["name"]
    assert {"DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE"} <= set(types)


def test_values_follow_the_engine_and_the_requests(example_stack: StackSpec) -> None:
    engine, metrics = _replica(example_stack)
    requests = [SimRequest(i, 0.1 * i, 200, 20) for i in range(5)]
    engine.run(requests)
    for request in requests:
        metrics.first_token(request)
        metrics.finished(request, max_tokens=20)
    samples = _samples(metrics.exposition(10.0, 0.0))
    base = {"engine": "0", "model_name": "chat-model"}
    assert samples[_key("vllm:request_success_total", **base, finished_reason="length")] == 5
    assert samples[_key("vllm:generation_tokens_total", **base)] == 5 * 20
    assert samples[_key("vllm:prompt_tokens_total", **base)] == 5 * 200
    assert samples[_key("vllm:time_to_first_token_seconds_count", **base)] == 5
    assert samples[_key("vllm:num_requests_running", **base)] == 0
    assert samples[_key("vllm:num_requests_waiting", **base)] == 0
    gpu0 = {"UUID": "GPU-sim-r0-0", "gpu": "0", "modelName": "NVIDIA L4"}
    assert samples[_key("DCGM_FI_DEV_FB_USED", **gpu0)] == round(23034 * 0.9)


def test_gpu_utilization_is_the_busy_share_since_the_last_scrape(example_stack: StackSpec) -> None:
    _, metrics = _replica(example_stack)
    metrics.exposition(100.0, 40.0)
    samples = _samples(metrics.exposition(110.0, 47.5))  # 7.5 s busy of 10 s
    assert samples[_key("DCGM_FI_DEV_GPU_UTIL", UUID="GPU-sim-r0-1", gpu="1", modelName="NVIDIA L4")] == 75
