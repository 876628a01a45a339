"""Observations over a window from Prometheus: one query per quantity for all deployments.

Quantities are averaged over the whole window (``rate(x[W])``, ``avg_over_time``),
unlike the policy engine's 1-minute signals: an assessment describes a period.
SLO attainment is the share of requests in the histogram bucket at or below the SLO
(vLLM's bucket boundaries, so the bound used is reported); deployments whose SLOs fall
on the same bucket share one query.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

from prometheus_client.utils import floatToGoString

from llmstack.assess.analysis import Observation
from llmstack.catalog.loading import data_file
from llmstack.metrics.reading import MetricsSource
from llmstack.spec.models import StackSpec

TTFT = "vllm:time_to_first_token_seconds"
TPOT = "vllm:request_time_per_output_token_seconds"


def window_queries(window: str) -> dict[str, str]:
    """PromQL per quantity, each grouped by deployment."""
    w = window
    requests = f"sum by (deployment) (rate(vllm:request_success_total[{w}]))"
    return {
        "replicas": f'sum by (deployment) (avg_over_time(up{{llmstack_role="engine"}}[{w}]))',
        "request_rate": requests,
        "prompt_tokens_per_request": f"sum by (deployment) (rate(vllm:prompt_tokens_total[{w}])) / {requests}",
        "output_tokens_per_request": f"sum by (deployment) (rate(vllm:generation_tokens_total[{w}])) / {requests}",
        "queue_length": f"sum by (deployment) (avg_over_time(vllm:num_requests_waiting[{w}]))",
        "kv_cache_usage": f"avg by (deployment) (avg_over_time(vllm:kv_cache_usage_perc[{w}]))",
        "preemption_rate": f"sum by (deployment) (rate(vllm:num_preemptions_total[{w}]))",
        "ttft_p95_s": f"histogram_quantile(0.95, sum by (deployment, le) (rate({TTFT}_bucket[{w}])))",
        "tpot_p95_s": f"histogram_quantile(0.95, sum by (deployment, le) (rate({TPOT}_bucket[{w}])))",
        "gpu_utilization": f"avg by (deployment) (avg_over_time(DCGM_FI_DEV_GPU_UTIL[{w}])) / 100",
    }


def bucket_at_or_below(histogram: str, seconds: float) -> float:
    """The largest bucket boundary of vLLM's ``histogram`` that is <= ``seconds`` (the smallest if none)."""
    buckets = next(m["buckets"] for m in data_file("vllm-metrics.json")["metrics"] if m["name"] == histogram)
    below = [b for b in buckets if b <= seconds + 1e-12]
    return float(below[-1] if below else buckets[0])


def attainment_query(histogram: str, bound: float, window: str) -> str:
    le = floatToGoString(bound)
    return (f'sum by (deployment) (increase({histogram}_bucket{{le="{le}"}}[{window}])) / '
            f"sum by (deployment) (increase({histogram}_count[{window}]))")


@dataclass(frozen=True)
class WindowObservations:
    observations: list[Observation]
    queries: int
    bounds: dict[str, tuple[float, float]]  # deployment -> (TTFT bound, TPOT bound) used for attainment


def _by_deployment(source: MetricsSource, expr: str) -> dict[str, float]:
    return {s.labels.get("deployment", ""): s.value for s in source.query(expr)}


def observe(source: MetricsSource, stack: StackSpec, window: str = "1h") -> WindowObservations:
    """Read every quantity of every deployment of ``stack`` over ``window``."""
    values: dict[str, dict[str, float]] = {}
    queries = 0
    for field, expr in window_queries(window).items():
        values[field] = _by_deployment(source, expr)
        queries += 1
    bounds: dict[str, tuple[float, float]] = {}
    attain: dict[str, dict[str, float]] = {"ttft": {}, "tpot": {}}
    groups: dict[tuple[str, str, float], list[str]] = defaultdict(list)
    for d in stack.deployments:
        ttft_b = bucket_at_or_below(TTFT, d.slo.ttft_p95_ms / 1000)
        tpot_b = bucket_at_or_below(TPOT, d.slo.tpot_p95_ms / 1000)
        bounds[d.name] = (ttft_b, tpot_b)
        groups[("ttft", TTFT, ttft_b)].append(d.name)
        groups[("tpot", TPOT, tpot_b)].append(d.name)
    for (kind, histogram, bound), names in sorted(groups.items()):
        answer = _by_deployment(source, attainment_query(histogram, bound, window))
        queries += 1
        for name in names:
            if name in answer:
                attain[kind][name] = answer[name]
    observations = [
        Observation(
            deployment=d.name,
            **{field: _get(values[field], d.name) for field in window_queries(window)},
            ttft_attainment=_get(attain["ttft"], d.name),
            tpot_attainment=_get(attain["tpot"], d.name),
        )
        for d in stack.deployments
    ]
    return WindowObservations(observations, queries, bounds)


def _get(values: Mapping[str, float], name: str) -> float:
    return values.get(name, math.nan)
