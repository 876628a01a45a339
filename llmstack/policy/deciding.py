"""Decide: signals + state + policy + stack -> recommendations (pure).

Per deployment, in this order (:func:`evaluate`, :func:`_decide_deployment`):

1. **Data quality** (safety): stale, NaN/Inf, missing required signals, completeness below
   ``data.min_completeness`` (replicas reporting over those due: starting ones aside,
   :mod:`llmstack.policy.starting`), a failed read or readings the fleet cannot produce ->
   no action, a :class:`Skip` marked ``refused``.
2. **Horizontal**: every rule proposes a replica count; the largest wins (HPA's rule for
   several metrics). Target tracking and thresholds scale out (SLO); the model-based rule
   (demand / what one replica sustains within the SLO) scales both ways.
3. **Vertical** (safety): KV-cache saturation or preemptions held ``for`` -> the cheapest
   option on another pool or TP size that the capacity model says fits, holds at least
   ``min_kv_gain`` x the KV tokens, and whose pool has room.
4. **Variant**: sustained pressure at max replicas (SLO) or the stack over budget (cost) ->
   a variant at or above the deployment's ``quality_floor`` that sustains more; back to
   the declared variant when the declared one would fit comfortably again (cost).
5. **Conflicts**: **safety > SLO > cost**. One engine change (vertical or variant) per
   deployment and cycle, vertical first; a cost action (scale-in, switch back) is dropped when
   a higher class acts on the same deployment.
6. **Guards**: each candidate left passes the chain the policy sets (:func:`llmstack.policy.guards.chain`:
   clamp, tolerance, stabilization window, step for replica changes; cooldown, rate limit and
   budget for every change), re-predicted where a guard shrank it.

Scale to zero (``replicas.min: 0``, :mod:`llmstack.policy.zero`): a deployment at 0 replicas
with a router reading skips steps 1-6 (its engines export nothing) and is woken from the router's signals; one with
replicas goes to 0 only through the idle-to-zero rule (every other proposal is floored at 1),
held back by the cooldown and rate limit of the same chain (:func:`llmstack.policy.guards.hold_chain`).

Output is sorted by priority class, then deployment.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from llmstack.capacity import planning
from llmstack.catalog import signals as catalog
from llmstack.errors import LlmstackError
from llmstack.metrics.reading import SignalSnapshot
from llmstack.policy import forecasting, guards, zero
from llmstack.policy.predicting import CapacityView, workload
from llmstack.policy.recommendation import PRIORITY_ORDER, Prediction, Recommendation, Setting, Skip, settings_of
from llmstack.policy.rules import Guards, Policy
from llmstack.policy.state import ScalingState
from llmstack.spec.durations import parse_duration
from llmstack.spec.models import DeploymentSpec, StackSpec, WorkloadSpec

SLO_SIGNALS = {"ttft_p95": "ttft_p95_ms", "tpot_p95": "tpot_p95_ms"}
WINDOWED_SIGNALS = frozenset(name for name, signal in catalog.by_name().items() if signal.windowed)
"""Signals read over the rate window (rates, latency quantiles): they describe the fleet that served then."""
STARTED_BEFORE = {"ttft_p50": "ttft_p95", "ttft_p95": "ttft_p95", "tpot_p95": "e2e_latency_p95",
                  "e2e_latency_p95": "e2e_latency_p95"}
"""A latency is recorded when a request's first token (TTFT) or last one (TPOT, end-to-end) comes, so the
window's requests began up to that latency before the window did, on the fleet serving then."""
SERVING_LOOKBACK_S = 600.0
"""How far before the window the fleet is remembered: requests older than that are not looked back for."""


@dataclass(frozen=True)
class Evaluation:
    """Everything one cycle decided: recommendations, what was left alone and why, the new state."""

    recommendations: list[Recommendation]
    skips: list[Skip]
    state: ScalingState


@dataclass(frozen=True)
class _Wish:
    replicas: int
    rule: str
    priority: str
    reason: str
    used: tuple[str, ...]


def data_problems(snap: SignalSnapshot, policy: Policy) -> list[str]:
    """Why ``snap`` is too poor to act on (empty: good enough)."""
    quality = policy.data
    found: list[str] = []
    if snap.error:
        found.append(f"metrics unavailable: {snap.error}")
        return found
    if snap.implausible:
        found.append(f"implausible data: {'; '.join(snap.implausible)}")
        return found
    if snap.stale:
        found.append(f"stale data: newest sample of the oldest replica is {snap.oldest_sample_age_s:.0f} s old "
                     f"(limit {quality.stale_after:.0f} s)")
    bad_values = [n for n in snap.nan if n in quality.required_signals or n in SLO_SIGNALS or n.startswith("kv_")]
    if bad_values:
        found.append(f"NaN/Inf in {', '.join(sorted(bad_values))}")
    missing = [n for n in quality.required_signals if n in snap.missing]
    if missing:
        found.append(f"no series for {', '.join(missing)}")
    if snap.replicas_expected > 0 and snap.completeness < quality.min_completeness:
        found.append(f"partial data: {snap.coverage} ({snap.completeness:.0%} < {quality.min_completeness:.0%})")
    return found


def _bounds(deployment: DeploymentSpec, limits: Guards) -> tuple[int, int]:
    low = deployment.replicas.min if limits.min_replicas is None else max(deployment.replicas.min,
                                                                          limits.min_replicas)
    high = deployment.replicas.max if limits.max_replicas is None else min(deployment.replicas.max,
                                                                           limits.max_replicas)
    return low, max(low, high)


def _target(rule_target: float | None, fraction: float | None, signal: str,
            deployment: DeploymentSpec) -> float | None:
    if rule_target is not None:
        return rule_target
    if fraction is not None and signal in SLO_SIGNALS:
        return fraction * getattr(deployment.slo, SLO_SIGNALS[signal]) / 1000.0
    return None


def demand_rps(values: Mapping[str, float], drain_s: float) -> float | None:
    """Observed demand: completions per second plus the waiting requests spread over ``drain_s``."""
    rate = values.get("request_rate")
    if rate is None:
        return None
    return rate + forecasting.waiting(values) / max(1.0, drain_s)


@dataclass(frozen=True)
class _Case:
    """One deployment in one cycle: what every step of its decision reads."""

    deployment: DeploymentSpec
    snapshot: SignalSnapshot
    current: Setting
    """This deployment's setting in force."""
    settings: Mapping[str, Setting]
    """Every deployment's setting in force (the room left in a pool)."""
    values: Mapping[str, float]
    load: WorkloadSpec
    demand: float
    arrivals: float | None
    """Arrivals per second: completions plus the growth of the requests in the system (forecasting)."""
    serving: int
    """Replicas serving now (``replicas_up``; the setting's count when not reported)."""
    described: Mapping[str, int]
    """Windowed signal -> the fewest replicas that served since its requests began (the window, and before it
    the latency they report, :data:`STARTED_BEFORE`): the fleet the reading describes. A latency quantile over
    the last minute still holds the requests a smaller fleet served before the replicas now up came up;
    scaling it by the fleet now would count that shortfall twice."""
    low: int
    high: int
    limits: Guards
    """The policy's guards for this deployment."""
    scale_in_window: float
    """The scale-in stabilization window for this deployment's start-up time (:meth:`Guards.scale_in_window`)."""
    policy: Policy
    stack: StackSpec
    view: CapacityView
    now: float
    scales_to_zero: bool = False
    """``replicas.min: 0`` (and no guard above it): ``low`` is 1, and only idle-to-zero goes below."""

    @property
    def name(self) -> str:
        return self.deployment.name

    def predict(self, proposed: Setting) -> Prediction:
        return self.view.predict(self.deployment, self.current, proposed, self.load, self.demand,
                                 self.values.get("ttft_p95"))

    def propose(self, kind: str, proposed: Setting, rule: str, priority: str, reason: str,
                used: tuple[str, ...]) -> Recommendation:
        return Recommendation(self.name, kind, self.current, proposed, rule, priority,  # type: ignore[arg-type]
                              _signals(self.values, used), self.snapshot.window, self.snapshot.completeness,
                              reason, self.predict(proposed))

    def sustainable_rps(self, setting: Setting) -> float:
        return self.view.sustainable_rps(self.deployment, setting, self.load)

    def guard_context(self, state: ScalingState, stack_cost: float = 0.0) -> guards.GuardContext:
        """What the guards read; ``stack_cost``: the stack's cost per hour so far (the budget guards)."""
        return guards.GuardContext(state, self.now, self.low, self.high, self.scale_in_window, stack_cost,
                                   self.view.cost_per_hour(self.deployment, self.current.with_(replicas=1)))


def _target_tracking_wishes(case: _Case) -> list[_Wish]:
    replicas = case.current.replicas
    ready = case.serving  # latency and queues show the serving replicas
    band = case.limits.tolerance
    wishes: list[_Wish] = []
    for rule in case.policy.horizontal.target_tracking:
        value = forecasting.waiting(case.values) if rule.signal == "queue_length" else case.values.get(rule.signal)
        target = _target(rule.target, rule.slo_fraction, rule.signal, case.deployment)
        if value is None or target is None:
            continue
        measured = value / max(1, ready) if rule.per_replica else value
        ratio = measured / target
        queued = forecasting.waiting(case.values) / max(1, ready) >= rule.min_queue_per_replica
        if ratio > 1 + band and not queued:
            continue  # over target with nothing waiting: more replicas would not help, nor holding them
        if ratio > 1 + band:
            base = case.described.get(rule.signal, ready)
            grown = math.ceil(max(1, base) * min(ratio, rule.max_ratio or ratio))
            wishes.append(_Wish(max(replicas, grown), rule.name, "slo",
                                f"{rule.signal} {measured:.3g}{' per replica' if rule.per_replica else ''} is "
                                f"{ratio:.1f}x its target {target:.3g}", (rule.signal,)))
        elif ratio >= 1 - band:
            wishes.append(_Wish(replicas, rule.name, "slo", f"{rule.signal} near its target", (rule.signal,)))
        elif rule.scale_in:
            wishes.append(_Wish(max(0, math.ceil(replicas * ratio)), rule.name, "cost",
                                f"{rule.signal} {measured:.3g} is {ratio:.2f}x its target {target:.3g}",
                                (rule.signal,)))
    return wishes


def _threshold_wishes(case: _Case, state: ScalingState) -> tuple[list[_Wish], dict[str, bool]]:
    replicas = case.current.replicas
    wishes: list[_Wish] = []
    holding: dict[str, bool] = {}
    for rule in case.policy.horizontal.thresholds:
        value = case.values.get(rule.signal)
        if value is None:
            holding[rule.name] = False
            continue
        measured = value / max(1, replicas) if rule.per_replica else value
        above = rule.above is not None and measured > rule.above
        holds = above or (rule.below is not None and measured < rule.below)
        holding[rule.name] = holds
        started = state.since.get(f"{case.name}/{rule.name}") is not None
        held = state.held_for(case.name, rule.name, case.now) if started else 0.0
        if holds and held >= rule.for_:
            bound = f"above {rule.above:g}" if above else f"below {rule.below:g}"
            wishes.append(_Wish(max(0, replicas + rule.step), rule.name, "slo" if rule.step > 0 else "cost",
                                f"{rule.signal} {measured:.3g} {bound} for {held:.0f} s", (rule.signal,)))
    return wishes, holding


def _planned_rps(case: _Case, utilization: float, min_saturation_share: float) -> tuple[float, str]:
    """What the model-based rule plans one replica to serve, and why: its rate within the SLO x
    ``utilization``, never under ``min_saturation_share`` of its saturation rate."""
    within = case.sustainable_rps(case.current)
    saturation = case.view.saturation_rps(case.deployment, case.current, case.load)
    if min_saturation_share * saturation > within * utilization:
        return min_saturation_share * saturation, (
            f"{min_saturation_share:.0%} of its saturation rate {saturation:.2f}: within the SLO only "
            f"{within:.2f}, the requests' own length")
    return within * utilization, f"{utilization:.0%} of {within:.2f} within the SLO"


def _model_based_wish(case: _Case, state: ScalingState) -> _Wish | None:
    """Demand a start-up ahead (arrivals, their rising trend, the backlog) over one replica's SLO rate."""
    rule = case.policy.horizontal.model_based
    if not rule.enabled or case.arrivals is None:
        return None
    per_replica, basis = _planned_rps(case, rule.utilization, rule.min_saturation_share)
    if per_replica <= 0:
        return None
    backlog = forecasting.waiting(case.values) / max(1.0, rule.queue_drain)
    demand = case.arrivals + backlog
    ahead = backlog + forecasting.forecast_rps(state, case.name, case.now, case.arrivals, rule.forecast_window,
                                               case.view.startup_s(case.deployment, case.current))
    need = math.ceil(ahead / per_replica - 1e-9) if demand > rule.min_request_rate else 0
    trend = f" rising to {ahead:.2f} a start-up ahead" if ahead > demand + 1e-6 else ""
    return _Wish(need, "model-based", "slo" if need > case.current.replicas else "cost",
                 f"demand {demand:.2f} req/s{trend} over {per_replica:.2f} req/s per replica "
                 f"({basis}, {case.load.prompt_tokens}+{case.load.output_tokens} tokens)",
                 ("request_rate", "queue_length", "prompt_tokens_rate", "generation_tokens_rate"))


def _horizontal_wishes(case: _Case, state: ScalingState) -> tuple[list[_Wish], dict[str, bool]]:
    """Every horizontal rule's replica count, and which threshold conditions hold now."""
    wishes = _target_tracking_wishes(case)
    from_thresholds, holding = _threshold_wishes(case, state)
    wishes += from_thresholds
    model_based = _model_based_wish(case, state)
    if model_based is not None:
        wishes.append(model_based)
    return wishes, holding


CONTEXT_SIGNALS = ("request_rate", "queue_length", "running_requests", "kv_cache_usage", "ttft_p95")
"""Shown with every recommendation, after the signals of the rule that fired."""


def _signals(values: Mapping[str, float], names: tuple[str, ...]) -> dict[str, float]:
    ordered = list(dict.fromkeys((*names, *CONTEXT_SIGNALS)))
    return {n: round(values[n], 6) for n in ordered if n in values}


def _pool_free_gpus(stack: StackSpec, current: Mapping[str, Setting], pool: str, exclude: str) -> int:
    used = 0
    for deployment in stack.deployments:
        setting = current.get(deployment.name)
        if setting is not None and setting.pool == pool and deployment.name != exclude:
            used += setting.gpus(deployment)
    return stack.pool(pool).max_gpus - used


def vertical_options(stack: StackSpec, deployment: DeploymentSpec, cur: Setting, current: Mapping[str, Setting],
                     view: CapacityView, min_kv_gain: float) -> list[Setting]:
    """Settings with more KV cache per replica that fit and whose pool has room, cheapest first.

    Only shapes of the planner's generator (:func:`llmstack.capacity.planning.shapes`: TP inside a
    node) in the current variant, and only those that meet the SLO at low load for the declared
    workload (the planner rejects the others).
    """
    base_kv = view.profile(deployment, cur).kv_cache_tokens
    options: list[tuple[float, int, Setting]] = []
    for shape in planning.shapes(stack, deployment):
        option = cur.with_(pool=shape.pool, tensor_parallel=shape.tensor_parallel)
        if shape.variant != cur.variant or option == cur or not view.fits(deployment, option):
            continue
        kv = view.profile(deployment, option).kv_cache_tokens
        if kv < min_kv_gain * base_kv or view.sustainable_rps(deployment, option, deployment.workload) <= 0:
            continue
        if _pool_free_gpus(stack, current, shape.pool, deployment.name) < option.gpus(deployment):
            continue
        options.append((view.cost_per_hour(deployment, option), -kv, option))
    return [option for _, _, option in sorted(options, key=lambda entry: (entry[0], entry[1]))]


def variant_options(stack: StackSpec, deployment: DeploymentSpec, cur: Setting, view: CapacityView) -> list[Setting]:
    """The other variants on the current pool and TP that the planner generates and accepts (they fit and
    meet the SLO at low load for the declared workload), at or above the quality floor."""
    quality = {v.name: v.quality for v in stack.model(deployment.model).variants}
    options = [cur.with_(variant=shape.variant) for shape in planning.shapes(stack, deployment)
               if shape.variant != cur.variant and quality[shape.variant] >= deployment.quality_floor
               and (shape.pool, shape.tensor_parallel) == (cur.pool, cur.tensor_parallel)]
    return [option for option in options if view.fits(deployment, option)
            and view.sustainable_rps(deployment, option, deployment.workload) > 0]


def _variant_choice(case: _Case, utilization: float) -> Setting | None:
    """The best variant to relieve pressure: fits, at or above the quality floor, sustains more."""
    deployment, cur = case.deployment, case.current
    now_rps = case.sustainable_rps(cur)
    quality = {v.name: v.quality for v in case.stack.model(deployment.model).variants}
    best: tuple[int, float, float, Setting] | None = None
    for option in variant_options(case.stack, deployment, cur, case.view):
        rps = case.sustainable_rps(option)
        if rps <= now_rps * 1.1:
            continue
        need = math.ceil(case.demand / max(1e-9, rps * utilization))
        key = (0 if need <= case.high else 1, -quality[option.variant], -rps, option)
        if best is None or key[:3] < best[:3]:
            best = key
    return None if best is None else best[3]


@dataclass(frozen=True)
class _Conditions:
    """The conditions that must hold for a while before an engine change, and how long each has held."""

    desired: int
    kv: float | None
    saturated: bool
    pressure: bool
    back_ok: bool
    over_budget: bool
    held: Mapping[str, float]
    """Seconds each of kv-saturation, pressure, variant-back and over-budget has held (0 when it does not)."""


def _refusal(deployment: DeploymentSpec, snapshot: SignalSnapshot | None, policy: Policy) -> Skip | None:
    """Step 1, data quality: why the deployment gets no action this cycle (None: the data is good enough)."""
    if snapshot is None:
        return Skip(deployment.name, "no reading for this deployment", refused=True)
    problems = data_problems(snapshot, policy)
    if problems:
        return Skip(deployment.name, "no action: " + "; ".join(problems), refused=True)
    return None


def capacity_problems(case: _Case) -> list[str]:
    """Readings the fleet cannot physically produce: a rate orders of magnitude over what it
    serves, more requests running than its engines admit (``max_num_seqs``)."""
    found: list[str] = []
    fleet = max(1, case.snapshot.replicas_expected)
    rate, running = case.values.get("request_rate"), case.values.get("running_requests")
    factor = case.policy.data.max_rate_over_capacity
    try:
        serves = case.sustainable_rps(case.current) * fleet
        seqs = case.view.profile(case.deployment, case.current).max_num_seqs * fleet
    except (LlmstackError, ArithmeticError, ValueError):
        return found
    if rate is not None and serves > 0 and rate > factor * serves:
        found.append(f"request_rate {rate:.3g}/s is over {factor:g}x what {fleet} replica(s) serve ({serves:.3g}/s)")
    if running is not None and running > 2 * seqs:
        found.append(f"running_requests {running:.3g} is over twice what {fleet} engine(s) admit ({seqs})")
    return found


def _record_desired(case: _Case, state: ScalingState, desired: int) -> ScalingState:
    """Remember the desired count for the stabilization window (the first cycle also remembers the current)."""
    keep_s = max(case.scale_in_window, 60.0)
    if not state.desired.get(case.name):  # first cycle: the current count counts as desired (as HPA starts)
        state = state.with_desired(case.name, case.current.replicas, case.now, keep_s)
    return state.with_desired(case.name, min(case.high, max(case.low, desired)), case.now, keep_s)


def _conditions(case: _Case, state: ScalingState, desired: int, holding: dict[str, bool], stack_cost: float,
                budget_limit: float | None) -> tuple[_Conditions, ScalingState]:
    """The engine-change conditions now, how long each held (before this cycle), and the state recording them."""
    vertical, variants = case.policy.vertical, case.policy.variants
    kv = case.values.get("kv_cache_usage_max", case.values.get("kv_cache_usage"))
    saturated = (kv is not None and kv >= vertical.kv_usage_above) or \
        case.values.get("preemption_rate", 0.0) > vertical.preemptions_per_s_above
    pressure = desired > case.high or (desired >= case.high and case.current.replicas >= case.high)
    back_ok = False
    if case.current.variant != case.deployment.variant:
        back = case.current.with_(variant=case.deployment.variant)
        per_replica = case.sustainable_rps(back) * case.policy.horizontal.model_based.utilization
        back_ok = per_replica > 0 and math.ceil(case.demand / per_replica) <= variants.back_headroom * case.high
    over_budget = budget_limit is not None and stack_cost > budget_limit
    engine_conditions = {"kv-saturation": saturated, "pressure": pressure, "variant-back": back_ok,
                         "over-budget": over_budget}
    held = {name: state.held_for(case.name, name, case.now) if holds else 0.0
            for name, holds in engine_conditions.items()}
    state = state.with_conditions(case.name, {**holding, **engine_conditions}, case.now)
    return _Conditions(desired, kv, saturated, pressure, back_ok, over_budget, held), state


def _vertical_candidate(case: _Case, cond: _Conditions) -> Recommendation | Skip | None:
    """Step 3, vertical (safety): KV saturation or preemptions held long enough -> a larger option."""
    vertical = case.policy.vertical
    if not (vertical.enabled and cond.saturated and cond.held["kv-saturation"] >= vertical.for_):
        return None
    options = vertical_options(case.stack, case.deployment, case.current, case.settings, case.view,
                               vertical.min_kv_gain)
    cause = (f"KV cache {cond.kv:.0%} full" if cond.kv is not None and cond.kv >= vertical.kv_usage_above
             else f"{case.values.get('preemption_rate', 0.0):.2f} preemptions/s")
    if not options:
        return Skip(case.name, f"{cause}, but no larger option fits with room in its pool", rule="kv-saturation")
    option = options[0]
    gain = (case.view.profile(case.deployment, option).kv_cache_tokens
            / max(1, case.view.profile(case.deployment, case.current).kv_cache_tokens))
    return case.propose("vertical", option, "kv-saturation", "safety",
                        f"{cause} for {cond.held['kv-saturation']:.0f} s: move to {option.pool} TP "
                        f"{option.tensor_parallel} ({gain:.1f}x the KV cache per replica)",
                        ("kv_cache_usage", "kv_cache_usage_max", "preemption_rate"))


def _variant_candidate(case: _Case, cond: _Conditions, stack_cost: float,
                       budget_limit: float | None) -> Recommendation | None:
    """Step 4, variant: relieve pressure at max replicas (SLO) or cost over budget; switch back when it fits."""
    variants = case.policy.variants
    if not variants.enabled:
        return None
    relieve = cond.pressure and cond.held["pressure"] >= variants.pressure_for
    if relieve or (cond.over_budget and cond.held["over-budget"] >= variants.pressure_for):
        choice = _variant_choice(case, case.policy.horizontal.model_based.utilization)
        if choice is None:
            return None
        why = (f"{cond.desired} replicas wanted at max {case.high} for {cond.held['pressure']:.0f} s"
               if cond.pressure else f"stack costs ${stack_cost:.2f}/h over the ${budget_limit:.2f}/h budget")
        quality = case.stack.model(case.deployment.model).variant(choice.variant).quality
        return case.propose("variant", choice, "variant-pressure" if cond.pressure else "variant-budget",
                            "slo" if cond.pressure else "cost",
                            f"{why}: switch {case.current.variant} -> {choice.variant} "
                            f"(quality {quality:g} >= floor {case.deployment.quality_floor:g})",
                            ("request_rate", "ttft_p95"))
    if cond.back_ok and not cond.over_budget and cond.held["variant-back"] >= variants.back_after:
        declared = case.deployment.variant
        back = case.current.with_(variant=declared)
        if case.view.fits(case.deployment, back):
            return case.propose("variant", back, "variant-back", "cost",
                                f"declared variant {declared} sustains the demand of {case.demand:.2f} req/s "
                                f"for {cond.held['variant-back']:.0f} s: switch back from {case.current.variant}",
                                ("request_rate",))
    return None


def _horizontal_candidate(case: _Case, wishes: list[_Wish], desired: int) -> Recommendation | None:
    """Step 2's outcome: the largest wish wins (ties: the higher priority class)."""
    if desired == case.current.replicas or not wishes:
        return None
    top = max(wishes, key=lambda wish: (wish.replicas, PRIORITY_ORDER[wish.priority] * -1))
    priority = "slo" if desired > case.current.replicas else "cost"
    return case.propose("horizontal", case.current.with_(replicas=desired), top.rule, priority,
                        f"{top.reason}: {case.current.replicas} -> {desired} replicas", top.used)


def _resolve_conflicts(name: str, candidates: list[Recommendation]) -> tuple[list[Recommendation], list[Skip]]:
    """One engine change (the highest class), and cost actions dropped when a higher class acts."""
    engine = sorted((c for c in candidates if c.kind != "horizontal"), key=lambda c: PRIORITY_ORDER[c.priority])
    keep = [c for c in candidates if c.kind == "horizontal"] + engine[:1]
    top_class = min((PRIORITY_ORDER[c.priority] for c in keep), default=2)
    if top_class == 2:
        return keep, []
    dropped = [Skip(name, f"{c.rule} dropped: a {'SLO' if top_class else 'safety'} rule acts", rule=c.rule)
               for c in keep if c.priority == "cost"]
    return [c for c in keep if c.priority != "cost"], dropped


def _guarded(case: _Case, kept: list[Recommendation], state: ScalingState, stack_cost: float,
             budget_limit: float | None) -> tuple[list[Recommendation], list[Skip]]:
    """The guards over each kept candidate; the stack cost follows the ones that pass (for the budget guard)."""
    recs: list[Recommendation] = []
    skips: list[Skip] = []
    chain = guards.chain(case.policy, case.name, budget_limit)
    for candidate in kept:
        result = guards.run(chain, candidate, case.guard_context(state, stack_cost), case.predict)
        if isinstance(result, Skip):
            skips.append(result)
            continue
        recs.append(result)
        if result.predicted:
            stack_cost += result.predicted.cost_per_hour_after - result.predicted.cost_per_hour_before
    return recs, skips


@dataclass(frozen=True)
class _Cycle:
    """What every deployment's decision in one cycle shares."""

    policy: Policy
    stack: StackSpec
    view: CapacityView
    settings: Mapping[str, Setting]
    """Every deployment's setting in force."""
    now: float
    budget_limit: float | None
    """The stack's budget per hour: the policy's ``guards.budget_per_hour``, else the stack's."""

    @property
    def scrape_s(self) -> float:
        """Prometheus' scrape interval: the span of the ``irate`` signals."""
        return parse_duration(self.stack.monitoring.scrape_interval)

    def case(self, deployment: DeploymentSpec, snapshot: SignalSnapshot, state: ScalingState) -> _Case:
        """What ``deployment``'s decision reads this cycle."""
        values, policy, setting = dict(snapshot.values), self.policy, self.settings[deployment.name]
        limits = policy.guards_for(deployment.name)
        window = limits.scale_in_window(self.view.startup_s(deployment, setting))
        low, high = _bounds(deployment, limits)
        demand = demand_rps(values, policy.horizontal.model_based.queue_drain) or 0.0
        arrivals = forecasting.arrivals_rps(values, state, deployment.name, self.now, scrape_s=self.scrape_s,
                                            surge_sigma=policy.horizontal.model_based.surge_sigma)
        # tokens per request over completions: while requests pile up this overstates them (conservative);
        # over arrivals it understates them (queued prompts are not prefilled yet) and under-provisions a burst
        window_s = parse_duration(snapshot.window)
        load = workload(deployment, values, _admitted_rps(values, state, deployment.name, self.now, window_s),
                        policy.horizontal.model_based.max_prompt_overstatement)
        serving = int(values.get("replicas_up", 0.0)) or setting.replicas
        described = _described_fleets(values, state, deployment.name, self.now - window_s, serving)
        return _Case(deployment, snapshot, setting, self.settings, values, load, demand, arrivals, serving, described,
                     max(low, 1), high, limits, window, policy, self.stack, self.view, self.now,
                     scales_to_zero=low == 0)


def _admitted_rps(values: Mapping[str, float], state: ScalingState, deployment: str, now: float,
                  window_s: float) -> float | None:
    """Requests admitted to a batch per second over the window: completions plus the running batch's growth
    since the oldest cycle in it (None: no completions read, or no such cycle)."""
    rate, then = values.get("request_rate"), state.running_since(deployment, now - window_s)
    if rate is None or then is None or now - then[0] <= 0:
        return None
    return rate + max(0.0, values.get("running_requests", 0.0) - then[1]) / (now - then[0])


def _described_fleets(values: Mapping[str, float], state: ScalingState, deployment: str, window_start: float,
                      serving: int) -> dict[str, int]:
    """Each windowed signal's fleet: the fewest replicas remembered serving since its requests began."""
    fleets = {}
    for signal in WINDOWED_SIGNALS:
        began = window_start - min(SERVING_LOOKBACK_S, values.get(STARTED_BEFORE.get(signal, ""), 0.0))
        fewest = state.fewest_serving(deployment, began)
        fleets[signal] = serving if fewest is None else min(serving, fewest)
    return fleets


def _observe(case: _Case, state: ScalingState) -> ScalingState:
    """Remember this cycle's serving replicas (the fleet the next windowed readings describe), arrivals and
    requests in the system (queue growth, the forecast's trend)."""
    state = state.with_serving(case.name, case.now, case.serving,
                               parse_duration(case.snapshot.window) + SERVING_LOOKBACK_S,
                               case.values.get("running_requests", 0.0))
    if case.arrivals is None:
        return state
    keep_s = max(case.policy.horizontal.model_based.forecast_window, forecasting.IN_SYSTEM_SPAN_S)
    return state.with_observed(case.name, case.now, case.arrivals, forecasting.in_system(case.values), keep_s)


def _data_check(cycle: _Cycle, deployment: DeploymentSpec, snapshot: SignalSnapshot | None,
                state: ScalingState) -> _Case | Skip:
    """Step 1, data quality: the case to decide on, or why the data is too poor to act on."""
    refusal = _refusal(deployment, snapshot, cycle.policy)
    if refusal is not None:
        return refusal
    assert snapshot is not None  # _refusal refuses a missing reading
    case = cycle.case(deployment, snapshot, state)
    absurd = capacity_problems(case)
    if absurd:
        return Skip(deployment.name, "no action: implausible data: " + "; ".join(absurd), refused=True)
    return case


def _decide_deployment(cycle: _Cycle, deployment: DeploymentSpec, snapshot: SignalSnapshot | None,
                       state: ScalingState, stack_cost: float) -> tuple[list[Recommendation], list[Skip], ScalingState]:
    """Steps 1-6 for one deployment with replicas (``stack_cost``: with the changes accepted so far)."""
    case = _data_check(cycle, deployment, snapshot, state)  # 1
    if isinstance(case, Skip):
        return [], [case], state.forget_conditions(deployment.name)
    to_zero, state = _scale_to_zero(case, state)
    if to_zero is not None:
        return ([to_zero], [], state) if isinstance(to_zero, Recommendation) else ([], [to_zero], state)
    wishes, holding = _horizontal_wishes(case, state)  # 2
    desired = max((wish.replicas for wish in wishes), default=case.current.replicas)
    state = _record_desired(case, _observe(case, state), desired)
    cond, state = _conditions(case, state, desired, holding, stack_cost, cycle.budget_limit)
    vertical = _vertical_candidate(case, cond)  # 3
    variant = _variant_candidate(case, cond, stack_cost, cycle.budget_limit)  # 4
    horizontal = _horizontal_candidate(case, wishes, desired)  # 2's outcome
    candidates = [c for c in (vertical, variant, horizontal) if isinstance(c, Recommendation)]
    kept, dropped = _resolve_conflicts(case.name, candidates)  # 5
    recs, refused = _guarded(case, kept, state, stack_cost, cycle.budget_limit)  # 6
    skips = [vertical] if isinstance(vertical, Skip) else []
    skips += dropped + refused
    if not candidates and not skips:
        skips.append(Skip(case.name, f"no change: {case.current.replicas} replicas match the rules "
                                     f"(desired {desired})"))
    return recs, skips, state


def _scale_to_zero(case: _Case, state: ScalingState) -> tuple[Recommendation | Skip | None, ScalingState]:
    """A ``min: 0`` deployment's own moves, before the rules: idle to zero, or sized just after a wake."""
    to_zero, state = _idle_to_zero(case, state)
    return (to_zero if to_zero is not None else _settling(case, state)), state


def _idle_to_zero(case: _Case, state: ScalingState) -> tuple[Recommendation | Skip | None, ScalingState]:
    """Idle for ``replicas.idle_window`` -> 0 replicas, past the cooldown and rate limit (``min: 0`` only)."""
    if not case.scales_to_zero:
        return None, state
    idle = zero.is_idle(case.values)
    held = state.held_for(case.name, zero.IDLE_CONDITION, case.now) if idle else 0.0
    state = state.with_conditions(case.name, {zero.IDLE_CONDITION: idle}, case.now)
    idle_s = held + zero.window_s(case.snapshot.window) if idle else None
    move = zero.to_zero(case.values, case.current.replicas, idle_s, case.deployment.replicas.idle_window_s)
    if move is None:
        return None, state
    if isinstance(move, str):
        return Skip(case.name, move, rule="idle-to-zero"), state
    rec = case.propose("horizontal", case.current.with_(replicas=0), move.rule, "cost", move.reason, move.used)
    return guards.run(guards.hold_chain(case.policy, case.name), rec, case.guard_context(state), case.predict), state


def _per_replica_rps(case: _Case) -> float:
    return case.sustainable_rps(case.current.with_(replicas=1)) * case.policy.horizontal.model_based.utilization


def _settling(case: _Case, state: ScalingState) -> Recommendation | Skip | None:
    """Just after a wake from zero: sized on the router's arrivals alone (:func:`zero.settling`)."""
    woke = state.last(case.name, "wake")
    if not case.scales_to_zero or woke is None:
        return None
    settle_s = case.view.startup_s(case.deployment, case.current) + 2 * zero.window_s(case.snapshot.window)
    if case.now - woke >= settle_s:
        return None
    move = zero.settling(case.values, _per_replica_rps(case), case.current.replicas, case.high, case.now - woke,
                         settle_s)
    if isinstance(move, str):
        return Skip(case.name, move, rule="wake-settling")
    return case.propose("horizontal", case.current.with_(replicas=move.replicas), move.rule, "slo", move.reason,
                        move.used)


def _at_zero(case: _Case, state: ScalingState, stack_cost: float,
             budget_limit: float | None) -> tuple[list[Recommendation], list[Skip], ScalingState]:
    """A deployment at 0 replicas: woken from the router's signals (no cooldown holds a wake back; the
    budgets do, :func:`guards.spend_chain`)."""
    move = zero.wake(case.values, _per_replica_rps(case), 0 if case.scales_to_zero else case.low, case.high)
    if move is None:
        return [], [Skip(case.name, "no change: 0 replicas, nothing held or arriving at the router")], state
    if isinstance(move, str):
        return [], [Skip(case.name, f"no action: {move}", refused=True)], state
    rec = case.propose("horizontal", case.current.with_(replicas=move.replicas), move.rule, "slo", move.reason,
                       move.used)
    woken = guards.run(guards.spend_chain(case.policy, case.name, budget_limit), rec,
                       case.guard_context(state, stack_cost), case.predict)
    if isinstance(woken, Skip):
        return [], [woken], state
    return [woken], [], state.with_wake(case.name, case.now)


def evaluate(snapshots: Mapping[str, SignalSnapshot], state: ScalingState, policy: Policy, stack: StackSpec,
             now: float, current: Mapping[str, Setting] | None = None) -> Evaluation:
    """Decide one cycle. ``stack`` is the spec as declared; ``current`` the settings in force
    (default: as declared). Returns recommendations after guards, skips and the new state."""
    settings = dict(settings_of(stack)) | dict(current or {})
    cycle = _Cycle(policy, stack, CapacityView(stack), settings, now,
                   policy.guards.budget_per_hour or stack.budget_per_hour)
    recs: list[Recommendation] = []
    skips: list[Skip] = []
    stack_cost = sum(cycle.view.cost_per_hour(d, settings[d.name]) for d in stack.deployments)
    for deployment in stack.deployments:
        snapshot = snapshots.get(deployment.name)
        if settings[deployment.name].replicas == 0 and snapshot is not None and not snapshot.error \
                and not snapshot.implausible:
            more, left, state = _at_zero(cycle.case(deployment, snapshot, state), state, stack_cost,
                                         cycle.budget_limit)
        else:
            more, left, state = _decide_deployment(cycle, deployment, snapshot, state, stack_cost)
        stack_cost += sum(r.predicted.cost_per_hour_after - r.predicted.cost_per_hour_before
                          for r in more if r.predicted is not None)  # a wake too: later budget checks see it
        recs.extend(more)
        skips.extend(left)
    recs.sort(key=lambda r: (PRIORITY_ORDER[r.priority], r.deployment))
    return Evaluation(recs, skips, state)


def decide(snapshots: Mapping[str, SignalSnapshot], state: ScalingState, policy: Policy, stack: StackSpec,
           now: float, current: Mapping[str, Setting] | None = None) -> list[Recommendation]:
    """The recommendations of one cycle (see :func:`evaluate` for skips and the new state)."""
    return evaluate(snapshots, state, policy, stack, now, current).recommendations
