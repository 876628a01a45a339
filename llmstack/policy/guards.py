"""Guards: small functions applied to a recommendation after the decision.

Each takes a recommendation and returns it (possibly with a smaller change) or a
:class:`~llmstack.policy.recommendation.Skip` saying why it was dropped. Pure: time and
state are arguments.
"""

from __future__ import annotations

import math

from llmstack.policy.recommendation import Recommendation, Skip
from llmstack.policy.rules import Guards
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


def budget(rec: Recommendation, stack_cost: float, limit: float | None, cost_per_replica: float) -> Result:
    """Keep the stack's cost per hour within ``limit``; a scale-out shrinks to what fits."""
    if limit is None or rec.predicted is None:
        return rec
    delta = rec.predicted.cost_per_hour_after - rec.predicted.cost_per_hour_before
    if delta <= 0 or stack_cost + delta <= limit + 1e-9:
        return rec
    if rec.kind == "horizontal" and cost_per_replica > 0:
        room = int((limit - stack_cost) // cost_per_replica)
        if room >= 1:
            return _replicas(rec, rec.current.replicas + room,
                             f"budget ${limit:.2f}/h allows only +{room} replica(s)")
    return Skip(rec.deployment, f"held: stack would cost ${stack_cost + delta:.2f}/h, over the "
                f"${limit:.2f}/h budget", rule=rec.rule)
