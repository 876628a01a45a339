"""One cycle of the engine, and the ticker that repeats it.

``run_once`` reads every signal once for all deployments, decides, hands the
recommendations to an ``apply`` callable (or not, for a dry run), and appends every
decision to the audit log. A Prometheus fault refuses the whole cycle: no action, a
warning, and one audit entry per deployment saying why. ``watch`` calls ``run_once``
every interval and carries the state from one cycle to the next.

Completeness is counted against the replicas *due*: the expected count (the replicas the stack
was asked for) less those asked for within their start-up allowance that do not report yet
(:mod:`llmstack.policy.starting`), so a cycle during a scale-out acts on the replicas that serve
instead of refusing "partial data"; the simulator's adapter feeds the same inputs. Replicas asked
to stop within their stop deadline may still report (they drain): not stray targets.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from llmstack.errors import LlmstackError
from llmstack.metrics import reading
from llmstack.policy import deciding, starting
from llmstack.policy.audit import AuditEntry, AuditLog, Outcome
from llmstack.policy.recommendation import Recommendation, Setting, Skip, settings_of
from llmstack.policy.rules import Policy
from llmstack.policy.state import ScalingState
from llmstack.spec.models import StackSpec

log = logging.getLogger("llmstack.policy")

Applier = Callable[[Sequence[Recommendation]], Any]


@dataclass(frozen=True)
class CycleResult:
    now: float
    recommendations: list[Recommendation]
    skips: list[Skip]
    snapshots: Mapping[str, reading.SignalSnapshot]
    applied: bool
    warnings: list[str]
    error: str | None = None
    """Why applying failed (None: it did not, or nothing was applied)."""
    read_error: str | None = None
    """Why reading the signals failed (None: they were read); the whole cycle was refused."""


def run_once(source: reading.MetricsSource, stack: StackSpec, policy: Policy, state: ScalingState, now: float,
             *, current: Mapping[str, Setting] | None = None, apply: Applier | None = None,
             audit: AuditLog | None = None, recording_rules: bool = False,
             apply_mode: str | None = None) -> tuple[CycleResult, ScalingState]:
    """Read, decide, apply (when ``apply`` is given) and audit one cycle, one entry per decision.

    ``apply_mode`` (``config-only``, ``preview``, ``up``) is recorded with applied entries; a
    ``preview`` changes nothing, so its entries are ``dry-run`` and start no cooldown.
    """
    settings = dict(settings_of(stack)) | dict(current or {})
    expected = {name: s.replicas for name, s in settings.items()}
    warnings: list[str] = []
    read_error: str | None = None
    asked = starting.asked_recently(state, stack, policy, settings, now)
    try:
        snapshots = reading.read_snapshots(source, expected, now, recording_rules=recording_rules,
                                           stale_after_s=policy.data.stale_after,
                                           max_skew_s=policy.data.max_clock_skew, asked=asked,
                                           stopping=starting.stopping_recently(state, stack, now))
    except reading.MetricsError as exc:
        read_error = exc.render()
        warnings.append(f"metrics read failed, no action this cycle: {read_error}")
        snapshots = reading.failed_snapshots(expected, now, read_error)
    evaluation = deciding.evaluate(snapshots, state, policy, stack, now, settings)
    state = evaluation.state
    for skip in evaluation.skips:
        if skip.refused:
            warnings.append(f"{skip.deployment}: {skip.reason}")
    for w in warnings:
        log.warning(w)
    outcome: Outcome = "dry-run"
    error: str | None = None
    applied = False
    if apply is not None and evaluation.recommendations:
        try:
            apply(evaluation.recommendations)
            applied = apply_mode != "preview"
            outcome = "applied" if applied else "dry-run"
        except LlmstackError as exc:
            outcome, error = "failed", exc.render()
            warnings.append(f"apply failed: {error}")
            log.warning("apply failed: %s", error)
        if applied:
            state = starting.record_applied(state, evaluation.recommendations, now)
    if audit is not None:
        audit.append(_entries(now, evaluation, snapshots, outcome, error, apply_mode))
    result = CycleResult(now, evaluation.recommendations, evaluation.skips, snapshots, applied, warnings, error,
                         read_error)
    return result, state


def _entries(now: float, evaluation: deciding.Evaluation, snapshots: Mapping[str, reading.SignalSnapshot],
             outcome: Outcome, error: str | None, mode: str | None) -> list[AuditEntry]:
    out: list[AuditEntry] = []
    for rec in evaluation.recommendations:
        snap = snapshots.get(rec.deployment)
        out.append(AuditEntry(now, rec.deployment, outcome,
                              rec.reason if error is None else f"{rec.reason}; apply failed: {error}",
                              rec.to_json(), snap.to_json() if snap else None, rec.rule,
                              mode if outcome in ("applied", "dry-run") and error is None else None))
    for skip in evaluation.skips:
        snap = snapshots.get(skip.deployment)
        out.append(AuditEntry(now, skip.deployment, "refused" if skip.refused else "skipped", skip.reason,
                              None, snap.to_json() if snap else None, skip.rule))
    return out


def watch(source: reading.MetricsSource, stack: StackSpec, policy: Policy, *, interval_s: float,
          state: ScalingState | None = None, current: Mapping[str, Setting] | None = None,
          apply: Applier | None = None, audit: AuditLog | None = None, cycles: int | None = None,
          clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep,
          on_cycle: Callable[[CycleResult], None] | None = None,
          on_state: Callable[[ScalingState], None] | None = None,
          recording_rules: bool = False) -> ScalingState:
    """Run ``run_once`` every ``interval_s`` (``cycles`` times, or forever); applied changes update ``current``."""
    state = state or ScalingState()
    settings = dict(settings_of(stack)) | dict(current or {})
    done = 0
    while cycles is None or done < cycles:
        started = clock()
        result, state = run_once(source, stack, policy, state, started, current=settings, apply=apply, audit=audit,
                                 recording_rules=recording_rules)
        if result.applied:
            for rec in result.recommendations:
                base = settings[rec.deployment]
                changed = {k: v for k, v in rec.proposed.to_json().items() if v != rec.current.to_json()[k]}
                settings[rec.deployment] = base.with_(**changed)
        if on_cycle is not None:
            on_cycle(result)
        if on_state is not None:
            on_state(state)
        done += 1
        if cycles is not None and done >= cycles:
            break
        sleep(max(0.0, interval_s - (clock() - started)))
    return state
