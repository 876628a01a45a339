"""Closed-loop clients on one simulated replica, offline: what ``vllm bench serve --max-concurrency C`` measures.

``clients`` clients each send a request, and the next one the moment the last finishes (its
``finish_s``, which includes the API server's time), with output lengths drawn from
:mod:`llmstack.sim.lengths` around their mean (``sigma`` 0: every request the mean). The first
requests start spread over ``stagger_s``. The capacity model's closed-loop estimate
(:func:`llmstack.capacity.throughput.estimate_concurrency`) is checked against this
(tests/sim/test_closed_loop.py).
"""

from __future__ import annotations

import heapq
import math
import random
import statistics
from dataclasses import dataclass

from llmstack.capacity.throughput import EngineProfile
from llmstack.sim import lengths
from llmstack.sim.engine import Engine, SimRequest

WARMUP_SHARE = 0.2
"""The first finished requests left out of the summary (the start-up transient)."""


@dataclass(frozen=True)
class ClosedLoopResult:
    clients: int
    requests: int
    output_tokens_per_s: float
    ttft_mean_s: float
    tpot_mean_s: float
    """Token-weighted: decode time over tokens after the first (vLLM's inter-token latency mean)."""


def _requests(profile: EngineProfile, clients: int, prompt_tokens: int, output_tokens: float, sigma: float,
              total: int, rng: random.Random, stagger_s: float) -> list[SimRequest]:
    """Run the loop; the finished requests in completion order."""
    engine = Engine(profile)
    arrivals = sorted(rng.uniform(0, stagger_s) for _ in range(clients))
    finished: list[SimRequest] = []
    sent = 0
    now = 0.0
    while (arrivals and sent < total) or engine.has_work:
        end = engine.plan.end if engine.plan is not None else math.inf
        if arrivals and sent < total and arrivals[0] < end:
            now = max(now, heapq.heappop(arrivals))
            sent += 1
            engine.admit(SimRequest(sent, now, prompt_tokens, lengths.draw(rng, output_tokens, sigma)), now)
            continue
        if engine.plan is None:
            break
        now = engine.plan.end
        for request in engine.complete():
            finished.append(request)
            assert request.finish_s is not None
            heapq.heappush(arrivals, request.finish_s)
        engine.start(now)
    return finished


def run(profile: EngineProfile, clients: int, prompt_tokens: int, output_tokens: float, *, requests: int,
        sigma: float = lengths.OUTPUT_SIGMA, seed: int = 0, stagger_s: float = 0.5) -> ClosedLoopResult:
    """``requests`` requests from ``clients`` closed-loop clients; the summary after the warm-up."""
    if clients < 1 or requests < 2 * clients:
        raise ValueError("need at least one client and two requests per client")
    done = _requests(profile, clients, prompt_tokens, output_tokens, sigma, requests, random.Random(seed), stagger_s)
    warm = done[int(len(done) * WARMUP_SHARE):]
    first, last = warm[0].finish_s, warm[-1].finish_s
    assert first is not None and last is not None and last > first
    decode_s = sum(r.finish_s - r.first_token_s for r in warm if r.finish_s is not None and r.first_token_s is not None)
    return ClosedLoopResult(
        clients=clients, requests=len(warm),
        output_tokens_per_s=sum(r.output_tokens for r in warm[1:]) / (last - first),
        ttft_mean_s=statistics.fmean(r.ttft_s for r in warm),
        tpot_mean_s=decode_s / max(1, sum(r.output_tokens - 1 for r in warm)))
