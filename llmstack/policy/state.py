"""What the engine remembers between cycles: how long conditions held, when it last acted.

Immutable: every update returns a new :class:`ScalingState`. Serialised as JSON by the loop
(``watch`` keeps it next to the audit log) and kept in memory by the simulator adapter.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from llmstack.errors import LlmstackError

HISTORY_KEEP_S = 3600.0


@dataclass(frozen=True)
class ScalingState:
    since: Mapping[str, float] = field(default_factory=dict)
    """``deployment/condition`` -> when the condition started holding (absent: it does not hold)."""
    last_action: Mapping[str, float] = field(default_factory=dict)
    """``deployment/what`` (``out``, ``in``, ``vertical``, ``variant``) -> time of the last applied change;
    ``deployment/wake``: the last wake-from-zero proposal."""
    desired: Mapping[str, tuple[tuple[float, int], ...]] = field(default_factory=dict)
    """deployment -> (time, raw desired replicas) of recent cycles: the scale-in stabilization window."""
    actions: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    """deployment -> times of applied changes within the last hour."""
    observed: Mapping[str, tuple[tuple[float, float, float], ...]] = field(default_factory=dict)
    """deployment -> (time, arrivals in req/s, requests in the system) of recent cycles: queue growth
    and the forecast's trend (:mod:`llmstack.policy.forecasting`)."""
    started: Mapping[str, tuple[tuple[float, int], ...]] = field(default_factory=dict)
    """deployment -> (time, replicas it asked to start) of applied changes within the last hour: a
    scale-out's added replicas, a move's new fleet. Who is starting rather than missing
    (:mod:`llmstack.policy.starting`)."""
    stopped: Mapping[str, tuple[tuple[float, int], ...]] = field(default_factory=dict)
    """deployment -> (time, replicas it asked to stop) of applied changes within the last hour: a
    scale-in's removed replicas, a move's old fleet; they may report while they drain."""
    serving: Mapping[str, tuple[tuple[float, int, float], ...]] = field(default_factory=dict)
    """deployment -> (time, replicas serving, requests running) of recent cycles: the fleet a windowed reading
    (a latency quantile over the last minute) describes, which is smaller than today's while new replicas come
    up; and the requests admitted over the window (completions plus the running batch's growth)."""

    def held_for(self, deployment: str, condition: str, now: float) -> float:
        start = self.since.get(f"{deployment}/{condition}")
        return 0.0 if start is None else max(0.0, now - start)

    def last(self, deployment: str, what: str) -> float | None:
        return self.last_action.get(f"{deployment}/{what}")

    def with_conditions(self, deployment: str, holding: Mapping[str, bool], now: float) -> ScalingState:
        since = dict(self.since)
        for condition, holds in holding.items():
            key = f"{deployment}/{condition}"
            if holds:
                since.setdefault(key, now)
            else:
                since.pop(key, None)
        return replace(self, since=since)

    def forget_conditions(self, deployment: str) -> ScalingState:
        prefix = f"{deployment}/"
        return replace(self, since={k: v for k, v in self.since.items() if not k.startswith(prefix)})

    def with_desired(self, deployment: str, desired: int, now: float, keep_s: float) -> ScalingState:
        kept = tuple((t, n) for t, n in self.desired.get(deployment, ()) if now - t <= keep_s)
        history = dict(self.desired)
        history[deployment] = (*kept, (now, desired))
        return replace(self, desired=history)

    def with_observed(self, deployment: str, now: float, arrivals: float, in_system: float,
                      keep_s: float) -> ScalingState:
        kept = tuple(p for p in self.observed.get(deployment, ()) if now - p[0] <= keep_s)
        return replace(self, observed={**self.observed, deployment: (*kept, (now, arrivals, in_system))})

    def with_serving(self, deployment: str, now: float, replicas: int, keep_s: float,
                     running: float = 0.0) -> ScalingState:
        """Remember that ``replicas`` served at ``now`` with ``running`` requests in their batches; entries
        older than ``keep_s`` dropped."""
        kept = tuple(p for p in self.serving.get(deployment, ()) if now - p[0] <= keep_s)
        return replace(self, serving={**self.serving, deployment: (*kept, (now, replicas, running))})

    def fewest_serving(self, deployment: str, since: float) -> int | None:
        """The fewest replicas remembered serving at or after ``since`` (None: none remembered)."""
        counts = [n for t, n, _ in self.serving.get(deployment, ()) if t >= since]
        return min(counts) if counts else None

    def running_since(self, deployment: str, since: float) -> tuple[float, float] | None:
        """(time, requests running) of the oldest cycle remembered at or after ``since`` (None: none)."""
        return next(((t, r) for t, _, r in self.serving.get(deployment, ()) if t >= since), None)

    def with_wake(self, deployment: str, now: float) -> ScalingState:
        """Remember a wake-from-zero proposal (``last(deployment, "wake")``): the settle period runs from it."""
        return replace(self, last_action={**self.last_action, f"{deployment}/wake": now})

    def with_started(self, deployment: str, replicas: int, now: float) -> ScalingState:
        """Remember that a change applied at ``now`` asked for ``replicas`` new replicas (none: unchanged)."""
        return self if replicas <= 0 else replace(self, started=_counted(self.started, deployment, replicas, now))

    def started_since(self, deployment: str, since: float) -> int:
        """Replicas asked for by changes applied at or after ``since``."""
        return _count_since(self.started, deployment, since)

    def with_stopped(self, deployment: str, replicas: int, now: float) -> ScalingState:
        """Remember that a change applied at ``now`` asked ``replicas`` replicas to stop (none: unchanged)."""
        return self if replicas <= 0 else replace(self, stopped=_counted(self.stopped, deployment, replicas, now))

    def stopped_since(self, deployment: str, since: float) -> int:
        """Replicas asked to stop by changes applied at or after ``since``."""
        return _count_since(self.stopped, deployment, since)

    def with_actions(self, changes: Iterable[tuple[str, str]], now: float) -> ScalingState:
        """Record applied changes: (deployment, what) pairs."""
        last = dict(self.last_action)
        actions = {k: tuple(t for t in v if now - t <= HISTORY_KEEP_S) for k, v in self.actions.items()}
        for deployment, what in changes:
            last[f"{deployment}/{what}"] = now
            last[f"{deployment}/any"] = now
            actions[deployment] = (*actions.get(deployment, ()), now)
        return replace(self, last_action=last, actions=actions)

    def to_json(self) -> dict[str, Any]:
        return {"since": dict(self.since), "last_action": dict(self.last_action),
                "desired": {k: [list(p) for p in v] for k, v in self.desired.items()},
                "actions": {k: list(v) for k, v in self.actions.items()},
                "observed": {k: [list(p) for p in v] for k, v in self.observed.items()},
                "started": {k: [list(p) for p in v] for k, v in self.started.items()},
                "stopped": {k: [list(p) for p in v] for k, v in self.stopped.items()},
                "serving": {k: [list(p) for p in v] for k, v in self.serving.items()}}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ScalingState:
        return cls(
            since={str(k): float(v) for k, v in data.get("since", {}).items()},
            last_action={str(k): float(v) for k, v in data.get("last_action", {}).items()},
            desired={str(k): tuple((float(t), int(n)) for t, n in v) for k, v in data.get("desired", {}).items()},
            actions={str(k): tuple(float(t) for t in v) for k, v in data.get("actions", {}).items()},
            observed={str(k): tuple((float(t), float(a), float(n)) for t, a, n in v)
                      for k, v in data.get("observed", {}).items()},
            started={str(k): tuple((float(t), int(n)) for t, n in v) for k, v in data.get("started", {}).items()},
            stopped={str(k): tuple((float(t), int(n)) for t, n in v) for k, v in data.get("stopped", {}).items()},
            serving={str(k): tuple((float(t), int(n), float(r)) for t, n, r in v)
                     for k, v in data.get("serving", {}).items()},
        )


Counted = Mapping[str, tuple[tuple[float, int], ...]]


def _counted(history: Counted, deployment: str, replicas: int, now: float) -> dict[str, tuple[tuple[float, int], ...]]:
    """``history`` with ``(now, replicas)`` added for ``deployment``, entries older than an hour dropped."""
    kept = tuple(p for p in history.get(deployment, ()) if now - p[0] <= HISTORY_KEEP_S)
    return {**history, deployment: (*kept, (now, replicas))}


def _count_since(history: Counted, deployment: str, since: float) -> int:
    return sum(n for t, n in history.get(deployment, ()) if t >= since)


def change_kinds(kind: str, current_replicas: int, proposed_replicas: int) -> str:
    """The ``what`` a recommendation counts as for cooldowns."""
    if kind != "horizontal":
        return kind
    return "out" if proposed_replicas > current_replicas else "in"


def load_state(path: Path) -> ScalingState:
    """The policy's state saved at ``path`` (a fresh one when there is none); a damaged file is one clear error."""
    if not path.exists():
        return ScalingState()
    try:
        return ScalingState.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, TypeError, AttributeError) as exc:
        raise LlmstackError(f"state file is damaged: {exc}", file=str(path), hint="delete it to start afresh") from exc
