"""The append-only audit log: one JSON object a line for every decision of every cycle.

Each entry records the time, the deployment, the outcome (``recommended``, ``applied``,
``dry-run``, ``skipped``, ``refused``, ``failed``), the reason, the recommendation and the
signal snapshot it was decided from. Lines are appended with ``O_APPEND`` in one write, so
concurrent writers never interleave inside a line; the file is never rewritten.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from llmstack.errors import LlmstackError, redact


def _clean(value: Any) -> Any:
    """JSON-safe and secret-free: non-finite floats become null, URL credentials ``***``."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


Outcome = Literal["recommended", "applied", "dry-run", "skipped", "refused", "failed"]
OUTCOMES: tuple[Outcome, ...] = ("recommended", "applied", "dry-run", "skipped", "refused", "failed")


@dataclass(frozen=True)
class AuditEntry:
    """One decision, the one schema every writer (the loop, ``apply``) uses."""

    t: float
    """When (epoch seconds); the line also carries it as ISO 8601 UTC (``time``)."""
    deployment: str
    outcome: Outcome
    reason: str
    recommendation: Mapping[str, Any] | None = None
    inputs: Mapping[str, Any] | None = None
    """The signal snapshot decided from (None: none was read, e.g. an approved file)."""
    rule: str | None = None
    mode: str | None = None
    """How it was applied: ``config-only``, ``preview`` or ``up`` (None: not applied)."""

    def to_json(self) -> dict[str, Any]:
        return {"time": datetime.fromtimestamp(self.t, tz=UTC).isoformat(), "t": self.t,
                "deployment": self.deployment, "outcome": self.outcome, "reason": self.reason,
                "rule": self.rule, "mode": self.mode, "recommendation": self.recommendation, "inputs": self.inputs}


class AuditLog:
    """Appends entries to ``path`` (created with its folder on first write)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def append(self, entries: Iterable[AuditEntry]) -> int:
        lines = "".join(json.dumps(_clean(e.to_json()), sort_keys=True, allow_nan=False) + "\n" for e in entries)
        if not lines:
            return 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, lines.encode("utf-8"))
        finally:
            os.close(fd)
        return lines.count("\n")


def read(path: str | Path) -> Iterator[dict[str, Any]]:
    """The entries of an audit log, oldest first; a torn last line is skipped."""
    p = Path(path)
    if not p.exists():
        raise LlmstackError(f"audit log {p} does not exist", hint="run `llmstack recommend` or `watch` first")
    with p.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                if line.endswith("\n"):
                    raise LlmstackError(f"line {number} is not JSON: {exc.msg}", path=str(p)) from exc
