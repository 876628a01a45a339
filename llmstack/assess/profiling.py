"""``assess --write-profile``: the efficiency fit of ``llmstack calibrate``, from a deployment's Prometheus history.

Calibrate sweeps an endpoint with closed-loop clients; here production traffic is the sweep. The
history is cut into windows and grouped into load levels by requests in flight per replica
(:mod:`llmstack.metrics.history`); each level's measured output rate, mean TTFT (vLLM's TTFT
histogram) and mean TPOT (the inter-token-latency histogram) are fitted with the same
least-squares as calibrate (:func:`llmstack.capacity.fitting.fit`), and the result is a
:class:`~llmstack.capacity.profile.CalibratedProfile` in calibrate's format, so
``deployments[].profile`` takes either.

The model's estimate of a level is the steady state of that many requests in flight with
arrivals not synchronised (:func:`llmstack.capacity.fitting.predict_steady`, the closed loop
``plan --concurrency`` answers). By Little's law requests in flight and throughput form the same
pair for open- and closed-loop traffic; the TTFT queueing of open-loop (Poisson) arrivals is
burstier than the closed loop's, which the tests (closed-loop clients) do not measure. The KV
cache size comes from ``vllm:cache_config_info``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from llmstack.capacity import fitting, throughput
from llmstack.capacity.profile import CalibratedProfile
from llmstack.errors import LlmstackError
from llmstack.metrics import calibration as calibrating
from llmstack.metrics import history
from llmstack.metrics.reading import MetricsSource, RangeSource
from llmstack.spec.models import StackSpec
from llmstack.spec.resolving import resolve

MIN_LEVELS = 3
"""Five terms from three measures per level: under three load levels the load-dependent terms (per-sequence
overhead, the prefill queueing behind TTFT) are not pinned, and a fit would only echo its prior."""


class HistorySource(MetricsSource, RangeSource, Protocol):
    """Prometheus: instant and range queries."""


@dataclass(frozen=True)
class HistoryFit:
    profile: CalibratedProfile
    grouping: history.Grouping
    windows: int


MAX_POINTS = 11_000
"""Prometheus refuses range queries of more points per series (``exceeded maximum resolution``)."""


def check_span(start_s: float, end_s: float, step_s: float) -> None:
    if (end_s - start_s) / step_s > MAX_POINTS:
        raise LlmstackError(f"{(end_s - start_s) / step_s:,.0f} windows of {step_s:g} s: Prometheus answers at most "
                            f"{MAX_POINTS:,} points per range query", path="--level-step",
                            hint=f"use --level-step {int((end_s - start_s) / MAX_POINTS) + 1}s or more")


def check_enough(grouping: history.Grouping, windows: int, deployment: str, span: str, step_s: float,
                 holdout: Sequence[int] = ()) -> None:
    """One clear error when the history cannot support a fit: what it had and what a fit needs."""
    fit_levels = [lv for lv in grouping.levels if lv.concurrency not in holdout]
    if len(fit_levels) >= MIN_LEVELS:
        return
    found = ", ".join(str(lv.concurrency) for lv in grouping.levels) or "none"
    thin = f"; too short or incomplete: {', '.join(map(str, grouping.thin_levels))}" if grouping.thin_levels else ""
    held = f", {len(grouping.levels) - len(fit_levels)} of them held out" if len(fit_levels) < len(grouping.levels) \
        else ""
    raise LlmstackError(
        f"the Prometheus history of deployment {deployment!r} over {span} is too thin to fit: {windows} windows of "
        f"{step_s:g} s, {grouping.busy_windows} with traffic, {len(grouping.levels)} usable load level(s) "
        f"(requests in flight: {found}{thin}){held}; a fit needs at least {MIN_LEVELS} levels of at least "
        f"{history.MIN_WINDOWS_PER_LEVEL} windows each", path="--write-profile",
        hint="widen --window to a period with varied load, or shorten --level-step")


def fit_history(source: HistorySource, stack: StackSpec, deployment: str, start_s: float, end_s: float,
                step_s: float, *, where: str, span: str, holdout: Sequence[int] = ()) -> HistoryFit:
    """Read ``deployment``'s history from ``start_s`` to ``end_s``, group it, fit, and build the profile.

    Levels whose requests in flight are in ``holdout`` are measured and shown but not fitted."""
    resolved = resolve(stack, stack.deployment(deployment))
    check_span(start_s, end_s, step_s)
    windows = history.read_windows(source, deployment, start_s, end_s, step_s)
    grouping = history.group_levels(windows)
    check_enough(grouping, len(windows), deployment, span, step_s, holdout)
    blocks, block_size, model = history.cache_labels(source, deployment)
    base = throughput.model_profile(resolved)
    kv_tokens = blocks * block_size if blocks and block_size else None
    if kv_tokens:
        base = throughput.with_overrides(base, kv_cache_tokens=kv_tokens, block_size=block_size)
    observations = [level.observation() for level in grouping.levels]
    terms = fitting.fit(base, [o for o in observations if o.concurrency not in holdout], fitting.predict_steady)
    fitted = fitting.with_terms(base, [getattr(terms, t) for t in fitting.TERMS])
    profile = CalibratedProfile(
        key=throughput.profile_key(resolved), terms=terms, kv_cache_tokens=kv_tokens, block_size=block_size,
        max_num_seqs=resolved.deployment.engine.max_num_seqs,
        endpoint=f"{where} (Prometheus history of deployment {deployment}, {span})",
        model=model or resolved.deployment.model,
        measured_at=dt.datetime.fromtimestamp(end_s, dt.UTC).isoformat(timespec="seconds"),
        levels=calibrating.level_results(fitted, observations, holdout, fitting.predict_steady))
    return HistoryFit(profile, grouping, len(windows))
