"""vLLM 0.33-format Prometheus metrics (and DCGM-style GPU gauges) for one simulated replica.

Every metric vLLM's V1 ``PrometheusStatLogger`` registers by default is built from the catalog
(:file:`llmstack/catalog/data/vllm-metrics.json`) with its exact name, type, help, labels and
histogram buckets, in one :class:`prometheus_client.CollectorRegistry` per replica; metrics that
vLLM registers only under an option (LoRA, spec decode, KV-transfer, ``--kv-cache-metrics``) are
left out, as vLLM leaves them out by default. Values come from the engine model's counters.
DCGM gauges (``DCGM_FI_DEV_GPU_UTIL``, ``DCGM_FI_DEV_FB_USED``, ``DCGM_FI_DEV_FB_FREE`` with a
``gpu`` label per GPU of the replica) are served on the same registry so GPU signals work.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from llmstack.catalog.loading import data_file
from llmstack.sim.engine import Engine, SimRequest

ENUMERATED = {
    "reason": ["capacity", "deferred"],
    "finished_reason": ["stop", "length", "abort", "error", "repetition"],
    "sleep_state": ["awake", "weights_offloaded", "discard_all"],
}
PROMPT_SOURCES = ["local_compute", "local_cache_hit", "external_kv_transfer"]
CACHED_SOURCES = ["device", "host", "p2p", "disk", "external_unspecified"]
MIB = 1024 * 1024


def build_1_2_5_buckets(max_value: int) -> list[float]:
    """vLLM's ``build_1_2_5_buckets``: 1, 2, 5, 10, 20, 50, ... up to ``max_value``."""
    buckets: list[float] = []
    exponent = 0
    while True:
        for mantissa in (1, 2, 5):
            value = mantissa * 10**exponent
            if value > max_value:
                return buckets
            buckets.append(float(value))
        exponent += 1


def default_metrics() -> list[dict[str, Any]]:
    """Catalog entries of the metrics vLLM 0.33 registers without extra options."""
    return [m for m in data_file("vllm-metrics.json")["metrics"]
            if "condition" not in m or "always registered" in m["condition"]]


class ReplicaMetrics:
    """One replica's registry; call :meth:`sync` after engine steps and :meth:`finished` per request."""

    def __init__(self, model_name: str, engine: Engine, *, max_model_len: int, gpus: int, gpu_model: str,
                 gpu_memory_mib: float, gpu_memory_utilization: float, replica_id: str) -> None:
        self.registry = CollectorRegistry()
        self.engine = engine
        self.model_name = model_name
        self.metrics: dict[str, Any] = {}
        self._last: dict[str, float] = {}
        for m in default_metrics():
            name, kind, labels = m["name"], m["type"], list(m["labels"])
            if kind == "counter":
                metric: Any = Counter(name.removesuffix("_total") if name.endswith("_total") else name, m["help"],
                                      labels, registry=self.registry)
            elif kind == "histogram":
                buckets = m["buckets"] if isinstance(m["buckets"], list) else build_1_2_5_buckets(max_model_len)
                metric = Histogram(name, m["help"], labels, buckets=buckets, registry=self.registry)
            else:
                metric = Gauge(name, m["help"], labels, registry=self.registry)
            self.metrics[name] = metric
            self._precreate(name, metric, labels)
        info = self.metrics["vllm:cache_config_info"]
        values = {"engine": "0", "block_size": str(engine.block_size), "num_gpu_blocks": str(engine.total_blocks),
                  "enable_prefix_caching": str(engine.prefix_caching),
                  "gpu_memory_utilization": str(gpu_memory_utilization),
                  "kv_cache_size_tokens": str(engine.profile.kv_cache_tokens), "cache_dtype": "auto"}
        info_labels = next(m["labels"] for m in default_metrics() if m["name"] == "vllm:cache_config_info")
        info.labels(**{k: values.get(k, "") for k in info_labels}).set(1)
        self.metrics["vllm:engine_sleep_state"].labels(model_name, "0", "awake").set(1)
        self.gpu_util = Gauge("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %).", ["gpu", "UUID", "modelName"],
                              registry=self.registry)
        self.fb_used = Gauge("DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB).",
                             ["gpu", "UUID", "modelName"], registry=self.registry)
        self.fb_free = Gauge("DCGM_FI_DEV_FB_FREE", "Framebuffer memory free (in MiB).",
                             ["gpu", "UUID", "modelName"], registry=self.registry)
        self.gpus = [(str(i), f"GPU-sim-{replica_id}-{i}", gpu_model) for i in range(gpus)]
        for gpu in self.gpus:
            self.fb_used.labels(*gpu).set(round(gpu_memory_mib * gpu_memory_utilization))
            self.fb_free.labels(*gpu).set(round(gpu_memory_mib * (1 - gpu_memory_utilization)))
            self.gpu_util.labels(*gpu).set(0)
        self._busy_mark: tuple[float, float] | None = None

    def _precreate(self, name: str, metric: Any, labels: list[str]) -> None:
        base = {"model_name": self.model_name, "engine": "0"}
        if labels == ["model_name", "engine"]:
            metric.labels(**base)
            return
        extra = [label for label in labels if label not in base]
        if len(extra) != 1:
            return
        label = extra[0]
        if name == "vllm:prompt_tokens_by_source":
            values = PROMPT_SOURCES
        elif name == "vllm:prompt_tokens_cached_by_source":
            values = CACHED_SOURCES
        elif name == "vllm:admission_rejections":
            values = ["max_num_queued_reqs", "max_num_queued_tokens"]
        else:
            values = ENUMERATED.get(label, [])
        for value in values:
            metric.labels(**{k: v for k, v in {**base, label: value}.items() if k in labels})

    def _labels(self, name: str, **extra: str) -> Any:
        return self.metrics[name].labels(model_name=self.model_name, engine="0", **extra)

    def _bump(self, name: str, current: float, **extra: str) -> None:
        key = name + repr(sorted(extra.items()))
        delta = current - self._last.get(key, 0.0)
        if delta > 0:
            self._labels(name, **extra).inc(delta)
        self._last[key] = current

    def sync(self) -> None:
        """Bring gauges and counters up to the engine's state."""
        e = self.engine
        self._labels("vllm:num_requests_running").set(len(e.running))
        self._labels("vllm:num_requests_waiting").set(len(e.waiting))
        self._labels("vllm:num_requests_waiting_by_reason", reason="capacity").set(len(e.waiting))
        self._labels("vllm:kv_cache_usage_perc").set(e.kv_usage)
        self._bump("vllm:prefix_cache_queries", e.prefix_queries)
        self._bump("vllm:prefix_cache_hits", e.prefix_hits)
        self._bump("vllm:num_preemptions", e.preemptions)
        self._bump("vllm:prompt_tokens", e.prompt_tokens)
        self._bump("vllm:prompt_tokens_cached", e.cached_prompt_tokens)
        self._bump("vllm:prompt_tokens_by_source", e.computed_prompt_tokens, source="local_compute")
        self._bump("vllm:prompt_tokens_by_source", e.cached_prompt_tokens, source="local_cache_hit")
        self._bump("vllm:generation_tokens", e.generation_tokens)
        if e.iteration_tokens:
            histogram = self._labels("vllm:iteration_tokens_total")
            for tokens in e.iteration_tokens:
                histogram.observe(tokens)
            e.iteration_tokens.clear()

    def first_token(self, request: SimRequest) -> None:
        assert request.first_token_s is not None
        self._labels("vllm:time_to_first_token_seconds").observe(request.first_token_s - request.arrival_s)

    def token_gap(self, seconds: float, count: int = 1) -> None:
        histogram = self._labels("vllm:inter_token_latency_seconds")
        for _ in range(count):
            histogram.observe(seconds)

    def finished(self, request: SimRequest, max_tokens: int, finished_reason: str = "length") -> None:
        """A request that ended with ``finished_reason`` ``stop`` or ``length`` (aborted ones are not counted)."""
        assert request.first_token_s is not None and request.finish_s is not None
        scheduled = request.first_scheduled_s if request.first_scheduled_s is not None else request.arrival_s
        self._labels("vllm:request_success", finished_reason=finished_reason).inc()
        self._labels("vllm:e2e_request_latency_seconds").observe(request.finish_s - request.arrival_s)
        self._labels("vllm:request_queue_time_seconds").observe(scheduled - request.arrival_s)
        self._labels("vllm:request_inference_time_seconds").observe(request.finish_s - scheduled)
        self._labels("vllm:request_prefill_time_seconds").observe(request.first_token_s - scheduled)
        self._labels("vllm:request_decode_time_seconds").observe(request.finish_s - request.first_token_s)
        self._labels("vllm:request_time_per_output_token_seconds").observe(request.tpot_s)
        self._labels("vllm:request_prompt_tokens").observe(request.prompt_tokens)
        self._labels("vllm:request_generation_tokens").observe(request.output_tokens)
        self._labels("vllm:request_max_num_generation_tokens").observe(max_tokens)
        self._labels("vllm:request_params_max_tokens").observe(max_tokens)
        self._labels("vllm:request_params_n").observe(1)
        self._labels("vllm:request_num_preemptions").observe(request.preemptions)
        self._labels("vllm:request_prefill_kv_computed_tokens").observe(request.prompt_tokens - request.cached_tokens)

    def exposition(self, sim_now: float, busy_s: float) -> bytes:
        """The text exposition, with GPU utilization over the time since the previous scrape."""
        self.sync()
        if self._busy_mark is not None and sim_now > self._busy_mark[0]:
            util = min(100.0, 100.0 * (busy_s - self._busy_mark[1]) / (sim_now - self._busy_mark[0]))
            for gpu in self.gpus:
                self.gpu_util.labels(*gpu).set(round(util))
        self._busy_mark = (sim_now, busy_s)
        return generate_latest(self.registry)
