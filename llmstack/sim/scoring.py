"""Scores of a simulated run: SLO attainment, latency percentiles, GPU-hours, cost, scaling behaviour.

- ``slo_attainment``: share of the trace's requests (over-context rejections and unfinished
  ones count as misses) whose TTFT and TPOT are both within the deployment's SLO thresholds;
  ``ttft_slo_attainment`` and ``tpot_slo_attainment`` count each threshold alone (same denominator);
- percentiles are exact (linear interpolation) over finished requests; TTFT counts from arrival at
  the router, so a request held while no replica was ready carries its hold;
- ``drain_gpu_hours``: the part of ``gpu_hours`` replicas spent draining (scale-in: no new requests,
  stopped when their last request is done);
- scale to zero: ``dropped`` (held past the hold timeout, never served: SLO misses),
  ``cold_starts`` (starts from zero replicas), ``held_requests`` and their TTFT
  (``held_ttft_p50_s``, ``held_ttft_p95_s``, the hold plus the first token) apart from the rest;
- ``moves``: vertical and variant moves (time, from, to, rule, why, when the last old replica
  stopped) and ``gpu_hours_by_shape`` (each shape's replicas x their GPUs, part of ``gpu_hours``);
- ``burst_reaction_s``: for each burst onset (a tick whose last-interval arrival rate is at least
  1.5x the mean of the previous 5 minutes and 1 req/s above it, bursts at least 5 minutes apart),
  the time until the fleet had more replicas up than at the onset; the mean over onsets the
  fleet reacted to within 10 minutes (None when there was no burst or no reaction).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from llmstack.sim.fleet import SimResult

BURST_FACTOR = 1.5
BURST_MIN_INCREASE = 1.0
BURST_BASELINE_S = 300.0
BURST_REACTION_LIMIT_S = 600.0


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (``q`` in 0..100) of an ascending list; NaN when empty."""
    if not sorted_values:
        return math.nan
    pos = (len(sorted_values) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


@dataclass(frozen=True)
class Score:
    autoscaler: str
    trace: str
    requests: int
    finished: int
    unfinished: int
    rejected_over_context: int
    skipped_rows: int
    slo_attainment: float
    ttft_slo_attainment: float
    tpot_slo_attainment: float
    ttft_p50_s: float
    ttft_p95_s: float
    ttft_p99_s: float
    tpot_p50_s: float
    tpot_p95_s: float
    tpot_p99_s: float
    e2e_p95_s: float
    gpu_hours: float
    cost: float
    scale_events: int
    mean_replicas: float
    max_replicas: int
    preemptions: int
    burst_reaction_s: float | None
    duration_s: float
    dropped: int = 0
    cold_starts: int = 0
    held_requests: int = 0
    held_ttft_p50_s: float = math.nan
    held_ttft_p95_s: float = math.nan
    held_max_s: float = math.nan
    """The longest hold at the router of a request that was served."""
    hold_timeout_s: float = math.nan
    """How long the router held a request before dropping it."""
    drain_gpu_hours: float = 0.0
    """GPU-hours of replicas finishing their requests after a scale-in (included in ``gpu_hours``)."""
    moves: list[dict[str, object]] = field(default_factory=list)
    """Vertical and variant moves: ``t``, ``from``, ``to``, ``rule``, ``why``, ``done_s``."""
    gpu_hours_by_shape: dict[str, float] = field(default_factory=dict)
    """GPU-hours per shape (``variant@pool TPn``)."""

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def burst_onsets(result: SimResult) -> list[float]:
    """Ticks where the arrival rate jumps (see the module docstring)."""
    onsets: list[float] = []
    points = result.timeline
    for i, p in enumerate(points):
        history = [q.arrival_rate for q in points[:i] if q.t >= p.t - BURST_BASELINE_S]
        if len(history) * result.config.interval_s < BURST_BASELINE_S / 2:
            continue
        base = sum(history) / len(history)
        jump = p.arrival_rate >= BURST_FACTOR * base and p.arrival_rate >= base + BURST_MIN_INCREASE
        if jump and (not onsets or p.t - onsets[-1] >= BURST_BASELINE_S):
            onsets.append(p.t)
    return onsets


def burst_reaction(result: SimResult) -> float | None:
    reactions = []
    for onset in burst_onsets(result):
        before = next((p.replicas_up for p in result.timeline if p.t >= onset), None)
        if before is None:
            continue
        for p in result.timeline:
            if onset < p.t <= onset + BURST_REACTION_LIMIT_S and p.replicas_up > before:
                reactions.append(p.t - onset)
                break
    return sum(reactions) / len(reactions) if reactions else None


def score(result: SimResult) -> Score:
    slo = result.deployment.slo
    finished = result.finished
    ttfts = sorted(r.ttft_s for r in finished)
    tpots = sorted(r.tpot_s for r in finished)
    e2es = sorted(r.finish_s - r.arrival_s for r in finished if r.finish_s is not None)
    ttft_limit, tpot_limit = slo.ttft_p95_ms / 1000, slo.tpot_p95_ms / 1000
    met = sum(1 for r in finished if r.ttft_s <= ttft_limit and r.tpot_s <= tpot_limit)
    ttft_met = sum(1 for r in finished if r.ttft_s <= ttft_limit)
    tpot_met = sum(1 for r in finished if r.tpot_s <= tpot_limit)
    total = len(result.requests) + result.rejected_over_context
    held = [r for r in finished if r.id in result.held_s]
    held_ttfts = sorted(r.ttft_s for r in held)
    replicas = [p.replicas_up for p in result.timeline]
    return Score(
        autoscaler=result.autoscaler,
        trace=result.trace_name,
        requests=total,
        finished=len(finished),
        unfinished=len(result.requests) - len(finished) - result.dropped,
        rejected_over_context=result.rejected_over_context,
        skipped_rows=result.skipped_rows,
        slo_attainment=met / total if total else math.nan,
        ttft_slo_attainment=ttft_met / total if total else math.nan,
        tpot_slo_attainment=tpot_met / total if total else math.nan,
        ttft_p50_s=percentile(ttfts, 50),
        ttft_p95_s=percentile(ttfts, 95),
        ttft_p99_s=percentile(ttfts, 99),
        tpot_p50_s=percentile(tpots, 50),
        tpot_p95_s=percentile(tpots, 95),
        tpot_p99_s=percentile(tpots, 99),
        e2e_p95_s=percentile(e2es, 95),
        gpu_hours=result.gpu_hours,
        cost=result.cost,
        scale_events=len(result.scale_events),
        mean_replicas=sum(replicas) / len(replicas) if replicas else math.nan,
        max_replicas=max(replicas) if replicas else 0,
        preemptions=result.preemptions,
        burst_reaction_s=burst_reaction(result),
        duration_s=result.end_s,
        dropped=result.dropped,
        cold_starts=result.cold_starts,
        held_requests=len(held),
        held_ttft_p50_s=percentile(held_ttfts, 50),
        held_ttft_p95_s=percentile(held_ttfts, 95),
        held_max_s=max((result.held_s[r.id] for r in held), default=math.nan),
        hold_timeout_s=result.hold_timeout_s,
        drain_gpu_hours=result.drain_gpu_hours,
        moves=[move.to_json() for move in result.moves],
        gpu_hours_by_shape={shape.label: hours for shape, hours in result.gpu_hours_by_shape.items()},
    )
