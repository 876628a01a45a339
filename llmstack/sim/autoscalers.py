"""Baseline autoscalers and the registry that resolves ``--autoscaler NAME``.

Names:

- ``static[:N]``: always N replicas (default: the deployment's ``replicas.start``); N is not
  clamped to the deployment's replica range.
- ``hpa[:TARGET]``: Kubernetes HPA on ``gpu_utilization`` (target 0.7 by default):
  ``ceil(current x metric / target)``, no change within the 0.1 tolerance, scale-up at most
  ``max(100 %, 4 pods)`` per period, scale-down to the highest recommendation of the last 300 s
  (the default stabilization window).
- ``keda[:THRESHOLD]``: vLLM production-stack's KEDA ScaledObject on ``num_requests_waiting``,
  threshold 5 per replica (an AverageValue target, so ``ceil(queue / 5)`` with HPA's tolerance);
  scale-down waits for a 360 s cooldown (the highest recommendation of the last 360 s).
- ``saturation``: llm-d workload-variant-autoscaler style. A replica is saturated at >= 80 %
  KV cache or >= 5 waiting requests; add one replica when the spare capacity (80 % minus KV
  usage, or 5 minus the queue per replica) falls under 10 % KV or 3 queue slots; remove one
  only when the load spread over one fewer replica would not trigger a scale-up; hold while
  replicas are still starting or draining (one change at a time).
- ``oracle``: a lower bound with perfect knowledge of the future: each interval, the fewest
  replicas whose per-replica capacity covers the peak 1-minute arrival rate from now until a
  replica requested now would be ready (plus one interval). Per-replica capacity is found by a
  search with the engine model: the largest Poisson rate of requests drawn from the trace
  that one replica serves within the SLO (TTFT p95 and TPOT p95).
- ``policy:PATH``: the policy engine's evaluator (:mod:`llmstack.policy.simulation`).
"""

from __future__ import annotations

import importlib
import math
import random
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from llmstack.capacity import throughput
from llmstack.capacity.throughput import EngineProfile
from llmstack.errors import LlmstackError
from llmstack.sim.autoscaling import Autoscaler
from llmstack.sim.engine import Engine, SimRequest
from llmstack.sim.traces import Trace
from llmstack.spec.models import DeploymentSpec, SloSpec, StackSpec, WorkloadSpec
from llmstack.spec.resolving import resolve

HPA_TOLERANCE = 0.1
HPA_SCALE_DOWN_WINDOW_S = 300.0
KEDA_THRESHOLD = 5.0
KEDA_COOLDOWN_S = 360.0
SATURATION_KV = 0.8
SATURATION_QUEUE = 5.0
SPARE_KV_TRIGGER = 0.1
SPARE_QUEUE_TRIGGER = 3.0


def _present(signals: Mapping[str, float], name: str) -> float | None:
    value = signals.get(name)
    if value is None or not math.isfinite(value):
        return None
    return float(value)


@dataclass
class Static:
    replicas: int
    name: str = "static"
    respect_limits: bool = False

    def initial_replicas(self) -> int:
        return self.replicas

    def desired_replicas(self, now_s: float, signals: Mapping[str, float], current: int) -> int:
        return self.replicas


@dataclass
class _Stabilized:
    """HPA's replica calculation with tolerance, scale-up limit and a scale-down stabilization window."""

    window_s: float
    history: deque[tuple[float, int]] = field(default_factory=deque)

    def decide(self, now_s: float, current: int, ratio: float | None, raw: int | None = None) -> int:
        if raw is None:
            if ratio is None:
                return current  # no metric: HPA keeps the replica count
            raw = current if abs(ratio - 1) <= HPA_TOLERANCE else math.ceil(current * ratio)
        raw = min(raw, current + max(current, 4))
        self.history.append((now_s, raw))
        while self.history and self.history[0][0] < now_s - self.window_s:
            self.history.popleft()
        if raw >= current:
            return raw
        return min(current, max(r for _, r in self.history))


@dataclass
class Hpa:
    target: float = 0.7
    name: str = "hpa"
    state: _Stabilized = field(default_factory=lambda: _Stabilized(HPA_SCALE_DOWN_WINDOW_S))

    def desired_replicas(self, now_s: float, signals: Mapping[str, float], current: int) -> int:
        util = _present(signals, "gpu_utilization")
        if current == 0:
            return 1
        return self.state.decide(now_s, current, None if util is None else util / self.target)


@dataclass
class Keda:
    threshold: float = KEDA_THRESHOLD
    name: str = "keda"
    state: _Stabilized = field(default_factory=lambda: _Stabilized(KEDA_COOLDOWN_S))

    def desired_replicas(self, now_s: float, signals: Mapping[str, float], current: int) -> int:
        queue = _present(signals, "queue_length")
        if queue is None:
            return current
        if current == 0:
            return self.state.decide(now_s, 0, None, raw=math.ceil(queue / self.threshold))
        ratio = (queue / current) / self.threshold
        if ratio == 0:
            return self.state.decide(now_s, current, None, raw=0)
        return self.state.decide(now_s, current, ratio)


@dataclass
class Saturation:
    name: str = "saturation"

    def desired_replicas(self, now_s: float, signals: Mapping[str, float], current: int) -> int:
        up = int(_present(signals, "replicas_up") or 0)
        kv = _present(signals, "kv_cache_usage")
        queue = _present(signals, "queue_length")
        if up == 0 or kv is None or queue is None:
            return max(current, 1)
        if up != current:
            return current  # replicas still starting or draining: wait for the fleet to settle
        spare_kv = SATURATION_KV - kv
        spare_queue = SATURATION_QUEUE - queue / up
        if spare_kv < SPARE_KV_TRIGGER or spare_queue < SPARE_QUEUE_TRIGGER:
            return current + 1
        if up > 1:
            kv_fewer = kv * up / (up - 1)
            queue_fewer = queue / (up - 1)
            if (SATURATION_KV - kv_fewer >= SPARE_KV_TRIGGER
                    and SATURATION_QUEUE - queue_fewer >= SPARE_QUEUE_TRIGGER):
                return current - 1
        return current


def _p95_latencies(profile: EngineProfile, sample: list[tuple[int, int]], rate: float,
                   seed: int) -> tuple[float, float]:
    """TTFT p95 and TPOT p95 (s) of one replica at ``rate`` Poisson arrivals of ``sample`` (inf if unfinished)."""
    rng = random.Random(seed)
    t = 0.0
    requests = []
    for i, (prompt, output) in enumerate(sample):
        t += rng.expovariate(rate)
        requests.append(SimRequest(i, t, prompt, output))
    engine = Engine(profile)
    now = 0.0
    j = 0
    while j < len(requests) or engine.has_work:
        end = engine.plan.end if engine.plan is not None else math.inf
        if j < len(requests) and requests[j].arrival_s < end:
            now = max(now, requests[j].arrival_s)
            engine.submit(requests[j])
            j += 1
            if engine.busy:
                engine.interrupt(now)
            else:
                engine.start(now)
            continue
        if engine.plan is None:
            break
        now = engine.plan.end
        engine.complete()
        engine.start(now)
    done = [r for r in requests if r.finish_s is not None]
    if len(done) < len(requests):
        return math.inf, math.inf
    ttfts = sorted(r.ttft_s for r in done)
    tpots = sorted(r.tpot_s for r in done)
    k = min(len(done) - 1, int(0.95 * len(done)))
    return ttfts[k], tpots[k]


def replica_capacity(profile: EngineProfile, slo: SloSpec, trace: Trace, *, samples: int = 400,
                     seed: int = 0) -> float:
    """Largest request rate one replica serves within the SLO for the trace's request mix (engine-model search).

    Where the trace's longest prompts miss the SLO even alone on a replica, the bar is 1.2x what a
    lone replica achieves at a trickle (the SLO cannot be met by adding replicas there).
    """
    rng = random.Random(seed)
    fitting = [(r.prompt_tokens, r.output_tokens) for r in trace.requests
               if r.prompt_tokens + r.output_tokens <= min(profile.max_model_len, profile.kv_cache_tokens)]
    if not fitting:
        return 0.0
    sample = [fitting[rng.randrange(len(fitting))] for _ in range(samples)]
    mean_prompt = sum(p for p, _ in sample) / len(sample)
    mean_output = sum(o for _, o in sample) / len(sample)
    ceiling = throughput.saturation_rps(profile, WorkloadSpec(prompt_tokens=max(1, round(mean_prompt)),
                                                              output_tokens=max(1, round(mean_output))))
    low, high = 0.0, max(0.1, 2 * ceiling)
    trickle_ttft, trickle_tpot = _p95_latencies(profile, sample, high * 1e-3, seed)
    ttft_bar = max(slo.ttft_p95_ms / 1000, 1.2 * trickle_ttft)
    tpot_bar = max(slo.tpot_p95_ms / 1000, 1.2 * trickle_tpot)
    for _ in range(14):
        mid = (low + high) / 2
        ttft, tpot = _p95_latencies(profile, sample, mid, seed)
        if ttft <= ttft_bar and tpot <= tpot_bar:
            low = mid
        else:
            high = mid
    return low


@dataclass
class Oracle:
    """Fewest replicas per interval that meet the SLO, knowing the future arrivals."""

    needed: list[int]
    interval_s: float
    lookahead_s: float
    capacity_rps: float
    name: str = "oracle"

    def initial_replicas(self) -> int:
        return self._at(0.0)

    def _at(self, t: float) -> int:
        first = int(t // self.interval_s)
        last = int((t + self.lookahead_s) // self.interval_s)
        window = self.needed[first:last + 1]
        return max(window) if window else (self.needed[-1] if self.needed else 1)

    def desired_replicas(self, now_s: float, signals: Mapping[str, float], current: int) -> int:
        return self._at(now_s)


def oracle(profile: EngineProfile, slo: SloSpec, trace: Trace, *, interval_s: float = 15.0,
           startup_delay_s: float = 120.0, window_s: float = 60.0, seed: int = 0) -> Oracle:
    capacity = replica_capacity(profile, slo, trace, seed=seed)
    if capacity <= 0:
        raise LlmstackError("oracle: no request of this trace fits the model's context", path="--trace")
    bins = int(trace.duration_s // interval_s) + 1
    counts = [0] * bins
    for r in trace.requests:
        counts[int(r.arrival_s // interval_s)] += 1
    per_window = max(1, round(window_s / interval_s))
    needed = []
    for b in range(bins):
        arrivals = sum(counts[b:b + per_window])
        span = min(per_window, bins - b) * interval_s
        needed.append(max(1, math.ceil(arrivals / span / capacity)))
    return Oracle(needed, interval_s, startup_delay_s + interval_s, capacity)


BASELINES = ("static", "hpa", "keda", "saturation", "oracle")


def resolve_autoscaler(name: str, stack: StackSpec, deployment: str | DeploymentSpec, *,
                       trace: Trace | None = None, interval_s: float = 15.0,
                       startup_delay_s: float = 120.0) -> Autoscaler:
    """The autoscaler called ``name`` for ``deployment`` (``trace`` is needed by ``oracle``)."""
    spec = stack.deployment(deployment) if isinstance(deployment, str) else deployment
    kind, _, arg = name.partition(":")
    try:
        if kind == "static":
            return Static(int(arg) if arg else spec.replicas.start, name=name)
        if kind == "hpa":
            return Hpa(float(arg) if arg else 0.7, name=name)
        if kind == "keda":
            return Keda(float(arg) if arg else KEDA_THRESHOLD, name=name)
    except ValueError:
        raise LlmstackError(f"bad argument {arg!r} for autoscaler {kind!r}", path="--autoscaler",
                            hint="static:N, hpa:TARGET (0-1), keda:THRESHOLD") from None
    if kind == "saturation":
        return Saturation()
    if kind == "oracle":
        if trace is None:
            raise LlmstackError("the oracle needs the trace it will be scored on", path="--autoscaler")
        profile = throughput.profile(resolve(stack, spec))
        return oracle(profile, spec.slo, trace, interval_s=interval_s, startup_delay_s=startup_delay_s)
    if kind == "policy":
        if not arg:
            raise LlmstackError("policy autoscaler needs a path", path="--autoscaler",
                                hint="policy:policies/default.yaml")
        try:
            module = importlib.import_module("llmstack.policy.simulation")
        except ModuleNotFoundError as exc:
            if exc.name not in ("llmstack.policy", "llmstack.policy.simulation"):
                raise
            raise LlmstackError("the policy engine's simulation adapter (llmstack.policy.simulation) is not "
                                "available", path="--autoscaler",
                                hint="use a baseline: " + ", ".join(BASELINES)) from exc
        scaler: Autoscaler = module.policy_autoscaler(arg, stack, spec)
        return scaler
    raise LlmstackError(f"unknown autoscaler {name!r}", path="--autoscaler",
                        hint="one of static[:N], hpa[:TARGET], keda[:THRESHOLD], saturation, oracle, policy:PATH")
