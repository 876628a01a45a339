"""Vertical and variant moves of a simulated fleet: the shapes it runs and how one replaces another.

A move (:class:`~llmstack.spec.scaling.ShapeChange` from the autoscaler) changes the shape new
replicas get: variant, pool or tensor-parallel size. It rolls out as the Kubernetes target's
Deployment does (:mod:`llmstack.targets.kubernetes.engines`): ``RollingUpdate`` with
``maxSurge: 1, maxUnavailable: 0`` starts one replica of the new shape, and each time one becomes
ready an old one stops taking requests and drains (finishes what it holds), until no old replica
serves; ``Recreate`` drains every old replica at once and starts the new ones (requests wait at
the router meanwhile). Each new replica is ready after the capacity model's start-up estimate for
its shape (:func:`llmstack.capacity.startup.startup_delay_s`; the declared shape keeps the fleet
configuration's ``startup_delay_s``). GPU-hours count each replica's GPUs (TP x PP of its shape)
at its pool's price, from its request to its stop.
"""

from __future__ import annotations

from dataclasses import dataclass

from llmstack.capacity import planning, throughput, validity
from llmstack.capacity.startup import startup_delay_s
from llmstack.capacity.throughput import EngineProfile
from llmstack.errors import LlmstackError
from llmstack.spec.models import DeploymentSpec, PoolSpec, StackSpec
from llmstack.spec.resolving import resolve
from llmstack.spec.scaling import Shape, ShapeChange

ROLLING_SURGE = 1
"""``maxSurge`` of the Kubernetes target's rolling update: one replica of the new shape starts at a time."""
ROLLING_UNAVAILABLE = 0
"""``maxUnavailable``: an old replica drains only once a new one is ready."""


@dataclass(frozen=True)
class ShapeModel:
    """What the fleet needs of one shape: the engine's speed and memory, its GPUs, its pool, its start-up."""

    shape: Shape
    profile: EngineProfile
    gpus_per_replica: int
    pool: PoolSpec
    startup_s: float


def shape_model(stack: StackSpec, spec: DeploymentSpec, shape: Shape, startup_s: float | None = None) -> ShapeModel:
    """``spec`` run as ``shape``: one of the planner's shapes that the capacity model says can run, else an error."""
    if shape not in set(planning.shapes(stack, spec)):
        pools = {p.name: p.gpus_per_node for p in stack.pools}
        raise LlmstackError(f"cannot move {spec.name} to {shape.label}: not a shape the planner generates",
                            path=f"deployments[{spec.name}]",
                            hint=f"variants of {spec.model} on pools {sorted(pools)}, TP within a node "
                                 f"(GPUs per node: {pools})")
    resolved = resolve(stack, spec, pool=shape.pool, variant=shape.variant, tensor_parallel=shape.tensor_parallel)
    found = validity.problems(resolved)
    if found:
        raise LlmstackError(f"cannot move {spec.name} to {shape.label}: {found[0].message}",
                            path=f"deployments[{spec.name}]")
    profile = throughput.profile(resolved)
    return ShapeModel(shape, profile, shape.tensor_parallel * spec.pipeline_parallel, resolved.pool,
                      startup_delay_s(profile) if startup_s is None else startup_s)


@dataclass
class Move:
    """One move in a run: when it was asked, from and to which shape, why, and ``done_s``: when the last
    replica of another shape that it found stopped (None: some still ran at the end)."""

    t: float
    from_shape: Shape
    to_shape: Shape
    rule: str
    reason: str
    done_s: float | None = None

    @staticmethod
    def of(t: float, current: Shape, change: ShapeChange) -> Move:
        return Move(t, current, change.shape, change.rule, change.reason)

    def to_json(self) -> dict[str, object]:
        return {"t": self.t, "from": self.from_shape.label, "to": self.to_shape.label, "rule": self.rule,
                "why": self.reason, "done_s": self.done_s}


@dataclass(frozen=True)
class Rollout:
    """The rolling-update limits: at most ``surge`` replicas over the desired count, ``unavailable`` under it."""

    surge: int
    unavailable: int

    @staticmethod
    def of(spec: DeploymentSpec) -> Rollout:
        if spec.update_strategy == "Recreate":
            return Rollout(0, spec.replicas.max)
        return Rollout(ROLLING_SURGE, ROLLING_UNAVAILABLE)

    def step(self, desired: int, old_serving: int, new_up: int) -> tuple[int, int]:
        """(replicas of the new shape to have starting or up, old replicas to drain now).

        The new shape grows while the fleet stays within ``desired + surge`` (never below the new
        replicas already up, unless ``desired`` itself is lower); old replicas drain while the
        serving fleet stays at ``desired - unavailable`` or more.
        """
        new_target = min(desired, max(new_up, desired + self.surge - old_serving))
        drain = max(0, min(old_serving, old_serving + new_up - max(0, desired - self.unavailable)))
        return new_target, drain
