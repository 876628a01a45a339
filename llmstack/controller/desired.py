"""The KEDA fast path: ``llmstack_desired_replicas{deployment}``, and the backend that sets it.

Horizontal moves land in seconds: the controller sets the gauge, Prometheus scrapes it, and
each deployment's KEDA ``ScaledObject`` (Prometheus trigger, target 1 per replica) makes its
HPA follow it, with no Pulumi run. Vertical and variant moves still go through the Pulumi
path (:class:`KedaFastPath` hands them to the operator or GitOps backend first, and sets the
gauge to their replicas only after that landed). The values survive a restart in
``desired.json`` on the controller's volume; on a first start they are the replicas in force.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Gauge

from llmstack.controller.backends import ApplyBackend, ApplyReport
from llmstack.errors import ApplyError
from llmstack.fileio import atomic_write_text
from llmstack.policy.recommendation import Recommendation

METRIC = "llmstack_desired_replicas"
LABEL = "deployment"


class DesiredReplicas:
    """The gauge KEDA follows, one series per deployment, persisted beside the audit log."""

    def __init__(self, registry: CollectorRegistry, path: Path | None = None) -> None:
        self.gauge = Gauge(METRIC, "Replicas the llmstack policy engine wants for a deployment "
                                   "(the deployment's KEDA ScaledObject follows it)", [LABEL], registry=registry)
        self.path = path
        self._values: dict[str, int] = {}

    def values(self) -> dict[str, int]:
        return dict(self._values)

    def load(self) -> dict[str, int]:
        """What ``desired.json`` holds (``{}``: none yet); a damaged file is an error naming it."""
        if self.path is None or not self.path.exists():
            return {}
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            return {str(k): int(v) for k, v in raw.items()}
        except (ValueError, TypeError, AttributeError) as exc:
            raise ApplyError(f"desired replicas file is damaged: {exc}", file=str(self.path),
                             hint="delete it: the controller starts from the replicas in force") from exc

    def set(self, values: Mapping[str, int]) -> None:
        """Set (and persist) the desired replicas of the deployments in ``values``; others keep theirs."""
        for name, replicas in values.items():
            if replicas < 0:
                raise ApplyError(f"desired replicas of {name} would be {replicas}")
            self._values[name] = int(replicas)
            self.gauge.labels(**{LABEL: name}).set(replicas)
        if self.path is not None and values:
            try:
                atomic_write_text(self.path, json.dumps(self._values, sort_keys=True) + "\n")
            except OSError as exc:
                raise ApplyError(f"cannot write the desired replicas: {exc.strerror or exc}",
                                 file=str(self.path)) from exc


class KedaFastPath:
    """Horizontal moves to the gauge; every other move through ``slow`` (then its replicas to the gauge)."""

    name = "keda"

    def __init__(self, desired: DesiredReplicas, slow: ApplyBackend) -> None:
        self.desired = desired
        self.slow = slow

    def current(self) -> dict[str, dict[str, Any]]:
        """The slow path's overrides with the desired replicas over them (KEDA owns the replica count)."""
        out = {name: dict(knobs) for name, knobs in self.slow.current().items()}
        for name, replicas in self.desired.values().items():
            out.setdefault(name, {})["replicas"] = replicas
        return out

    def apply(self, recommendations: Sequence[Recommendation]) -> ApplyReport:
        slow = [r for r in recommendations if r.kind != "horizontal"]
        report = self.slow.apply(slow) if slow else None
        wanted = {r.deployment: r.proposed.replicas for r in recommendations}
        moved = {name: n for name, n in wanted.items() if self.desired.values().get(name) != n}
        self.desired.set(wanted)
        detail = ", ".join(f"{name}={n}" for name, n in sorted(moved.items()))
        if report is None:
            return ApplyReport(self.name, bool(moved), {}, None, f"{METRIC}: {detail or 'unchanged'}")
        return ApplyReport(f"{self.name}+{report.backend}", report.changed or bool(moved), report.scaling,
                           report.reference, f"{report.detail}; {METRIC}: {detail or 'unchanged'}")
