"""The one interface every apply path implements, and the change summary they share.

The policy loop calls ``backend.apply(recommendations)`` (``loop.run_once``'s ``apply``); a
backend raises :class:`~llmstack.errors.ApplyError` when the change did not land (the loop
audits it as ``failed`` and starts no cooldown). ``current()`` is ``llmstack:scaling`` as the
backend's source of truth holds it now (the Stack's ``spec.config``, the repository's stack
file), laid over the spec at start so the loop begins from what is deployed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from llmstack.policy.recommendation import Recommendation


@dataclass(frozen=True)
class ApplyReport:
    """What one apply did: where, whether anything changed, and the id of the change (patch, commit)."""

    backend: str
    changed: bool
    scaling: dict[str, dict[str, Any]] = field(default_factory=dict)
    """``llmstack:scaling`` after the change (empty for the KEDA-only part of a fast-path apply)."""
    reference: str | None = None
    """The Stack's resourceVersion after the patch, the commit hash, ..."""
    detail: str = ""


class ApplyBackend(Protocol):
    name: str

    def current(self) -> dict[str, dict[str, Any]]:
        """``llmstack:scaling`` where this backend writes it (validated; ``{}`` when unset)."""
        ...

    def apply(self, recommendations: Sequence[Recommendation]) -> ApplyReport: ...


def describe(rec: Recommendation) -> str:
    """``chat: 2 -> 3 replicas`` (only the knobs that change)."""
    before, after = rec.current.to_json(), rec.proposed.to_json()
    changes = [f"{key} {before[key]} -> {after[key]}" for key in ("replicas", "variant", "pool", "tensor_parallel")
               if before[key] != after[key]]
    return f"{rec.deployment}: {', '.join(changes) or 'no change'}"


def summary(recommendations: Sequence[Recommendation]) -> str:
    """One line for a commit title or an annotation: every deployment's change."""
    return "llmstack: " + "; ".join(describe(r) for r in recommendations)


def reasons(recommendations: Sequence[Recommendation]) -> str:
    """Why, in numbers: rule, priority, signals and the capacity model's prediction of every change."""
    blocks = []
    for rec in recommendations:
        signals = ", ".join(f"{k}={v:.4g}" for k, v in sorted(rec.signals.items()))
        lines = [describe(rec), f"  rule: {rec.rule} ({rec.priority}, confidence {rec.confidence:.0%})",
                 f"  reason: {rec.reason}", f"  signals [{rec.window}]: {signals or '-'}"]
        if rec.predicted is not None:
            lines.append(f"  predicted: {rec.predicted.text}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
