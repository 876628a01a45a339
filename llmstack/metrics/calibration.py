"""Calibrate one deployment: probe the endpoint, sweep it, fit the model, build the profile (edge).

The levels in ``holdout`` are measured but not used in the fit, so the profile's own table shows
how well the fitted model predicts concurrencies it never saw.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import httpx

from llmstack.capacity import fitting, throughput
from llmstack.capacity.fitting import Observation
from llmstack.capacity.profile import CalibratedProfile, FittedTerms, LevelResult
from llmstack.errors import LlmstackError
from llmstack.metrics import load_sweep
from llmstack.spec.resolving import ResolvedDeployment


def engine_version(endpoint: str) -> str | None:
    """What ``GET /version`` reports (vLLM serves it), else None."""
    try:
        reply = httpx.get(endpoint.rstrip("/") + "/version", timeout=5.0)
        return str(reply.json().get("version")) if reply.status_code == 200 else None
    except (httpx.HTTPError, ValueError, AttributeError):
        return None


def default_holdout(levels: Sequence[int]) -> list[int]:
    """Every other level from the second (1,2,4,8,16 -> 2,8): interpolation the fit never saw."""
    return list(levels[1::2]) if len(levels) >= 3 else []


def level_results(profile: throughput.EngineProfile, observations: Sequence[Observation],
                  holdout: Sequence[int], predictor: fitting.Predictor = fitting.predict) -> list[LevelResult]:
    results = []
    for obs in observations:
        est = predictor(profile, obs)
        results.append(LevelResult(
            concurrency=obs.concurrency, requests=obs.requests, prompt_tokens=round(obs.prompt_tokens, 1),
            output_tokens=round(obs.output_tokens, 1), used_in_fit=obs.concurrency not in holdout,
            measured_output_tokens_per_s=round(obs.output_tokens_per_s, 3),
            measured_ttft_mean_s=round(obs.ttft_mean_s, 5), measured_tpot_mean_s=round(obs.tpot_mean_s, 6),
            fitted_output_tokens_per_s=round(est.output_tokens_per_s, 3),
            fitted_ttft_mean_s=round(est.ttft_mean_s, 5), fitted_tpot_mean_s=round(est.tpot_s, 6)))
    return results


def calibrate(endpoint: str, model: str, resolved: ResolvedDeployment, levels: Sequence[int],
              holdout: Sequence[int], requests_per_level: int, prompt_tokens: int, output_tokens: int,
              progress: load_sweep.Progress = lambda _: None, rounds: int = 1) -> CalibratedProfile:
    """Sweep ``endpoint`` at ``levels``, fit on the levels not in ``holdout``, return the profile."""
    fit_levels = [c for c in levels if c not in holdout]
    if not fit_levels:
        raise LlmstackError("every concurrency level is held out; nothing is left to fit", path="--holdout")
    load_sweep.probe(endpoint, model)
    facts = load_sweep.cache_facts(endpoint)
    base = throughput.model_profile(resolved)
    if facts.kv_cache_tokens:
        base = throughput.with_overrides(base, kv_cache_tokens=facts.kv_cache_tokens,
                                         block_size=facts.block_size or base.block_size)
    observations = load_sweep.sweep(endpoint, model, levels, requests_per_level, prompt_tokens, output_tokens,
                                    progress, rounds)
    terms: FittedTerms = fitting.fit(base, [o for o in observations if o.concurrency in fit_levels])
    fitted = fitting.with_terms(base, [getattr(terms, t) for t in fitting.TERMS])
    key = throughput.profile_key(resolved).model_copy(update={"engine_version": engine_version(endpoint)})
    return CalibratedProfile(
        key=key, terms=terms, kv_cache_tokens=facts.kv_cache_tokens, block_size=facts.block_size,
        max_num_seqs=resolved.deployment.engine.max_num_seqs, endpoint=endpoint, model=model,
        measured_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        levels=level_results(fitted, observations, holdout),
    )
