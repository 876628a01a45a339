"""Load shapes for the scenario matrix: arrival-rate curves with token lengths drawn from a real trace.

Each generator takes the base rate (req/s) and a ``mix`` trace whose (prompt, output) pairs are
resampled, so a synthetic shape carries a real request mix. Arrivals are Poisson with a
time-varying rate (thinning), seeded.

- :func:`diurnal_bursts`: a day compressed into ``duration_s`` (trough at the ends, 2x at the crest)
  with sharp bursts to ``burst`` x the current rate for ``burst_s`` every ``every_s``;
- :func:`flash_crowd`: the base rate, then ``factor`` x within ``rise_s`` (10x in 30 s), held
  ``hold_s``, and back;
- :func:`slow_ramp`: linear from ``start`` x to ``end`` x the base rate;
- :func:`idle_gaps`: the base rate for ``on_s``, then almost nothing for ``off_s``, repeated.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from llmstack.errors import LlmstackError
from llmstack.sim.traces import Trace, TraceRequest

RateCurve = Callable[[float], float]


def shaped(name: str, rate_at: RateCurve, duration_s: float, mix: Trace, *, seed: int = 0,
           resolution_s: float = 5.0) -> Trace:
    """Poisson arrivals at ``rate_at(t)`` over ``duration_s``, lengths resampled from ``mix``."""
    peak = max(rate_at(i * resolution_s) for i in range(int(duration_s / resolution_s) + 1))
    if peak <= 0 or not mix.requests:
        raise LlmstackError(f"load shape {name!r} has no arrivals")
    rng = random.Random(seed)
    pairs = [(r.prompt_tokens, r.output_tokens) for r in mix.requests]
    out: list[TraceRequest] = []
    t = 0.0
    while True:
        t += rng.expovariate(peak)
        if t >= duration_s:
            break
        if rng.random() * peak <= rate_at(t):
            prompt, output = pairs[rng.randrange(len(pairs))]
            out.append(TraceRequest(t, prompt, output))
    if not out:
        raise LlmstackError(f"load shape {name!r} produced no requests")
    return Trace(name, tuple(out))


def diurnal_bursts(rate: float, duration_s: float, mix: Trace, *, burst: float = 3.0, every_s: float = 480.0,
                   burst_s: float = 60.0, seed: int = 0) -> Trace:
    def rate_at(t: float) -> float:
        day = rate * (1 + (1 - math.cos(2 * math.pi * t / duration_s)) / 2)
        in_burst = t >= every_s / 2 and (t - every_s / 2) % every_s < burst_s
        return day * burst if in_burst else day

    return shaped("diurnal-bursts", rate_at, duration_s, mix, seed=seed)


def flash_crowd(rate: float, duration_s: float, mix: Trace, *, factor: float = 10.0, at_s: float | None = None,
                rise_s: float = 30.0, hold_s: float = 300.0, seed: int = 0) -> Trace:
    start = duration_s / 3 if at_s is None else at_s

    def rate_at(t: float) -> float:
        if t < start or t >= start + rise_s + hold_s + rise_s:
            return rate
        if t < start + rise_s:
            return rate * (1 + (factor - 1) * (t - start) / rise_s)
        if t < start + rise_s + hold_s:
            return rate * factor
        return rate * (factor - (factor - 1) * (t - start - rise_s - hold_s) / rise_s)

    return shaped("flash-crowd", rate_at, duration_s, mix, seed=seed)


def slow_ramp(rate: float, duration_s: float, mix: Trace, *, start: float = 0.5, end: float = 4.0,
              seed: int = 0) -> Trace:
    return shaped("slow-ramp", lambda t: rate * (start + (end - start) * t / duration_s), duration_s, mix, seed=seed)


def idle_gaps(rate: float, duration_s: float, mix: Trace, *, on_s: float = 300.0, off_s: float = 300.0,
              idle: float = 0.02, seed: int = 0) -> Trace:
    return shaped("idle-gaps", lambda t: rate if t % (on_s + off_s) < on_s else rate * idle, duration_s, mix,
                  seed=seed)
