"""``llmstack controller``: the watch loop in the pod, its backend, endpoints and files on the volume.

:func:`build_backend` picks the apply path the spec's ``controller:`` section names (the
Pulumi operator's Stack or a git repository, with the KEDA fast path in front when it is on);
:func:`run` starts the endpoints, lays the backend's ``llmstack:scaling`` over the spec so
the loop starts from what is deployed, and runs :func:`llmstack.policy.loop.watch`: every
decision goes to the append-only audit log on the volume, the guards' state (cooldowns,
conditions) to ``state.json`` beside it, so a restarted pod carries on where it stopped.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from llmstack.controller import kube_api
from llmstack.controller.backends import ApplyBackend, ApplyReport
from llmstack.controller.desired import DesiredReplicas, KedaFastPath
from llmstack.controller.gitops import GitOpsBackend, Repository
from llmstack.controller.pulumi_operator import PulumiOperatorBackend
from llmstack.controller.service import ControllerServer, Health, LoopMetrics
from llmstack.fileio import atomic_write_text
from llmstack.metrics import reading
from llmstack.policy import loop
from llmstack.policy.audit import AuditLog
from llmstack.policy.recommendation import Recommendation, Setting, settings_of
from llmstack.policy.rules import Policy
from llmstack.policy.state import ScalingState, load_state
from llmstack.spec.models import StackSpec

log = logging.getLogger("llmstack.controller")
DATA_DIR = Path("/var/lib/llmstack")
"""Where the Kubernetes target mounts the controller's claim."""


@dataclass(frozen=True)
class Paths:
    """The controller's files on its volume."""

    data_dir: Path

    @property
    def audit(self) -> Path:
        return self.data_dir / "audit.jsonl"

    @property
    def state(self) -> Path:
        return self.data_dir / "state.json"

    @property
    def desired(self) -> Path:
        return self.data_dir / "desired.json"

    @property
    def repository(self) -> Path:
        return self.data_dir / "repository"


def pulumi_backend(stack: StackSpec, paths: Paths, namespace: str, *, client: kube_api.StackClient | None = None,
                   git_env: Mapping[str, str] | None = None) -> ApplyBackend:
    """The Pulumi path of ``stack.controller``: the operator's Stack (default) or the GitOps repository."""
    spec = stack.controller
    if spec.apply == "gitops":
        assert spec.gitops is not None  # the spec refuses gitops without its section
        g = spec.gitops
        repo = Repository(g.repository, g.branch, g.stack_file, g.push_branch, g.author_name, g.author_email)
        return GitOpsBackend(repo, paths.repository, git_env)
    operator = spec.pulumi_operator
    api = client or kube_api.HttpStackClient(kube_api.InCluster.from_environment())
    return PulumiOperatorBackend(api, operator.namespace or namespace, operator.stack_object)


def build_backend(stack: StackSpec, paths: Paths, namespace: str, registry: CollectorRegistry, *,
                  client: kube_api.StackClient | None = None,
                  git_env: Mapping[str, str] | None = None) -> tuple[ApplyBackend, DesiredReplicas | None]:
    """The backend the loop applies through, and the desired-replicas gauge when KEDA is on."""
    slow = pulumi_backend(stack, paths, namespace, client=client, git_env=git_env)
    if not stack.controller.keda.enabled:
        return slow, None
    desired = DesiredReplicas(registry, paths.desired)
    return KedaFastPath(desired, slow), desired


def settings_in_force(stack: StackSpec, overrides: Mapping[str, Mapping[str, Any]]) -> dict[str, Setting]:
    """The spec's settings with ``llmstack:scaling`` over them (deployments the spec lacks are ignored)."""
    out = dict(settings_of(stack))
    for name, knobs in overrides.items():
        if name in out:
            out[name] = out[name].with_(**{k: v for k, v in knobs.items() if k in Setting.__dataclass_fields__})
    return out


def outcome(result: loop.CycleResult) -> str:
    if result.read_error is not None:
        return "metrics_failed"
    if result.error is not None:
        return "apply_failed"
    if result.applied:
        return "applied"
    return "recommended" if result.recommendations else "idle"


def logged(backend: ApplyBackend) -> Callable[[Sequence[Recommendation]], ApplyReport]:
    def apply(recommendations: Sequence[Recommendation]) -> ApplyReport:
        report = backend.apply(recommendations)
        log.info("applied through %s: %s", report.backend,
                 report.detail or ("changed" if report.changed else "no change"))
        return report

    return apply


@dataclass
class Controller:
    """Everything one controller process holds (built by the CLI, or by tests with fakes)."""

    stack: StackSpec
    policy: Policy
    source: reading.MetricsSource
    backend: ApplyBackend
    paths: Paths
    registry: CollectorRegistry
    desired: DesiredReplicas | None = None
    dry_run: bool = False
    recording_rules: bool = False
    """Query the recording-rule names (the stack's PrometheusRule or plain Prometheus rules are loaded)."""

    def starting_settings(self) -> dict[str, Setting]:
        """What is deployed now; with KEDA, seeds the gauge (from ``desired.json``, else the replicas in force)."""
        current = settings_in_force(self.stack, self.backend.current())
        if self.desired is not None:
            saved = self.desired.load()
            self.desired.set({name: saved.get(name, s.replicas) for name, s in current.items()})
            current = {name: s.with_(replicas=self.desired.values()[name]) for name, s in current.items()}
        return current

    def run(self, *, interval_s: float, listen: tuple[str, int] | None = None, cycles: int | None = None,
            clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep,
            on_cycle: Callable[[loop.CycleResult], None] | None = None) -> ScalingState:
        """Serve the endpoints (when ``listen`` is given) and run the loop ``cycles`` times or forever."""
        health, metrics = Health(interval_s), LoopMetrics(self.registry)
        server = ControllerServer(self.registry, health, *listen).start() if listen is not None else None
        self.paths.data_dir.mkdir(parents=True, exist_ok=True)

        def cycle_done(result: loop.CycleResult) -> None:
            metrics.cycles.labels(outcome=outcome(result)).inc()
            metrics.last_cycle.set(result.now)
            health.cycle_done()
            if on_cycle is not None:
                on_cycle(result)

        try:
            return loop.watch(self.source, self.stack, self.policy, interval_s=interval_s,
                              state=load_state(self.paths.state), current=self.starting_settings(),
                              apply=None if self.dry_run else logged(self.backend), audit=AuditLog(self.paths.audit),
                              cycles=cycles, clock=clock, sleep=sleep, on_cycle=cycle_done,
                              on_state=lambda s: atomic_write_text(self.paths.state, json.dumps(s.to_json())),
                              recording_rules=self.recording_rules)
        finally:
            if server is not None:
                server.stop()
