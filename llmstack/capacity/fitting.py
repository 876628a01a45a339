"""Fit the capacity model's efficiency terms to a measured closed-loop sweep (pure).

The fit minimises the squared log errors of the model's closed-loop estimate
(:func:`llmstack.capacity.throughput.estimate_concurrency`, synchronised: the sweep sends equal
lengths and starts its clients together) against the measured mean TTFT, mean TPOT and output
throughput of each level used in the fit, with scipy's bounded least squares over the log of
each term.

The terms (all non-negative, each a field of :class:`~llmstack.capacity.profile.FittedTerms`):
bandwidth and compute efficiency (the step's memory and compute time), step_overhead_s and
per_sequence_overhead_s (fixed step time), api_server_s (client TTFT beyond the engine),
api_server_serial_s (the part of it that requests arriving together queue for: the API server is
one process) and busy_admission_s (TTFT a request pays when it shares the engine with others).
Against the real 2-core CPU engine the last two carry the TTFT's shape (unique prompts, 7 rounds of
48 requests, load average 5-6): 14 ms with one client, 29 ms with two, then ~8 ms more per client
(fitted: api_server_s 7.8 ms, 6.4-6.6 ms of it serial, busy_admission_s 4.7-10 ms;
tests/engine/test_calibrate_engine.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import least_squares  # type: ignore[import-untyped]

from llmstack.capacity import throughput
from llmstack.capacity.profile import FittedTerms
from llmstack.capacity.throughput import EngineProfile, LoadEstimate
from llmstack.spec.models import WorkloadSpec

TERMS = ("bandwidth_efficiency", "compute_efficiency", "step_overhead_s", "per_sequence_overhead_s", "api_server_s",
         "api_server_serial_s", "busy_admission_s", "api_server_per_token_s")
BOUNDS = {
    "bandwidth_efficiency": (1e-3, 5.0),
    "compute_efficiency": (1e-3, 5.0),
    "step_overhead_s": (1e-5, 5.0),
    "per_sequence_overhead_s": (1e-7, 0.5),
    "api_server_s": (1e-4, 10.0),
    "api_server_serial_s": (1e-5, 10.0),
    "busy_admission_s": (1e-6, 5.0),
    "api_server_per_token_s": (1e-7, 0.1),
}
"""Search box for each term (log-space); wide enough for a 2-core CPU engine and an 8-GPU node."""

PRIOR_WEIGHT = 0.1
"""Each term also pays PRIOR_WEIGHT x log(value / the model's default): the sweep's three kinds of
measurement do not pin five terms apart (bandwidth and step overhead both set the decode step), so
without this the fit trades them for implausible pairs that predict unseen levels badly."""

UNANCHORED = frozenset({"busy_admission_s"})
"""Terms without that pull: busy_admission_s's default only says "negligible on a GPU host", and the
contrast of one client (an idle engine at every arrival) with several pins it by itself."""


SECOND_START_FACTORS = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 100.0, 1.0])
"""The fit also starts from the defaults times these and keeps the better result: a term whose default
is negligible (busy_admission_s, 0.1 ms) has no slope there, and the search would never move it."""


@dataclass(frozen=True)
class Observation:
    """One concurrency level as the client measured it."""

    concurrency: int
    requests: int
    prompt_tokens: float
    output_tokens: float
    output_tokens_per_s: float
    ttft_mean_s: float
    tpot_mean_s: float


def with_terms(p: EngineProfile, values: Sequence[float]) -> EngineProfile:
    return replace(p, **dict(zip(TERMS, (float(v) for v in values), strict=True)))  # type: ignore[arg-type]


def predict(p: EngineProfile, obs: Observation) -> LoadEstimate:
    workload = WorkloadSpec(prompt_tokens=max(1, round(obs.prompt_tokens)),
                            output_tokens=max(2, round(obs.output_tokens)))
    return throughput.estimate_concurrency(p, workload, obs.concurrency, synchronized=True, requests=obs.requests)


def _log_ratio(predicted: float, measured: float) -> float:
    if not math.isfinite(predicted) or predicted <= 0 or measured <= 0:
        return 10.0
    return math.log(predicted / measured)


Predictor = Callable[[EngineProfile, Observation], LoadEstimate]
"""The model's estimate of one observed level: :func:`predict` (a synchronised sweep) or
:func:`predict_steady` (history from a live deployment)."""


def predict_steady(p: EngineProfile, obs: Observation) -> LoadEstimate:
    """Steady state of ``obs.concurrency`` requests in flight, arrivals not synchronised (live traffic)."""
    workload = WorkloadSpec(prompt_tokens=max(1, round(obs.prompt_tokens)),
                            output_tokens=max(2, round(obs.output_tokens)))
    return throughput.estimate_concurrency(p, workload, obs.concurrency)


def residuals(p: EngineProfile, observations: Sequence[Observation], predictor: Predictor = predict) -> list[float]:
    out: list[float] = []
    for obs in observations:
        est = predictor(p, obs)
        out += [_log_ratio(est.output_tokens_per_s, obs.output_tokens_per_s),
                _log_ratio(est.ttft_mean_s, obs.ttft_mean_s),
                _log_ratio(est.tpot_s, obs.tpot_mean_s)]
    return out


def fit(base: EngineProfile, observations: Sequence[Observation], predictor: Predictor = predict) -> FittedTerms:
    """The terms that make ``base`` reproduce ``observations`` best (least squares on log errors)."""
    if not observations:
        raise ValueError("nothing to fit: no observations")
    lows = np.log([BOUNDS[t][0] for t in TERMS])
    highs = np.log([BOUNDS[t][1] for t in TERMS])
    start = np.clip(np.log([getattr(base, t) for t in TERMS]), lows + 1e-9, highs - 1e-9)

    prior = np.log([getattr(base, t) for t in TERMS])
    weights = np.array([0.0 if t in UNANCHORED else PRIOR_WEIGHT for t in TERMS])

    def objective(x: np.ndarray) -> list[float]:
        return residuals(with_terms(base, np.exp(x)), observations, predictor) + list(weights * (x - prior))

    results = [least_squares(objective, x0, bounds=(lows, highs), diff_step=0.05, max_nfev=400)
               for x0 in (start, np.clip(start + np.log(SECOND_START_FACTORS), lows + 1e-9, highs - 1e-9))]
    best = min(results, key=lambda r: float(r.cost))
    values = dict(zip(TERMS, (float(v) for v in np.exp(best.x)), strict=True))
    return FittedTerms(**values)
