"""A lower bound on the GPU-hours of any schedule that reaches an SLO attainment on a trace.

The oracle (:mod:`llmstack.sim.oracle`) is the cheapest schedule a search found that meets the
target: an upper estimate of the true minimum. This module gives the other side, a number no
schedule of the simulated fleet can beat, and why:

1. **Work per token.** Every engine step takes :func:`~llmstack.capacity.throughput.step_time` for
   the tokens it schedules, never less than ``floor_s`` per token (:func:`token_floor_s`: the
   linear layers' FLOPs of one token at the compute rate).
2. **Work per request.** A finished request had its prompt prefilled except for prefix blocks an
   earlier request already brought into a cache (at most every block seen before), and every
   output token decoded, so it cost at least ``floor_s x (uncached prompt + output)`` of one
   replica's time (a preemption only adds recomputation).
3. **Where the work lies.** A request within the SLO got its first token within the TTFT SLO of
   arriving and its last within ``TPOT SLO x (output - 1)`` more; all of its work lies in that
   window. Cut time into blocks; in each block the replicas up provide at least the work of the
   in-SLO requests whose whole window falls inside it, and at least ``replicas.min`` replicas are up.
4. **Which requests.** Reaching attainment ``A`` of ``N`` requests needs at least ``ceil(A N)``
   within the SLO; the bound lets the costliest others miss (the cheapest choice for any schedule).
5. **Start-up.** The block needing the most replicas needs at least ``ceil(work / block)`` up at
   once; each beyond those up at t=0 was requested ``startup_delay_s`` earlier, at full GPU cost.

Summed over blocks, x GPUs per replica: GPU-hours no schedule within the deployment's replica
range reaches the attainment with fewer. Loose where latency, not work, sets the fleet (replicas
idle between requests to keep queues short), which the oracle/bound gap shows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from llmstack.capacity import throughput
from llmstack.capacity.throughput import EngineProfile
from llmstack.sim.engine import PREFIX_BLOCK_TOKENS
from llmstack.sim.traces import Trace
from llmstack.spec.models import DeploymentSpec, StackSpec
from llmstack.spec.resolving import resolve

BLOCK_S = 60.0


def token_floor_s(p: EngineProfile) -> float:
    """The fewest seconds per scheduled token of any engine step: its linear-layer FLOPs at the compute rate.

    :func:`~llmstack.capacity.throughput.step_time` is ``max(compute, memory) + fixed`` with
    ``compute`` = (linear + attention FLOPs) / rate and ``fixed`` >= 0, so a step of ``k`` tokens takes
    at least ``k`` x the linear FLOPs of one token over the rate (:func:`throughput.decode_terms`' ``c0``).
    """
    return throughput.decode_terms(p, 1).c0


def request_work_s(p: EngineProfile, trace: Trace, prefix_caching: bool) -> list[float]:
    """Per request: the least replica time it costs (uncached prompt plus output tokens at the floor)."""
    floor = token_floor_s(p)
    seen: set[int] = set()
    work = []
    for r in trace.requests:
        cached = 0
        if prefix_caching and r.hash_ids:
            for h in r.hash_ids:
                if h not in seen:
                    break
                cached += PREFIX_BLOCK_TOKENS
            seen.update(r.hash_ids)
        work.append(floor * (max(0, r.prompt_tokens - cached) + r.output_tokens))
    return work


@dataclass(frozen=True)
class Bound:
    gpu_hours: float
    attainment: float
    replica_seconds: list[float]
    """Per block of :data:`BLOCK_S`: the least replica-seconds up."""
    peak_replicas: int


def lower_bound(stack: StackSpec, deployment: DeploymentSpec, trace: Trace, attainment: float, *,
                startup_delay_s: float, initial_replicas: int, prefix_caching: bool | None = None) -> Bound:
    """GPU-hours below which no schedule reaches ``attainment`` on ``trace`` (see the module docstring)."""
    p = throughput.profile(resolve(stack, deployment))
    caching = deployment.engine.enable_prefix_caching if prefix_caching is None else prefix_caching
    work = request_work_s(p, trace, caching)
    ttft, tpot = deployment.slo.ttft_p95_ms / 1000, deployment.slo.tpot_p95_ms / 1000
    must = math.ceil(attainment * len(trace.requests) - 1e-9)
    served = sorted(range(len(work)), key=lambda i: work[i])[:must]
    blocks = int((trace.duration_s + ttft) // BLOCK_S) + 1
    inside = [0.0] * blocks
    for i in served:
        r = trace.requests[i]
        start, end = r.arrival_s, r.arrival_s + ttft + tpot * max(0, r.output_tokens - 1)
        if int(start // BLOCK_S) == int(end // BLOCK_S):
            inside[int(start // BLOCK_S)] += work[i]
    low = deployment.replicas.min
    seconds = [max(low * max(0.0, min(BLOCK_S, trace.duration_s - b * BLOCK_S)), w) for b, w in enumerate(inside)]
    peak = max([math.ceil(w / BLOCK_S - 1e-9) for w in inside] + [low])
    startup = max(0, peak - initial_replicas) * startup_delay_s
    gpus = deployment.gpus_per_replica
    return Bound((sum(seconds) + startup) * gpus / 3600.0, attainment, seconds, peak)
