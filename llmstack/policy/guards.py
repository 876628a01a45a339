"""Guards: small functions applied to a recommendation after the decision.

Each takes a recommendation and returns it (possibly with a smaller change) or a
:class:`~llmstack.policy.recommendation.Skip` saying why it was dropped. Pure: time and
state are arguments.

:func:`chain` builds the ordered list of guards a policy sets for one deployment (each a
:class:`Guard`: ``(recommendation, context) -> recommendation | skip``, its settings taken from
the policy, what changes per cycle read from a :class:`GuardContext`); :func:`run` applies a
chain, stops at the first skip and re-predicts a proposal a guard changed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from llmstack.policy.recommendation import Prediction, Recommendation, Setting, Skip
from llmstack.policy.rules import Guards, Policy
from llmstack.policy.state import ScalingState, change_kinds

Result = Recommendation | Skip


def _replicas(rec: Recommendation, replicas: int, note: str) -> Recommendation:
    return rec.with_(proposed=rec.proposed.with_(replicas=replicas), notes=(*rec.notes, note))


def _unchanged(rec: Recommendation) -> bool:
    return rec.proposed == rec.current


def clamp(rec: Recommendation, low: int, high: int) -> Result:
    """Keep replicas within ``low..high``."""
    wanted = rec.proposed.replicas
    bounded = min(high, max(low, wanted))
    if bounded != wanted:
        rec = _replicas(rec, bounded, f"clamped {wanted} to {low}..{high}")
    if _unchanged(rec):
        return Skip(rec.deployment, f"{rec.rule} wants {wanted} replicas; already at the limit {bounded}",
                    rule=rec.rule)
    return rec


def stabilize(rec: Recommendation, state: ScalingState, window_s: float, now: float) -> Result:
    """HPA-style scale-in stabilization: go no lower than the highest desired count in the window."""
    current, wanted = rec.current.replicas, rec.proposed.replicas
    if wanted >= current:
        return rec
    recent = [n for t, n in state.desired.get(rec.deployment, ()) if now - t <= window_s]
    floor = max([wanted, *recent])
    if floor >= current:
        return Skip(rec.deployment, f"scale-in to {wanted} held: within the {window_s:.0f} s stabilization "
                    f"window the rules wanted up to {floor} replicas", rule=rec.rule)
    if floor != wanted:
        rec = _replicas(rec, floor, f"stabilized to {floor} (highest desired in {window_s:.0f} s)")
    return rec


def max_step(rec: Recommendation, guards: Guards) -> Result:
    """At most ``max_step_up`` (or ``max_step_up_ratio`` x current) up and ``max_step_down`` (or
    ``max_step_down_ratio`` x current) down per action."""
    current, wanted = rec.current.replicas, rec.proposed.replicas
    up = max(guards.max_step_up, math.ceil(current * guards.max_step_up_ratio))
    down = max(guards.max_step_down, math.floor(current * guards.max_step_down_ratio))
    if wanted > current + up:
        return _replicas(rec, current + up, f"step limited to +{up}")
    if wanted < current - down:
        return _replicas(rec, current - down, f"step limited to -{down}")
    return rec


def tolerance(rec: Recommendation, band: float) -> Result:
    """Drop replica changes within ``band`` of the current count (HPA's tolerance)."""
    current, wanted = rec.current.replicas, rec.proposed.replicas
    if current > 0 and abs(wanted - current) / current <= band:
        return Skip(rec.deployment, f"{current} -> {wanted} replicas is within the {band:.0%} tolerance band",
                    rule=rec.rule)
    return rec


def cooldown(rec: Recommendation, state: ScalingState, guards: Guards, now: float, *,
             vertical_s: float = 1800.0, variant_s: float = 1800.0) -> Result:
    """No scale-out within ``scale_out_cooldown`` of the last scale-out; no scale-in within
    ``scale_in_cooldown`` of any change; engine changes (vertical, variant) have their own."""
    what = change_kinds(rec.kind, rec.current.replicas, rec.proposed.replicas)
    if what == "out":
        last, wait = state.last(rec.deployment, "out"), guards.scale_out_cooldown
    elif what == "in":
        last, wait = state.last(rec.deployment, "any"), guards.scale_in_cooldown
    else:
        last, wait = state.last(rec.deployment, what), vertical_s if what == "vertical" else variant_s
    if last is not None and now - last < wait:
        return Skip(rec.deployment, f"{what} held: cooldown of {wait:.0f} s, last change {now - last:.0f} s ago",
                    rule=rec.rule)
    return rec


def rate_limit(rec: Recommendation, state: ScalingState, per_hour: int, now: float) -> Result:
    """At most ``per_hour`` applied changes per deployment in any hour (bounds flapping)."""
    recent = [t for t in state.actions.get(rec.deployment, ()) if now - t < 3600]
    if len(recent) >= per_hour:
        return Skip(rec.deployment, f"held: {len(recent)} changes in the last hour (limit {per_hour})", rule=rec.rule)
    return rec


def budget(rec: Recommendation, spent: float, limit: float | None, cost_per_replica: float, *,
           what: str = "stack") -> Result:
    """Keep ``what``'s cost per hour (``spent`` now) within ``limit``; a scale-out shrinks to what fits."""
    if limit is None or rec.predicted is None:
        return rec
    delta = rec.predicted.cost_per_hour_after - rec.predicted.cost_per_hour_before
    if delta <= 0 or spent + delta <= limit + 1e-9:
        return rec
    if rec.kind == "horizontal" and cost_per_replica > 0:
        room = int((limit - spent) // cost_per_replica)
        if room >= 1:
            return _replicas(rec, rec.current.replicas + room,
                             f"{what} budget ${limit:.2f}/h allows only +{room} replica(s)")
    return Skip(rec.deployment, f"held: {what} would cost ${spent + delta:.2f}/h, over the "
                f"${limit:.2f}/h budget", rule=rec.rule)


def deployment_budget(rec: Recommendation, limit: float, cost_per_replica: float) -> Result:
    """Keep this deployment's own cost per hour within its ``deployments.NAME.budget_per_hour``."""
    spent = rec.predicted.cost_per_hour_before if rec.predicted is not None else 0.0
    return budget(rec, spent, limit, cost_per_replica, what=f"deployment {rec.deployment}")


@dataclass(frozen=True)
class GuardContext:
    """What the guards read about one deployment in one cycle (the policy's settings are in the chain)."""

    state: ScalingState
    now: float
    low: int
    high: int
    """The replica range the clamp keeps to."""
    scale_in_window: float
    """The scale-in stabilization window: ``scale_in_stabilization``, at least ``stabilization_startups``
    start-ups of this deployment (:meth:`llmstack.policy.rules.Guards.scale_in_window`)."""
    stack_cost: float = 0.0
    """The stack's cost per hour with the changes already accepted this cycle (the budget guard)."""
    cost_per_replica: float = 0.0
    """What one more replica of this deployment costs per hour (the budget guard)."""


@dataclass(frozen=True)
class Guard:
    """One post-processor of a recommendation: ``check(rec, context)`` keeps, shrinks or refuses it."""

    name: str
    check: Callable[[Recommendation, GuardContext], Result]
    horizontal_only: bool = False
    """Applies to replica changes only (vertical and variant moves pass it untouched)."""
    reads_prediction: bool = False
    """Reads ``rec.predicted``: :func:`run` re-predicts a changed proposal before it."""

    def applies_to(self, rec: Recommendation) -> bool:
        return rec.kind == "horizontal" or not self.horizontal_only

    def __call__(self, rec: Recommendation, context: GuardContext) -> Result:
        return self.check(rec, context)


def hold_chain(policy: Policy, deployment: str) -> tuple[Guard, ...]:
    """The guards that hold any change back for a while: cooldown, then the rate limit."""
    limits = policy.guards_for(deployment)
    vertical_s, variant_s = policy.vertical.cooldown, policy.variants.cooldown
    return (Guard("cooldown", lambda rec, c: cooldown(rec, c.state, limits, c.now, vertical_s=vertical_s,
                                                      variant_s=variant_s)),
            Guard("rate-limit", lambda rec, c: rate_limit(rec, c.state, limits.max_actions_per_hour, c.now)))


def spend_chain(policy: Policy, deployment: str, budget_limit: float | None) -> tuple[Guard, ...]:
    """The cost guards: the deployment's own budget (``deployments.NAME.budget_per_hour``), then the
    stack's (``budget_limit``); each only where set."""
    own = policy.deployment_budget(deployment)
    found: list[Guard] = []
    if own is not None:
        found.append(Guard("deployment-budget", lambda rec, c: deployment_budget(rec, own, c.cost_per_replica),
                           reads_prediction=True))
    if budget_limit is not None:
        found.append(Guard("budget", lambda rec, c: budget(rec, c.stack_cost, budget_limit, c.cost_per_replica),
                           reads_prediction=True))
    return tuple(found)


def chain(policy: Policy, deployment: str, budget_limit: float | None) -> tuple[Guard, ...]:
    """The guards ``policy`` sets for ``deployment``, in order: clamp, tolerance, stabilization, step
    (replica changes only), cooldown, rate limit, the budgets (:func:`spend_chain`).

    Tolerance judges the rules' own proposal (HPA's order: the tolerance on the metric ratio, then
    the behaviour limits): judged after the step limit, a one-replica scale-in from more than
    ``1 / tolerance`` replicas always fell inside the band, and the fleet never left its maximum.
    The budget comes last and judges the proposal as the other guards left it, re-predicted.
    """
    limits = policy.guards_for(deployment)
    shaping = (Guard("clamp", lambda rec, c: clamp(rec, c.low, c.high), horizontal_only=True),
               Guard("tolerance", lambda rec, _c: tolerance(rec, limits.tolerance), horizontal_only=True),
               Guard("stabilization", lambda rec, c: stabilize(rec, c.state, c.scale_in_window, c.now),
                     horizontal_only=True),
               Guard("step", lambda rec, _c: max_step(rec, limits), horizontal_only=True))
    return (*shaping, *hold_chain(policy, deployment), *spend_chain(policy, deployment, budget_limit))


def run(guards: Iterable[Guard], rec: Recommendation, context: GuardContext,
        repredict: Callable[[Setting], Prediction]) -> Result:
    """Apply ``guards`` in order to ``rec``; the first skip ends it.

    A proposal a guard changed is re-predicted (its reason gets the guards' notes) before a guard
    that reads the prediction and at the end.
    """
    result, predicted_for = rec, rec.proposed
    for guard in guards:
        if not guard.applies_to(rec):
            continue
        if guard.reads_prediction:
            result, predicted_for = _repredicted(rec, result, predicted_for, repredict)
        checked = guard(result, context)
        if isinstance(checked, Skip):
            return checked
        result = checked
    return _repredicted(rec, result, predicted_for, repredict)[0]


def _repredicted(original: Recommendation, rec: Recommendation, predicted_for: Setting,
                 repredict: Callable[[Setting], Prediction]) -> tuple[Recommendation, Setting]:
    """``rec`` with a fresh prediction when its proposal is not the one last predicted."""
    if rec.proposed == predicted_for:
        return rec, predicted_for
    return rec.with_(predicted=repredict(rec.proposed),
                     reason=f"{original.reason} ({'; '.join(rec.notes)})"), rec.proposed
