"""The data a decision produces: settings, predictions, recommendations, skips.

Frozen dataclasses crossing from :mod:`llmstack.policy.deciding` to applying, the audit log,
the CLI and the simulator adapter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from llmstack.spec.scaling import Setting, settings_of

__all__ = ["PRIORITY_ORDER", "Prediction", "Recommendation", "Setting", "Skip", "recommendation_from_json",
           "settings_of"]

Kind = Literal["horizontal", "vertical", "variant"]
Priority = Literal["safety", "slo", "cost"]
PRIORITY_ORDER: dict[str, int] = {"safety": 0, "slo": 1, "cost": 2}


@dataclass(frozen=True)
class Prediction:
    """The capacity model's view of a change (``None`` where it cannot say)."""

    ttft_p95_s_before: float | None
    ttft_p95_s_after: float | None
    cost_per_hour_before: float
    cost_per_hour_after: float
    text: str

    def to_json(self) -> dict[str, Any]:
        return {"ttft_p95_s_before": self.ttft_p95_s_before, "ttft_p95_s_after": self.ttft_p95_s_after,
                "cost_per_hour_before": round(self.cost_per_hour_before, 4),
                "cost_per_hour_after": round(self.cost_per_hour_after, 4), "text": self.text}


@dataclass(frozen=True)
class Recommendation:
    """One proposed change to one deployment, with why and what the model expects of it."""

    deployment: str
    kind: Kind
    current: Setting
    proposed: Setting
    rule: str
    priority: Priority
    signals: Mapping[str, float]
    window: str
    confidence: float
    reason: str
    predicted: Prediction | None = None
    notes: tuple[str, ...] = field(default=())

    def with_(self, **changes: Any) -> Recommendation:
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        return {
            "deployment": self.deployment, "kind": self.kind, "current": self.current.to_json(),
            "proposed": self.proposed.to_json(), "rule": self.rule, "priority": self.priority,
            "signals": {"window": self.window, "values": dict(self.signals)},
            "predicted": None if self.predicted is None else self.predicted.to_json(),
            "confidence": round(self.confidence, 4), "reason": self.reason, "notes": list(self.notes),
        }


@dataclass(frozen=True)
class Skip:
    """A deployment the cycle left alone, and why (bad data, a guard, nothing to do)."""

    deployment: str
    reason: str
    refused: bool = False
    rule: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"deployment": self.deployment, "reason": self.reason, "refused": self.refused, "rule": self.rule}


def recommendation_from_json(data: dict[str, Any]) -> Recommendation:
    """A recommendation back from :meth:`Recommendation.to_json` (the approval-file flow)."""
    signals = data.get("signals") or {}
    return Recommendation(
        deployment=str(data["deployment"]), kind=data["kind"], current=Setting(**data["current"]),
        proposed=Setting(**data["proposed"]), rule=str(data.get("rule", "approved")),
        priority=data.get("priority", "slo"), signals=dict(signals.get("values", {})),
        window=str(signals.get("window", "")), confidence=float(data.get("confidence", 1.0)),
        reason=str(data.get("reason", "")),
    )
