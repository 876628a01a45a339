"""What happened during a demo run, recorded as it happens (thread-safe) and read by the view and the report.

Times are simulated seconds since the load started (wall seconds x speed). Per control
cycle and deployment one :class:`Point` (the signals the policy read, the replicas, the
cost per hour); every decision, applied or not, one :class:`Decision`; every reconciled
replica change one :class:`ReplicaChange`; every finished client request one
:class:`~llmstack.demo.load_process.Outcome`; and when Prometheus first and last listed each
replica as a scrape target.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

from llmstack.demo.load_process import Outcome
from llmstack.policy.loop import CycleResult


@dataclass(frozen=True)
class Point:
    t_s: float
    deployment: str
    replicas: int
    request_rate: float | None
    ttft_p95_s: float | None
    kv_cache_usage: float | None
    queue_length: float | None
    cost_per_hour: float


@dataclass(frozen=True)
class Decision:
    t_s: float
    deployment: str
    outcome: str
    change: str
    rule: str
    reason: str

    def to_json(self) -> dict[str, object]:
        return {"t_s": round(self.t_s, 1), "deployment": self.deployment, "outcome": self.outcome,
                "change": self.change, "rule": self.rule, "reason": self.reason}


@dataclass(frozen=True)
class ReplicaChange:
    """One reconciled change of a deployment's replica set (the reconciler makes it, the timeline keeps it)."""

    t_s: float
    """When, on the reconciler's clock (the demo's: simulated seconds since the load started)."""
    deployment: str
    before: int
    after: int
    added: tuple[int, ...]
    removed: tuple[int, ...]
    router_followed_s: float | None

    @property
    def kind(self) -> str:
        return "out" if self.after > self.before else "in"

    def to_json(self) -> dict[str, object]:
        return {"t_s": round(self.t_s, 1), "deployment": self.deployment, "kind": self.kind, "before": self.before,
                "after": self.after, "added_ports": list(self.added), "removed_ports": list(self.removed),
                "router_followed_s": None if self.router_followed_s is None else round(self.router_followed_s, 3)}


@dataclass
class Sighting:
    first_t_s: float
    last_t_s: float
    healthy: bool


@dataclass
class Timeline:
    """Everything the view and the report need; every method takes the lock."""

    initial: Mapping[str, int]
    points: list[Point] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    changes: list[ReplicaChange] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    targets: dict[str, dict[int, Sighting]] = field(default_factory=dict)
    cycles: int = 0
    warnings: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add_cycle(self, t_s: float, result: CycleResult, replicas: Mapping[str, int],
                  cost_per_hour: Mapping[str, float]) -> None:
        with self._lock:
            self.cycles += 1
            self.warnings = list(result.warnings)
            for name, count in replicas.items():
                snap = result.snapshots.get(name)
                values = snap.values if snap is not None else {}
                self.points.append(Point(t_s, name, count, values.get("request_rate"), values.get("ttft_p95"),
                                         values.get("kv_cache_usage"), values.get("queue_length"),
                                         cost_per_hour.get(name, 0.0)))
            outcome = "applied" if result.applied else ("failed" if result.error else "recommended")
            for rec in result.recommendations:
                change = f"{rec.current.replicas} -> {rec.proposed.replicas}"
                reason = rec.reason if result.error is None else f"{rec.reason}; apply failed: {result.error}"
                self.decisions.append(Decision(t_s, rec.deployment, outcome, change, rec.rule, reason))
            for skip in result.skips:
                self.decisions.append(Decision(t_s, skip.deployment, "refused" if skip.refused else "hold", "",
                                               skip.rule or "", skip.reason))

    def add_change(self, change: ReplicaChange) -> None:
        with self._lock:
            self.changes.append(change)

    def add_outcomes(self, outcomes: list[Outcome]) -> None:
        if outcomes:
            with self._lock:
                self.outcomes.extend(outcomes)

    def saw_targets(self, t_s: float, targets: Mapping[str, Mapping[int, str]]) -> None:
        with self._lock:
            for deployment, ports in targets.items():
                seen = self.targets.setdefault(deployment, {})
                for port, health in ports.items():
                    sighting = seen.get(port)
                    if sighting is None:
                        seen[port] = Sighting(t_s, t_s, health == "up")
                    else:
                        sighting.last_t_s = t_s
                        sighting.healthy = sighting.healthy or health == "up"

    def snapshot(self) -> Timeline:
        """A consistent copy to read without the lock."""
        with self._lock:
            return Timeline(dict(self.initial), list(self.points), list(self.decisions), list(self.changes),
                            list(self.outcomes),
                            {d: {p: Sighting(s.first_t_s, s.last_t_s, s.healthy) for p, s in ports.items()}
                             for d, ports in self.targets.items()},
                            self.cycles, list(self.warnings))

    def latest(self) -> dict[str, Point]:
        out: dict[str, Point] = {}
        for point in self.points:
            out[point.deployment] = point
        return out
