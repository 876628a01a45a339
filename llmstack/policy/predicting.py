"""The capacity model's view of a deployment under a setting (pure, cached).

What one replica sustains within the SLO (:func:`llmstack.capacity.throughput.sustainable_rps`),
the TTFT p95 it would show at a load, and what a setting costs per hour. Results are cached
by (profile, rounded workload, SLO), so a cycle over 1,000 similar deployments solves the
model a handful of times.
"""

from __future__ import annotations

import functools
import math

from llmstack.capacity import throughput, validity
from llmstack.capacity.startup import startup_delay_s
from llmstack.errors import LlmstackError
from llmstack.policy.recommendation import Prediction, Setting
from llmstack.spec.models import DeploymentSpec, SloSpec, StackSpec, WorkloadSpec
from llmstack.spec.resolving import ResolvedDeployment, resolve


def _round_tokens(tokens: float) -> int:
    """Two significant digits: enough for sizing, and it makes the cache hit."""
    if tokens <= 1:
        return 1
    digits = max(0, math.floor(math.log10(tokens)) - 1)
    return max(1, int(round(tokens / 10**digits) * 10**digits))


def workload(d: DeploymentSpec, values: dict[str, float] | None = None, admitted_rps: float | None = None,
             max_overstatement: float | None = None) -> WorkloadSpec:
    """The observed request shape (tokens per request from token and request rates), else the declared one.

    Prompt tokens are counted when prefilled, requests when they finish: while requests pile up, prompt tokens
    over completions overstate a request (its prompt is in, it has not finished). With ``admitted_rps`` (the
    requests prefilled per second: completions plus the running batch's growth) and ``max_overstatement``,
    the overstatement is held to that many times prompt tokens over admitted requests."""
    values = values or {}
    rate = values.get("request_rate")
    prompt, output = d.workload.prompt_tokens, d.workload.output_tokens
    if rate and rate > 0:
        if values.get("prompt_tokens_rate"):
            per_request = values["prompt_tokens_rate"] / rate
            if admitted_rps and max_overstatement and admitted_rps > rate:
                per_request = min(per_request, max_overstatement * values["prompt_tokens_rate"] / admitted_rps)
            prompt = _round_tokens(per_request)
        if values.get("generation_tokens_rate"):
            output = _round_tokens(values["generation_tokens_rate"] / rate)
    return WorkloadSpec(requests_per_s=rate or 0.0, prompt_tokens=max(1, prompt), output_tokens=max(1, output))


def resolved(stack: StackSpec, d: DeploymentSpec, setting: Setting) -> ResolvedDeployment:
    return resolve(stack, d, pool=setting.pool, variant=setting.variant, tensor_parallel=setting.tensor_parallel)


@functools.lru_cache(maxsize=65536)
def _sustainable(p: throughput.EngineProfile, prompt: int, output: int, slo: SloSpec) -> float:
    return throughput.sustainable_rps(p, WorkloadSpec(prompt_tokens=prompt, output_tokens=output), slo)


class CapacityView:
    """The capacity model over one stack, with each (deployment, variant, pool, TP) resolved once."""

    def __init__(self, stack: StackSpec) -> None:
        self.stack = stack
        self._profiles: dict[tuple[str, str, str, int], throughput.EngineProfile] = {}
        self._fits: dict[tuple[str, str, str, int], bool] = {}

    @staticmethod
    def _key(d: DeploymentSpec, setting: Setting) -> tuple[str, str, str, int]:
        return d.name, setting.variant, setting.pool, setting.tensor_parallel

    def fits(self, d: DeploymentSpec, setting: Setting) -> bool:
        """Whether the capacity model finds no problem with ``setting`` (quantization, memory, TP)."""
        key = self._key(d, setting)
        if key not in self._fits:
            try:
                self._fits[key] = not validity.problems(resolved(self.stack, d, setting))
            except LlmstackError:
                self._fits[key] = False
        return self._fits[key]

    def profile(self, d: DeploymentSpec, setting: Setting) -> throughput.EngineProfile:
        key = self._key(d, setting)
        if key not in self._profiles:
            self._profiles[key] = throughput.profile(resolved(self.stack, d, setting))
        return self._profiles[key]

    def sustainable_rps(self, d: DeploymentSpec, setting: Setting, w: WorkloadSpec) -> float:
        """Requests/s one replica of ``setting`` sustains within ``d``'s SLO."""
        return _sustainable(self.profile(d, setting), w.prompt_tokens, w.output_tokens, d.slo)

    def saturation_rps(self, d: DeploymentSpec, setting: Setting, w: WorkloadSpec) -> float:
        """Requests/s one replica of ``setting`` completes with a full batch (its throughput ceiling)."""
        return throughput.saturation_rps(self.profile(d, setting), w)

    def ttft_p95_s(self, d: DeploymentSpec, setting: Setting, w: WorkloadSpec, demand: float) -> float:
        """Estimated TTFT p95 with ``demand`` requests/s spread over the setting's replicas."""
        if setting.replicas <= 0:
            return math.inf
        return throughput.estimate_load(self.profile(d, setting), w, demand / setting.replicas).ttft_p95_s

    def startup_s(self, d: DeploymentSpec, setting: Setting) -> float:
        """Seconds from requesting a replica of ``setting`` to it serving (capacity model's start-up estimate)."""
        return startup_delay_s(self.profile(d, setting))

    def cost_per_hour(self, d: DeploymentSpec, setting: Setting) -> float:
        return self.stack.pool(setting.pool).cost_per_hour(setting.gpus(d))

    def predict(self, d: DeploymentSpec, current: Setting, proposed: Setting, w: WorkloadSpec, demand: float,
                observed_ttft_s: float | None) -> Prediction:
        """TTFT p95 before (observed if read, else modelled) and after, and the cost change."""
        before = observed_ttft_s if observed_ttft_s is not None else self.ttft_p95_s(d, current, w, demand)
        after = self.ttft_p95_s(d, proposed, w, demand)
        cost_before, cost_after = self.cost_per_hour(d, current), self.cost_per_hour(d, proposed)
        delta = cost_after - cost_before
        sign = "+" if delta >= 0 else "-"
        text = f"TTFT p95 {_fmt_s(before)} -> {_fmt_s(after)}, {sign}${abs(delta):.2f}/h"
        return Prediction(None if before is None or not math.isfinite(before) else before,
                          None if not math.isfinite(after) else after, cost_before, cost_after, text)


def _fmt_s(value: float | None) -> str:
    if value is None:
        return "?"
    if not math.isfinite(value):
        return "unbounded"
    return f"{value:.2f} s" if value < 10 else f"{value:.0f} s"
