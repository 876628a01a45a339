"""Decide: signals + state + policy + stack -> recommendations (pure).

Per deployment, in this order:

1. **Data quality** (safety): stale, NaN/Inf, missing required signals, completeness below
   ``data.min_completeness`` or a failed read -> no action, a :class:`Skip` marked ``refused``.
2. **Horizontal**: every rule proposes a replica count; the largest wins (HPA's rule for
   several metrics). Target tracking and thresholds scale out (SLO); the model-based rule
   (demand / what one replica sustains within the SLO) scales both ways. A scale-in is a
   cost action: it passes the stabilization window, tolerance, step and cooldown guards.
3. **Vertical** (safety): KV-cache saturation or preemptions held ``for`` -> the cheapest
   option on another pool or TP size that the capacity model says fits, holds at least
   ``min_kv_gain`` x the KV tokens, and whose pool has room.
4. **Variant**: sustained pressure at max replicas (SLO) or the stack over budget (cost) ->
   a variant at or above the deployment's ``quality_floor`` that sustains more; back to
   the declared variant when the declared one would fit comfortably again (cost).

Conflicts: **safety > SLO > cost**. One engine change (vertical or variant) per deployment
and cycle, vertical first; a cost action (scale-in, switch back) is dropped when a higher
class acts on the same deployment. Output is sorted by that priority, then deployment.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from llmstack.capacity.planning import TP_CHOICES
from llmstack.errors import LlmstackError
from llmstack.metrics.reading import SignalSnapshot
from llmstack.policy import guards as g
from llmstack.policy.predicting import CapacityView, workload
from llmstack.policy.recommendation import PRIORITY_ORDER, Prediction, Recommendation, Setting, Skip, settings_of
from llmstack.policy.rules import Guards, Policy
from llmstack.policy.state import ScalingState
from llmstack.spec.models import DeploymentSpec, StackSpec, WorkloadSpec

SLO_SIGNALS = {"ttft_p95": "ttft_p95_ms", "tpot_p95": "tpot_p95_ms"}


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
    q = policy.data
    found: list[str] = []
    if snap.error:
        found.append(f"metrics unavailable: {snap.error}")
        return found
    if snap.implausible:
        found.append(f"implausible data: {'; '.join(snap.implausible)}")
        return found
    if snap.stale:
        found.append(f"stale data: newest sample of the oldest replica is {snap.oldest_sample_age_s:.0f} s old "
                     f"(limit {q.stale_after:.0f} s)")
    bad_values = [n for n in snap.nan if n in q.required_signals or n in SLO_SIGNALS or n.startswith("kv_")]
    if bad_values:
        found.append(f"NaN/Inf in {', '.join(sorted(bad_values))}")
    missing = [n for n in q.required_signals if n in snap.missing]
    if missing:
        found.append(f"no series for {', '.join(missing)}")
    if snap.replicas_expected > 0 and snap.completeness < q.min_completeness:
        found.append(f"partial data: {snap.replicas_reporting} of {snap.replicas_expected} replicas report "
                     f"({snap.completeness:.0%} < {q.min_completeness:.0%})")
    return found


def capacity_problems(d: DeploymentSpec, cur: Setting, values: Mapping[str, float], replicas: int,
                      view: CapacityView, w: WorkloadSpec, policy: Policy) -> list[str]:
    """Readings the fleet cannot physically produce: a rate orders of magnitude over what it
    serves, more requests running than its engines admit (``max_num_seqs``)."""
    found: list[str] = []
    fleet = max(1, replicas)
    rate, running = values.get("request_rate"), values.get("running_requests")
    factor = policy.data.max_rate_over_capacity
    try:
        serves = view.sustainable_rps(d, cur, w) * fleet
        seqs = view.profile(d, cur).max_num_seqs * fleet
    except (LlmstackError, ArithmeticError, ValueError):
        return found
    if rate is not None and serves > 0 and rate > factor * serves:
        found.append(f"request_rate {rate:.3g}/s is over {factor:g}x what {fleet} replica(s) serve ({serves:.3g}/s)")
    if running is not None and running > 2 * seqs:
        found.append(f"running_requests {running:.3g} is over twice what {fleet} engine(s) admit ({seqs})")
    return found


def _bounds(d: DeploymentSpec, gd: Guards) -> tuple[int, int]:
    low = d.replicas.min if gd.min_replicas is None else max(d.replicas.min, gd.min_replicas)
    high = d.replicas.max if gd.max_replicas is None else min(d.replicas.max, gd.max_replicas)
    return low, max(low, high)


def _target(rule_target: float | None, fraction: float | None, signal: str, d: DeploymentSpec) -> float | None:
    if rule_target is not None:
        return rule_target
    if fraction is not None and signal in SLO_SIGNALS:
        return fraction * getattr(d.slo, SLO_SIGNALS[signal]) / 1000.0
    return None


def demand_rps(values: Mapping[str, float], drain_s: float) -> float | None:
    """Observed demand: completions per second plus the queue spread over ``drain_s``."""
    rate = values.get("request_rate")
    if rate is None:
        return None
    return rate + values.get("queue_length", 0.0) / max(1.0, drain_s)


def _horizontal_wishes(d: DeploymentSpec, cur: Setting, values: Mapping[str, float], policy: Policy,
                       state: ScalingState, now: float, view: CapacityView,
                       w: WorkloadSpec) -> tuple[list[_Wish], dict[str, bool]]:
    wishes: list[_Wish] = []
    holding: dict[str, bool] = {}
    r = cur.replicas
    tol = policy.guards_for(d.name).tolerance
    for tt in policy.horizontal.target_tracking:
        value, target = values.get(tt.signal), _target(tt.target, tt.slo_fraction, tt.signal, d)
        if value is None or target is None:
            continue
        measured = value / max(1, r) if tt.per_replica else value
        ratio = measured / target
        if ratio > 1 + tol:
            wishes.append(_Wish(math.ceil(max(1, r) * ratio), tt.name, "slo",
                                f"{tt.signal} {measured:.3g}{' per replica' if tt.per_replica else ''} is "
                                f"{ratio:.1f}x its target {target:.3g}", (tt.signal,)))
        elif ratio >= 1 - tol or not tt.scale_in:
            if ratio >= 1 - tol:
                wishes.append(_Wish(r, tt.name, "slo", f"{tt.signal} near its target", (tt.signal,)))
        else:
            wishes.append(_Wish(max(0, math.ceil(r * ratio)), tt.name, "cost",
                                f"{tt.signal} {measured:.3g} is {ratio:.2f}x its target {target:.3g}", (tt.signal,)))
    for th in policy.horizontal.thresholds:
        value = values.get(th.signal)
        if value is None:
            holding[th.name] = False
            continue
        measured = value / max(1, r) if th.per_replica else value
        holds = (th.above is not None and measured > th.above) or (th.below is not None and measured < th.below)
        holding[th.name] = holds
        held = state.held_for(d.name, th.name, now) if state.since.get(f"{d.name}/{th.name}") is not None else 0.0
        if holds and held >= th.for_:
            bound = f"above {th.above:g}" if th.above is not None and measured > th.above else f"below {th.below:g}"
            wishes.append(_Wish(max(0, r + th.step), th.name, "slo" if th.step > 0 else "cost",
                                f"{th.signal} {measured:.3g} {bound} for {held:.0f} s", (th.signal,)))
    mb = policy.horizontal.model_based
    demand = demand_rps(values, mb.queue_drain)
    if mb.enabled and demand is not None:
        per = view.sustainable_rps(d, cur, w) * mb.utilization
        if per > 0:
            need = math.ceil(demand / per - 1e-9) if demand > mb.min_request_rate else 0
            wishes.append(_Wish(need, "model-based", "slo" if need > r else "cost",
                                f"demand {demand:.2f} req/s over {per:.2f} req/s per replica "
                                f"({mb.utilization:.0%} of {per / mb.utilization:.2f} within the SLO, "
                                f"{w.prompt_tokens}+{w.output_tokens} tokens)",
                                ("request_rate", "queue_length", "prompt_tokens_rate", "generation_tokens_rate")))
    return wishes, holding


CONTEXT_SIGNALS = ("request_rate", "queue_length", "running_requests", "kv_cache_usage", "ttft_p95")
"""Shown with every recommendation, after the signals of the rule that fired."""


def _signals(values: Mapping[str, float], names: tuple[str, ...]) -> dict[str, float]:
    ordered = list(dict.fromkeys((*names, *CONTEXT_SIGNALS)))
    return {n: round(values[n], 6) for n in ordered if n in values}


def _pool_free_gpus(stack: StackSpec, current: Mapping[str, Setting], pool: str, exclude: str) -> int:
    spec = stack.pool(pool)
    used = 0
    for d in stack.deployments:
        s = current.get(d.name)
        if s is not None and s.pool == pool and d.name != exclude:
            used += s.replicas * s.tensor_parallel * d.pipeline_parallel
    return spec.gpus_per_node * spec.nodes.max - used


def vertical_options(stack: StackSpec, d: DeploymentSpec, cur: Setting, current: Mapping[str, Setting],
                     view: CapacityView, min_kv_gain: float) -> list[Setting]:
    """Settings with more KV cache per replica that fit and whose pool has room, cheapest first."""
    base_kv = view.profile(d, cur).kv_cache_tokens
    options: list[tuple[float, int, Setting]] = []
    for pool in stack.pools:
        for tp in TP_CHOICES:
            option = cur.with_(pool=pool.name, tensor_parallel=tp)
            if option == cur or tp * d.pipeline_parallel > pool.gpus_per_node * pool.nodes.max:
                continue
            if not view.fits(d, option):
                continue
            kv = view.profile(d, option).kv_cache_tokens
            if kv < min_kv_gain * base_kv:
                continue
            if _pool_free_gpus(stack, current, pool.name, d.name) < option.replicas * tp * d.pipeline_parallel:
                continue
            options.append((view.cost_per_hour(d, option), -kv, option))
    return [o for _, _, o in sorted(options, key=lambda x: (x[0], x[1]))]


def _variant_choice(stack: StackSpec, d: DeploymentSpec, cur: Setting, view: CapacityView, w: WorkloadSpec,
                    demand: float, high: int, utilization: float) -> Setting | None:
    """The best variant to relieve pressure: fits, at or above the quality floor, sustains more."""
    model = stack.model(d.model)
    now_rps = view.sustainable_rps(d, cur, w)
    best: tuple[int, float, float, Setting] | None = None
    for v in model.variants:
        if v.name == cur.variant or v.quality < d.quality_floor:
            continue
        option = cur.with_(variant=v.name)
        if not view.fits(d, option):
            continue
        rps = view.sustainable_rps(d, option, w)
        if rps <= now_rps * 1.1:
            continue
        need = math.ceil(demand / max(1e-9, rps * utilization))
        key = (0 if need <= high else 1, -v.quality, -rps, option)
        if best is None or key[:3] < best[:3]:
            best = key
    return None if best is None else best[3]


def _one(d: DeploymentSpec, snap: SignalSnapshot | None, cur: Setting, state: ScalingState, policy: Policy,
         stack: StackSpec, current: Mapping[str, Setting], view: CapacityView, now: float, stack_cost: float,
         budget_limit: float | None) -> tuple[list[Recommendation], list[Skip], ScalingState]:
    """Decide one deployment: data check, candidates by rule, conflicts, guards."""
    recs: list[Recommendation] = []
    skips: list[Skip] = []
    gd = policy.guards_for(d.name)
    if snap is None:
        skips.append(Skip(d.name, "no reading for this deployment", refused=True))
        return recs, skips, state.forget_conditions(d.name)
    problems = data_problems(snap, policy)
    if problems:
        skips.append(Skip(d.name, "no action: " + "; ".join(problems), refused=True))
        return recs, skips, state.forget_conditions(d.name)
    values = dict(snap.values)
    w = workload(d, values)
    absurd = capacity_problems(d, cur, values, snap.replicas_expected, view, w, policy)
    if absurd:
        skips.append(Skip(d.name, "no action: implausible data: " + "; ".join(absurd), refused=True))
        return recs, skips, state.forget_conditions(d.name)
    low, high = _bounds(d, gd)
    wishes, holding = _horizontal_wishes(d, cur, values, policy, state, now, view, w)
    desired = max((wi.replicas for wi in wishes), default=cur.replicas)
    keep_s = max(gd.scale_in_stabilization, 60.0)
    if not state.desired.get(d.name):  # first cycle: the current count counts as desired (as HPA starts)
        state = state.with_desired(d.name, cur.replicas, now, keep_s)
    state = state.with_desired(d.name, min(high, max(low, desired)), now, keep_s)
    demand = demand_rps(values, policy.horizontal.model_based.queue_drain) or 0.0

    # conditions with durations
    vt, vr = policy.vertical, policy.variants
    kv = values.get("kv_cache_usage_max", values.get("kv_cache_usage"))
    saturated = (kv is not None and kv >= vt.kv_usage_above) or \
        values.get("preemption_rate", 0.0) > vt.preemptions_per_s_above
    pressure = desired > high or (desired >= high and cur.replicas >= high)
    declared = d.variant
    back_ok = False
    if cur.variant != declared:
        back = cur.with_(variant=declared)
        per = view.sustainable_rps(d, back, w) * policy.horizontal.model_based.utilization
        back_ok = per > 0 and math.ceil(demand / per) <= vr.back_headroom * high
    over_budget = budget_limit is not None and stack_cost > budget_limit
    holding.update({"kv-saturation": saturated, "pressure": pressure, "variant-back": back_ok,
                    "over-budget": over_budget})
    previous = state
    state = state.with_conditions(d.name, holding, now)

    def held(name: str, prior: ScalingState = previous) -> float:
        return prior.held_for(d.name, name, now) if holding.get(name) else 0.0

    candidates: list[Recommendation] = []
    confidence = snap.completeness
    window = snap.window

    def make(kind: str, proposed: Setting, rule: str, priority: str, reason: str,
             used: tuple[str, ...]) -> Recommendation:
        pred = view.predict(d, cur, proposed, w, demand, values.get("ttft_p95"))
        return Recommendation(d.name, kind, cur, proposed, rule, priority, _signals(values, used),  # type: ignore[arg-type]
                              window, confidence, reason, pred)

    # vertical (safety)
    if vt.enabled and saturated and held("kv-saturation") >= vt.for_:
        options = vertical_options(stack, d, cur, current, view, vt.min_kv_gain)
        cause = (f"KV cache {kv:.0%} full" if kv is not None and kv >= vt.kv_usage_above
                 else f"{values.get('preemption_rate', 0.0):.2f} preemptions/s")
        if options:
            o = options[0]
            gain = view.profile(d, o).kv_cache_tokens / max(1, view.profile(d, cur).kv_cache_tokens)
            candidates.append(make("vertical", o, "kv-saturation", "safety",
                                   f"{cause} for {held('kv-saturation'):.0f} s: move to {o.pool} TP "
                                   f"{o.tensor_parallel} ({gain:.1f}x the KV cache per replica)",
                                   ("kv_cache_usage", "kv_cache_usage_max", "preemption_rate")))
        else:
            skips.append(Skip(d.name, f"{cause}, but no larger option fits with room in its pool",
                              rule="kv-saturation"))
    # variant (SLO under pressure, cost over budget, cost back)
    if vr.enabled:
        relieve = pressure and held("pressure") >= vr.pressure_for
        if relieve or (over_budget and held("over-budget") >= vr.pressure_for):
            choice = _variant_choice(stack, d, cur, view, w, demand, high,
                                     policy.horizontal.model_based.utilization)
            if choice is not None:
                why = (f"{desired} replicas wanted at max {high} for {held('pressure'):.0f} s" if pressure
                       else f"stack costs ${stack_cost:.2f}/h over the ${budget_limit:.2f}/h budget")
                candidates.append(make("variant", choice, "variant-pressure" if pressure else "variant-budget",
                                       "slo" if pressure else "cost",
                                       f"{why}: switch {cur.variant} -> {choice.variant} "
                                       f"(quality {stack.model(d.model).variant(choice.variant).quality:g} "
                                       f">= floor {d.quality_floor:g})", ("request_rate", "ttft_p95")))
        elif back_ok and not over_budget and held("variant-back") >= vr.back_after:
            back = cur.with_(variant=declared)
            if view.fits(d, back):
                candidates.append(make("variant", back, "variant-back", "cost",
                                       f"declared variant {declared} sustains the demand of {demand:.2f} req/s "
                                       f"for {held('variant-back'):.0f} s: switch back from {cur.variant}",
                                       ("request_rate",)))
    # horizontal
    if desired != cur.replicas and wishes:
        top = max(wishes, key=lambda wi: (wi.replicas, PRIORITY_ORDER[wi.priority] * -1))
        priority = "slo" if desired > cur.replicas else "cost"
        candidates.append(make("horizontal", cur.with_(replicas=desired), top.rule, priority,
                               f"{top.reason}: {cur.replicas} -> {desired} replicas", top.used))

    # conflicts: one engine change, cost dropped when a higher class acts
    engine = [c for c in candidates if c.kind != "horizontal"]
    engine.sort(key=lambda c: PRIORITY_ORDER[c.priority])
    keep = [c for c in candidates if c.kind == "horizontal"] + engine[:1]
    top_class = min((PRIORITY_ORDER[c.priority] for c in keep), default=2)
    if top_class < 2:
        dropped = [c for c in keep if c.priority == "cost"]
        skips.extend(Skip(d.name, f"{c.rule} dropped: a {'SLO' if top_class else 'safety'} rule acts", rule=c.rule)
                     for c in dropped)
        keep = [c for c in keep if c.priority != "cost"]
    for c in keep:
        result = _guard(c, state, gd, low, high, now, stack_cost, budget_limit, policy,
                        view.cost_per_hour(d, cur.with_(replicas=1)),
                        lambda s: view.predict(d, cur, s, w, demand, values.get("ttft_p95")))
        if isinstance(result, Skip):
            skips.append(result)
        else:
            recs.append(result)
            delta = (result.predicted.cost_per_hour_after - result.predicted.cost_per_hour_before
                     if result.predicted else 0.0)
            stack_cost += delta
    if not candidates and not any(s.deployment == d.name for s in skips):
        skips.append(Skip(d.name, f"no change: {cur.replicas} replicas match the rules (desired {desired})"))
    return recs, skips, state


def evaluate(snapshots: Mapping[str, SignalSnapshot], state: ScalingState, policy: Policy, stack: StackSpec,
             now: float, current: Mapping[str, Setting] | None = None) -> Evaluation:
    """Decide one cycle. ``stack`` is the spec as declared; ``current`` the settings in force
    (default: as declared). Returns recommendations after guards, skips and the new state."""
    current = dict(settings_of(stack)) | dict(current or {})
    view = CapacityView(stack)
    recs: list[Recommendation] = []
    skips: list[Skip] = []
    stack_cost = sum(view.cost_per_hour(d, current[d.name]) for d in stack.deployments)
    budget_limit = policy.guards.budget_per_hour or stack.budget_per_hour
    for d in stack.deployments:
        more, left, state = _one(d, snapshots.get(d.name), current[d.name], state, policy, stack, current, view,
                                 now, stack_cost, budget_limit)
        recs.extend(more)
        skips.extend(left)
        stack_cost += sum(r.predicted.cost_per_hour_after - r.predicted.cost_per_hour_before
                          for r in more if r.predicted is not None)
    recs.sort(key=lambda r: (PRIORITY_ORDER[r.priority], r.deployment))
    return Evaluation(recs, skips, state)


def _guard(rec: Recommendation, state: ScalingState, gd: Guards, low: int, high: int, now: float,
           stack_cost: float, budget_limit: float | None, policy: Policy, per_replica_cost: float,
           repredict: Callable[[Setting], Prediction]) -> Recommendation | Skip:
    """Run the guards in order: clamp, stabilization, step, tolerance, cooldown, rate limit, budget."""
    result: Recommendation | Skip = rec
    if rec.kind == "horizontal":
        result = g.clamp(rec, low, high)
        if isinstance(result, Recommendation):
            result = g.stabilize(result, state, gd.scale_in_stabilization, now)
        if isinstance(result, Recommendation):
            result = g.max_step(result, gd)
        if isinstance(result, Recommendation):
            result = g.tolerance(result, gd.tolerance)
    if isinstance(result, Recommendation):
        result = g.cooldown(result, state, gd, now, vertical_s=policy.vertical.cooldown,
                            variant_s=policy.variants.cooldown)
    if isinstance(result, Recommendation):
        result = g.rate_limit(result, state, gd.max_actions_per_hour, now)
    if isinstance(result, Recommendation) and result.proposed != rec.proposed:
        result = result.with_(predicted=repredict(result.proposed),
                              reason=f"{rec.reason} ({'; '.join(result.notes)})")
    if isinstance(result, Recommendation):
        limited = g.budget(result, stack_cost, budget_limit, per_replica_cost)
        if isinstance(limited, Recommendation) and limited.proposed != result.proposed:
            limited = limited.with_(predicted=repredict(limited.proposed),
                                    reason=f"{rec.reason} ({'; '.join(limited.notes)})")
        result = limited
    return result


def decide(snapshots: Mapping[str, SignalSnapshot], state: ScalingState, policy: Policy, stack: StackSpec,
           now: float, current: Mapping[str, Setting] | None = None) -> list[Recommendation]:
    """The recommendations of one cycle (see :func:`evaluate` for skips and the new state)."""
    return evaluate(snapshots, state, policy, stack, now, current).recommendations
