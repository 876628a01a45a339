"""Replicas asked for but not serving yet: *starting*, not *missing* (data completeness during a scale-out).

The data check refuses a cycle when fewer than ``data.min_completeness`` of the replicas report. A
replica exports no metrics until its engine serves: after a scale-out 2 -> 6 the four new replicas
are silent for minutes (pod start, image pull, weight load, warm-up), and counted against all six
(2 / 6 = 33 %) the policy would refuse to act exactly while a burst is under way.

Decision: a replica is starting while the change that asked for it (a scale-out's added replicas, a
move's new fleet, recorded in :attr:`ScalingState.started` when applied) is younger than
``data.starting_allowance`` (default 2) x the capacity model's start-up estimate
(:func:`llmstack.capacity.startup.startup_delay_s`, the number the simulator's fleet starts replicas
with). Completeness is then reporting over the replicas *due* (expected less starting;
:class:`llmstack.metrics.reading.SignalSnapshot`), and the reason text says who is starting. Replicas
still silent past the allowance count as missing again, so a crash-looping scale-out is refused as
partial data; and a replica that stops reporting among the older ones is missing at once (the
starting count never exceeds the replicas asked for recently).

The same holds the other way: a replica asked to stop (a scale-in, a move's old fleet) keeps its
scrape target while it drains (its pod is still Running through the preStop wait and vLLM's
``--shutdown-timeout``), so more replicas report than are expected. Within its stop deadline
(:func:`stop_allowance_s`: the drain plan's grace period, :mod:`llmstack.artifacts.drain`) that
surplus is draining, not stray targets, and the cycle is not refused as implausible.

Why not readiness from Prometheus itself: the engines' scrape job keeps only pods in phase Running
(:mod:`llmstack.artifacts.prometheus`), so a pod pulling its image has no target and no ``up`` series,
and the stack runs no kube-state-metrics; the policy's own record of what it asked for, with the
capacity model's start-up estimate, is what both the real loop and the simulator have.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from llmstack.artifacts import drain
from llmstack.errors import LlmstackError
from llmstack.policy.predicting import CapacityView
from llmstack.policy.recommendation import Recommendation, Setting
from llmstack.policy.rules import Policy
from llmstack.policy.state import ScalingState, change_kinds
from llmstack.spec.models import StackSpec

DEREGISTER_BOUND_S = 60
"""At least the longest preStop wait of any target (Kubernetes behind HAProxy: 41 s, Docker: 5 s;
``targets.*.draining.deregister_s``, checked by a test): the part of the stop deadline the policy
cannot compute without importing the targets."""


def replicas_started(rec: Recommendation) -> int:
    """New replicas an applied recommendation asks for: a scale-out's added ones, a move's whole new fleet."""
    if rec.kind == "horizontal":
        return max(0, rec.proposed.replicas - rec.current.replicas)
    return rec.proposed.replicas


def replicas_stopped(rec: Recommendation) -> int:
    """Replicas an applied recommendation asks to stop: a scale-in's removed ones, a move's whole old fleet."""
    if rec.kind == "horizontal":
        return max(0, rec.current.replicas - rec.proposed.replicas)
    return rec.current.replicas


def record_applied(state: ScalingState, recs: Sequence[Recommendation], now: float) -> ScalingState:
    """``state`` after ``recs`` were applied at ``now``: their cooldown kinds and the replicas they start and stop."""
    state = state.with_actions([(r.deployment, change_kinds(r.kind, r.current.replicas, r.proposed.replicas))
                                for r in recs], now)
    for rec in recs:
        state = state.with_started(rec.deployment, replicas_started(rec), now)
        state = state.with_stopped(rec.deployment, replicas_stopped(rec), now)
    return state


def stop_allowance_s(stack: StackSpec, deployment: str) -> float:
    """How long a replica asked to stop may still report: its stop deadline (preStop wait, drain, teardown)."""
    try:
        return float(drain.plan(stack, deployment, deregister_s=DEREGISTER_BOUND_S).grace_period_s)
    except (LlmstackError, ArithmeticError, ValueError, KeyError):
        return float(DEREGISTER_BOUND_S + drain.DRAIN_CAP_S + drain.TEARDOWN_MARGIN_S)


def stopping_recently(state: ScalingState, stack: StackSpec, now: float) -> dict[str, int]:
    """Per deployment, the replicas asked to stop within their stop deadline (what may still report)."""
    return {d.name: state.stopped_since(d.name, now - stop_allowance_s(stack, d.name)) for d in stack.deployments}


def allowance_s(view: CapacityView, stack: StackSpec, deployment: str, setting: Setting, policy: Policy) -> float:
    """How long a replica of ``setting`` may stay silent and still count as starting (0: the model has no estimate)."""
    try:
        startup = view.startup_s(stack.deployment(deployment), setting)
    except (LlmstackError, ArithmeticError, ValueError):
        return 0.0
    return policy.data.starting_allowance * startup


def asked_recently(state: ScalingState, stack: StackSpec, policy: Policy, settings: Mapping[str, Setting],
                   now: float, view: CapacityView | None = None) -> dict[str, int]:
    """Per deployment, the replicas asked for within their start-up allowance (what may be starting now)."""
    view = view or CapacityView(stack)
    declared = {d.name for d in stack.deployments}
    return {name: state.started_since(name, now - allowance_s(view, stack, name, setting, policy))
            for name, setting in settings.items() if name in declared}
