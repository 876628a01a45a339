"""Physical sanity of one cycle's readings (pure): what no real fleet can report.

A reading that fails here is *implausible*: the cycle is refused for that deployment with the
reason, and nothing is acted on. The checks need no capacity model (the policy engine adds the
ones that do, such as a request rate far above what the fleet can serve):

- time: a sample stamped in the future (beyond ``max_skew_s``) means the clocks of Prometheus
  (or the exporters) and of this machine disagree; ages computed across them are meaningless.
  Only the future is checked: a clock behind ours shows up as stale data already.
- signs and ranges: every signal is a rate, a count, a fraction or a latency, so never negative;
  KV-cache usage is a fraction (at most 1); counts and rates below absolute ceilings far above
  any engine (:data:`CEILINGS`, per replica expected).
- replicas: the count of reporting replicas is a whole number, at most the replicas expected
  plus those asked to stop recently that may still drain (more means stray or duplicated scrape
  targets), and one series per deployment per query.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

FRACTIONS = frozenset({"kv_cache_usage", "kv_cache_usage_max", "gpu_utilization"})
CEILINGS: Mapping[str, float] = {
    "request_rate": 1e5, "queue_length": 1e6, "running_requests": 1e5, "preemption_rate": 1e5,
    "generation_tokens_rate": 1e8, "prompt_tokens_rate": 1e9,
    "ttft_p50": 86400.0, "ttft_p95": 86400.0, "tpot_p95": 3600.0, "e2e_latency_p95": 86400.0,
}
"""Per replica: orders of magnitude above what one vLLM engine can do (req/s, requests, tokens/s, s)."""
FRACTION_SLACK = 1.0 + 1e-6


def value_problems(values: Mapping[str, float], replicas_expected: int) -> list[str]:
    """Negative values, fractions above 1, values above the per-replica ceilings."""
    found: list[str] = []
    per = max(1, replicas_expected)
    for name, value in sorted(values.items()):
        if value < 0:
            found.append(f"{name} is negative ({value:g})")
        elif name in FRACTIONS and value > FRACTION_SLACK:
            found.append(f"{name} {value:g} is above 1 (a fraction)")
        elif name in CEILINGS and value > CEILINGS[name] * per:
            found.append(f"{name} {value:.3g} is above any {per}-replica fleet (ceiling {CEILINGS[name] * per:.3g})")
    return found


def replica_problems(reporting: float | None, expected: int, stopping: int = 0) -> list[str]:
    """A count that is not whole, or above the expected replicas plus ``stopping`` (asked to stop
    recently: a terminating pod keeps its scrape target while it drains)."""
    if reporting is None or not math.isfinite(reporting):
        return []
    if reporting != int(reporting):
        return [f"replicas_reporting {reporting:g} is not a whole number"]
    if reporting > expected + stopping:
        draining = f" and {stopping} draining" if stopping else ""
        return [f"{int(reporting)} replicas report but {expected} are expected{draining} (stray or duplicated targets)"]
    return []


def time_problems(timestamps: Sequence[float], oldest_sample: float | None, now: float, max_skew_s: float) -> list[str]:
    """Answers evaluated, or samples stamped, more than ``max_skew_s`` after ``now``."""
    found: list[str] = []
    ahead = max(timestamps, default=now) - now
    if ahead > max_skew_s:
        found.append(f"Prometheus answered {ahead:.0f} s in our future (clock skew; limit {max_skew_s:g} s)")
    if oldest_sample is not None and math.isfinite(oldest_sample) and oldest_sample - now > max_skew_s:
        found.append(f"samples stamped {oldest_sample - now:.0f} s in the future (clock skew; limit {max_skew_s:g} s)")
    return found


def duplicate_problems(duplicates: Sequence[str]) -> list[str]:
    return [f"more than one series for {', '.join(sorted(set(duplicates)))}"] if duplicates else []
