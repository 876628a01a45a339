"""Demand now and a start-up ahead, from the signals of this cycle and the ones before (pure).

- **Arrivals.** The router counts them (``router_request_rate``: HAProxy's requests to the
  deployment's backend, plus those its hold took in); that is the figure when the router's exporter
  is scraped. Without it: ``request_rate`` counts completions, which a saturated fleet caps at its
  capacity; requests that arrived but did not finish are in the system (waiting at the router or in
  an engine, or running). So arrivals over the last interval = completions + the growth of
  :func:`in_system` (conservation of requests): a growing queue raises the estimate at once, the
  fast reaction.
- **A surge.** The window's rate lags a surge by up to the window (a minute). While requests wait at
  the router (every server at its ``maxconn``: capacity is short now), the arrivals over the last
  scrape interval (``router_request_irate``) stand for the arrivals when their count exceeds what the
  window's rate predicts over that interval by more than ``surge_sigma`` Poisson standard
  deviations: a real surge, not a noisy 15 s. A flash crowd is then sized one scrape after it
  begins instead of as the minute's rate catches up.
- **Demand** = arrivals + the queue spread over ``queue_drain`` (the backlog to work off).
- **Forecast**: the arrivals' rising trend (least-squares slope over ``forecast_window``) times
  the replica start-up time, so capacity is requested a start-up ahead of the load. Only a rise is
  extrapolated: late scale-in costs little, early scale-in costs the SLO.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from llmstack.policy.state import ScalingState

IN_SYSTEM_SPAN_S = 60.0
"""Queue growth is measured against the oldest cycle within this span (the rates' 1-minute window)."""


def waiting(values: Mapping[str, float]) -> float:
    """Requests waiting anywhere: in the engines' queues (``queue_length``) and at the router
    (``router_queue_length``: every server at its ``maxconn``, or held with none up)."""
    return values.get("queue_length", 0.0) + values.get("router_queue_length", 0.0)


def in_system(values: Mapping[str, float]) -> float:
    return waiting(values) + values.get("running_requests", 0.0)


def surge_rps(values: Mapping[str, float], routed: float, scrape_s: float, sigma: float) -> float | None:
    """The router's arrivals over its last scrape interval, when requests wait at the router and that
    interval's count exceeds the window rate's expectation by more than ``sigma`` Poisson standard
    deviations; else None (``sigma`` 0: never)."""
    recent = values.get("router_request_irate")
    if sigma <= 0 or recent is None or values.get("router_queue_length", 0.0) <= 0:
        return None
    expected = routed * scrape_s
    if recent * scrape_s > expected + sigma * math.sqrt(max(expected, 1.0)):
        return recent
    return None


def arrivals_rps(values: Mapping[str, float], state: ScalingState, deployment: str, now: float, *,
                 scrape_s: float = 15.0, surge_sigma: float = 0.0) -> float | None:
    """The router's arrival rate when it is scraped (its last interval's during a surge, :func:`surge_rps`),
    else completions per second plus the growth of the requests in the system since the oldest recent cycle."""
    rate = values.get("request_rate")
    if rate is None:
        return None
    routed = values.get("router_request_rate")
    if routed is not None and routed == routed:  # NaN: no router series
        surging = surge_rps(values, routed, scrape_s, surge_sigma)
        return routed if surging is None else surging
    recent = [(t, n) for t, _, n in state.observed.get(deployment, ()) if 0 < now - t <= IN_SYSTEM_SPAN_S]
    if not recent:
        return rate
    t0, n0 = recent[0]
    return rate + max(0.0, (in_system(values) - n0) / (now - t0))


def forecast_rps(state: ScalingState, deployment: str, now: float, arrivals: float, window_s: float,
                 horizon_s: float) -> float:
    """Arrivals ``horizon_s`` ahead: now plus the rising trend over ``window_s`` (never below now)."""
    points = [(t, a) for t, a, _ in state.observed.get(deployment, ()) if now - t <= window_s] + [(now, arrivals)]
    if window_s <= 0 or len(points) < 3:
        return arrivals
    mean_t = sum(t for t, _ in points) / len(points)
    mean_a = sum(a for _, a in points) / len(points)
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    slope = sum((t - mean_t) * (a - mean_a) for t, a in points) / spread if spread > 0 else 0.0
    return arrivals + max(0.0, slope) * horizon_s
