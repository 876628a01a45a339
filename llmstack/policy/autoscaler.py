"""The policy evaluator behind the simulator's autoscaler interface.

The simulated fleet computes a signal snapshot (``Mapping[str, float]`` keyed by the
signal names of :mod:`llmstack.catalog.signals`) every 15 s and asks
``desired_replicas(now_s, signals, current)``. :class:`PolicyAutoscaler` turns that into a
:class:`~llmstack.metrics.reading.SignalSnapshot` with :func:`llmstack.metrics.reading.snapshot_of`
(the split into values, NaN and missing signals and the value checks of a Prometheus cycle, so the
data-quality refusals act in simulation too) from the inputs the real loop has: expected = the
replicas the fleet was asked for (``current``), reporting = the engines that answer scrapes
(``replicas_up``), starting = those asked for within their start-up allowance
(:mod:`llmstack.policy.starting`), so the partial-data rule acts alike: a scale-out's starting
replicas do not refuse the next cycles, replicas silent past the allowance do. It runs the same
:func:`llmstack.policy.deciding.evaluate` with the same guards and state, and answers the horizontal
proposal. A vertical or variant proposal that passed the
guards is answered by the next ``desired_shape`` (asked at the same tick) as a
:class:`~llmstack.spec.scaling.ShapeChange`, and the adapter decides from then on with the new
shape in force (what ``llmstack:scaling`` would hold after the move). Every proposal is in ``log``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from llmstack.metrics import reading
from llmstack.policy import deciding, starting
from llmstack.policy.predicting import CapacityView
from llmstack.policy.recommendation import Recommendation, Skip, settings_of
from llmstack.policy.rules import Policy, load_policy
from llmstack.policy.state import ScalingState
from llmstack.spec.models import DeploymentSpec, StackSpec
from llmstack.spec.scaling import Shape, ShapeChange


class PolicyAutoscaler:
    """The simulator's ``Autoscaler`` interface (structurally: ``policy`` does not import ``sim``) driven by a policy.

    It starts at the deployment's ``replicas.start`` and the fleet clamps it to the replica range,
    as the policy's own guards do.
    """

    respect_limits = True

    def initial_replicas(self) -> int | None:
        return None

    def __init__(self, policy: Policy, stack: StackSpec, deployment: str | DeploymentSpec,
                 name: str | None = None) -> None:
        self.policy = policy
        self.stack = stack
        self.deployment = stack.deployment(deployment) if isinstance(deployment, str) else deployment
        self.name = name or f"policy:{policy.name}"
        self.state = ScalingState()
        self.log: list[Recommendation] = []
        self.snapshots: list[reading.SignalSnapshot] = []
        """Every tick's snapshot, in order (what the policy read)."""
        self.skips: list[Skip] = []
        """Every tick's skips and refusals, in order."""
        self._only = stack.model_copy(update={"deployments": [self.deployment]})
        self._view = CapacityView(self._only)
        self.setting = settings_of(stack)[self.deployment.name]
        """The setting in force (replicas aside): the declared one until a move."""
        self._engine_change: Recommendation | None = None

    def snapshot(self, now_s: float, signals: Mapping[str, float], current: int) -> reading.SignalSnapshot:
        """This tick's snapshot, built as a Prometheus cycle builds it (see the module docstring)."""
        raw = {k: float(v) for k, v in signals.items() if v is not None}
        name = self.deployment.name
        asked = starting.asked_recently(self.state, self._only, self.policy, {name: self.setting.with_(
            replicas=current)}, now_s, self._view)[name]
        reporting = int(raw.get("replicas_up", 0.0))
        return reading.snapshot_of(name, now_s, raw, reporting, current, asked=asked)

    def desired_replicas(self, now_s: float, signals: Mapping[str, float], current: int) -> int:
        snap = self.snapshot(now_s, signals, current)
        self.snapshots.append(snap)
        base = self.setting.with_(replicas=current)
        evaluation = deciding.evaluate({self.deployment.name: snap}, self.state, self.policy, self._only, now_s,
                                       {self.deployment.name: base})
        self.state = evaluation.state
        self.skips.extend(evaluation.skips)
        answer = current
        for rec in evaluation.recommendations:
            self.log.append(rec)
            if rec.kind == "horizontal":
                answer = rec.proposed.replicas
            else:
                self._engine_change = rec
            self.state = starting.record_applied(self.state, [rec], now_s)
        return answer

    def desired_shape(self, now_s: float, current: Shape) -> ShapeChange | None:
        """The vertical or variant move this tick's evaluation kept (None: none)."""
        self.setting = self.setting.with_shape(current)
        rec, self._engine_change = self._engine_change, None
        if rec is None or rec.proposed.shape == current:
            return None
        self.setting = self.setting.with_shape(rec.proposed.shape)
        return ShapeChange(rec.proposed.shape, rec.rule, rec.reason)


def policy_autoscaler(path: str, stack: StackSpec, deployment: str | DeploymentSpec) -> PolicyAutoscaler:
    """The autoscaler ``llmstack simulate --autoscaler policy:PATH`` uses (PATH: one or more files, comma-separated)."""
    paths = [Path(p) for p in path.split(",") if p]
    return PolicyAutoscaler(load_policy(paths), stack, deployment, name=f"policy:{path}")
