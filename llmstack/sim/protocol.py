"""The autoscaler interface and the signals the simulated fleet feeds it.

Every ``interval_s`` (default 15 s, one Prometheus scrape) the fleet computes one snapshot for its
deployment: a ``dict[str, float]`` keyed by the signal names of :mod:`llmstack.catalog.signals`,
over the same 1-minute window their PromQL uses, so a policy sees in simulation what it would
read from Prometheus:

- rates (``request_rate``, ``generation_tokens_rate``, ``prompt_tokens_rate``,
  ``preemption_rate``) are counter increases over the window divided by its length;
- gauges (``queue_length``, ``running_requests`` summed; ``kv_cache_usage`` averaged and
  ``kv_cache_usage_max`` maxed over up replicas) are read at the scrape;
- quantiles (``ttft_p50``, ``ttft_p95``, ``tpot_p95``, ``e2e_latency_p95``) are computed like
  ``histogram_quantile`` over vLLM's bucket boundaries for the observations in the window,
  so they carry the same bucket interpolation; with no observations they are NaN, as in
  Prometheus;
- ``gpu_utilization`` is the share of the window each up replica's GPU spent stepping (DCGM's
  GPU_UTIL), averaged; ``gpu_memory_used`` is vLLM's preallocation
  (``gpu_memory_utilization``); ``replicas_up`` counts engines that answer scrapes.

The router's signals (:func:`llmstack.catalog.signals.router_signals`: HAProxy's exporter and the
router's hold) are
present on every snapshot: ``router_queue_length`` (requests held while no replica is up) and
``router_request_rate`` (arrivals over the window), ``router_request_irate`` (arrivals since the
previous tick, Prometheus' ``irate``). With no replica up, they and ``replicas_up`` (0)
are the only ones: the engines' series would not exist.

Right after ``desired_replicas``, at the same tick, the fleet asks ``desired_shape(now_s, current)``
for a move to another :class:`~llmstack.spec.scaling.Shape` (variant, pool, TP): a
:class:`~llmstack.spec.scaling.ShapeChange` starts replicas of the new shape and drains the old ones
as they become ready (:mod:`llmstack.sim.fleet`); None keeps the shape. The types live in
:mod:`llmstack.spec.scaling` so that the policy engine answers them without importing the simulator.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

from llmstack.catalog.loading import data_file
from llmstack.spec.scaling import Shape, ShapeChange

SIGNAL_NAMES = (
    "request_rate", "queue_length", "running_requests", "kv_cache_usage", "kv_cache_usage_max", "ttft_p50",
    "ttft_p95", "tpot_p95", "e2e_latency_p95", "generation_tokens_rate", "prompt_tokens_rate", "preemption_rate",
    "replicas_up", "gpu_utilization", "gpu_memory_used",
)
"""The names of :func:`llmstack.catalog.signals.signals`, in order (checked by a test)."""
ROUTER_SIGNAL_NAMES = ("router_queue_length", "router_request_rate", "router_request_irate")
"""The names of :func:`llmstack.catalog.signals.router_signals`, in order (checked by a test)."""


@runtime_checkable
class Autoscaler(Protocol):
    """Decides a deployment's replica count (and, optionally, a new shape) from a signal snapshot.

    Every member is part of the interface: the fleet reads no optional attributes.
    :class:`FromDeployment` gives the usual answers to ``respect_limits``, ``initial_replicas`` and
    ``desired_shape`` (never move).
    """

    name: str
    respect_limits: bool
    """Whether the fleet clamps the answers to the deployment's ``replicas.min..max`` (a fixed fleet is not)."""

    def initial_replicas(self) -> int | None:
        """Replicas up at t=0 (None: the deployment's ``replicas.start``)."""
        ...

    def desired_replicas(self, now_s: float, signals: Mapping[str, float], current: int) -> int: ...

    def desired_shape(self, now_s: float, current: Shape) -> ShapeChange | None:
        """Asked right after ``desired_replicas`` at the same tick: move to another shape (None: keep ``current``)."""
        ...


class FromDeployment:
    """Starts at the deployment's ``replicas.start`` and is clamped to its replica range."""

    respect_limits = True

    def initial_replicas(self) -> int | None:
        return None

    def desired_shape(self, now_s: float, current: Shape) -> ShapeChange | None:
        return None


def vllm_buckets(metric: str) -> tuple[float, ...]:
    """Bucket upper bounds of a vLLM histogram from the catalog (time histograms have fixed lists)."""
    for m in data_file("vllm-metrics.json")["metrics"]:
        if m["name"] == metric:
            buckets = m["buckets"]
            if isinstance(buckets, list):
                return tuple(float(b) for b in buckets)
    raise KeyError(metric)


def histogram_quantile(q: float, bounds: Sequence[float], values: Sequence[float]) -> float:
    """Prometheus' ``histogram_quantile`` over ``values`` bucketed at ``bounds`` (plus +Inf).

    Linear interpolation inside the bucket holding the rank; the first bucket starts at 0; a rank
    in the +Inf bucket returns the highest finite bound; no observations give NaN.
    """
    total = len(values)
    if total == 0:
        return math.nan
    counts = [0] * (len(bounds) + 1)
    for v in values:
        lo, hi = 0, len(bounds)
        while lo < hi:  # first bound >= v (le semantics)
            mid = (lo + hi) // 2
            if bounds[mid] >= v:
                hi = mid
            else:
                lo = mid + 1
        counts[lo] += 1
    rank = q * total
    cumulative = 0
    for i, count in enumerate(counts):
        if cumulative + count >= rank and count > 0:
            if i == len(bounds):
                return bounds[-1]
            lower = bounds[i - 1] if i > 0 else 0.0
            upper = bounds[i]
            return lower + (upper - lower) * (rank - cumulative) / count
        cumulative += count
    return bounds[-1]
