"""``llmstack:scaling``: the per-deployment overrides the policy engine writes.

The stack configuration key holds a mapping ``deployment -> {replicas, variant, pool,
tensor_parallel, route_weight}``. These are the only knobs the policy engine turns; everything
else stays in the spec. ``route_weight`` sets the deployment's weight in every route that
lists it (HAProxy's weighted pick, the HTTPRoute's backendRef weights), so a variant can
take traffic gradually (the policy engine does not turn it yet). ``apply_scaling`` checks
each override against the spec and returns the spec the targets build from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from pydantic import Field, ValidationError

from llmstack.errors import LlmstackError, SpecError
from llmstack.spec.loading import validation_error
from llmstack.spec.models import DeploymentSpec, Name, ReplicaRange, RouterSpec, Spec, StackSpec

CONFIG_KEY = "llmstack:scaling"


@dataclass(frozen=True)
class Shape:
    """What each replica of a deployment runs as: variant, pool and tensor-parallel size (the engine knobs).

    Pipeline stages stay as the deployment declares them; a change of shape is a vertical (pool, TP)
    or variant move, and new replicas of the new shape replace the old ones.
    """

    variant: str
    pool: str
    tensor_parallel: int

    @property
    def label(self) -> str:
        return f"{self.variant}@{self.pool} TP{self.tensor_parallel}"


@dataclass(frozen=True)
class ShapeChange:
    """A move of a deployment to another shape, with the rule that asked for it and why (in numbers)."""

    shape: Shape
    rule: str
    reason: str


@dataclass(frozen=True)
class Setting:
    """The four knobs of ``llmstack:scaling`` for one deployment, all set (the one type for them)."""

    replicas: int
    variant: str
    pool: str
    tensor_parallel: int

    def with_(self, **changes: Any) -> Setting:
        return replace(self, **changes)

    @property
    def shape(self) -> Shape:
        return Shape(self.variant, self.pool, self.tensor_parallel)

    def with_shape(self, shape: Shape) -> Setting:
        return replace(self, variant=shape.variant, pool=shape.pool, tensor_parallel=shape.tensor_parallel)

    def gpus(self, deployment: DeploymentSpec) -> int:
        """GPUs all replicas of this setting take (``deployment`` gives the pipeline stages)."""
        return self.replicas * self.tensor_parallel * deployment.pipeline_parallel

    def to_json(self) -> dict[str, Any]:
        return {"replicas": self.replicas, "variant": self.variant, "pool": self.pool,
                "tensor_parallel": self.tensor_parallel}


def settings_of(stack: StackSpec) -> dict[str, Setting]:
    """Each deployment's setting as ``stack`` declares it (``replicas.initial`` or ``min``)."""
    return {d.name: Setting(d.replicas.start, d.variant, d.pool, d.tensor_parallel) for d in stack.deployments}


class ScalingOverride(Spec):
    """What the stack file may hold for one deployment: any of the :class:`Setting` knobs (unset: as the spec)."""

    replicas: int | None = Field(default=None, ge=0)
    variant: Name | None = None
    pool: Name | None = None
    tensor_parallel: int | None = Field(default=None, ge=1, le=64)
    route_weight: int | None = Field(default=None, ge=0, le=256,
                                     description="weight of this deployment in every route that lists it")


def parse_scaling(raw: Any) -> dict[str, ScalingOverride]:
    """Validate the raw config value (a mapping, or its JSON text) into overrides."""
    if raw is None or raw == "":
        return {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise LlmstackError(f"not valid JSON: {exc.msg} at position {exc.pos}", path=CONFIG_KEY) from exc
    if not isinstance(raw, dict):
        raise LlmstackError(f"must be a mapping of deployment -> overrides, got {type(raw).__name__}",
                            path=CONFIG_KEY)
    overrides: dict[str, ScalingOverride] = {}
    for name, value in raw.items():
        try:
            overrides[str(name)] = ScalingOverride.model_validate(value)
        except ValidationError as exc:
            raise validation_error(exc, value, None, prefix=f"{CONFIG_KEY}.{name}") from exc
    return overrides


def from_document(document: Any, source: str) -> dict[str, ScalingOverride]:
    """Overrides from a scaling file: a Pulumi stack file (``config: {llmstack:scaling: ...}``,
    what ``llmstack apply`` writes) or the bare ``deployment -> overrides`` mapping."""
    if isinstance(document, dict) and "config" in document:
        config = document["config"]
        if not isinstance(config, dict):
            raise SpecError("config is not a mapping", file=source, path="config")
        return parse_scaling(config.get(CONFIG_KEY))
    try:
        return parse_scaling(document)
    except LlmstackError as exc:
        raise SpecError(exc.message, file=source, path=exc.path,
                        hint="pass a Pulumi.<stack>.yaml or a deployment -> overrides mapping") from exc


def apply_scaling(stack: StackSpec, overrides: dict[str, ScalingOverride]) -> StackSpec:
    """The stack with ``overrides`` applied; conflicting overrides raise naming the key."""
    names = [d.name for d in stack.deployments]
    pools = [p.name for p in stack.pools]
    deployments = []
    for name in overrides:
        if name not in names:
            raise LlmstackError(f"unknown deployment {name!r}", path=f"{CONFIG_KEY}.{name}",
                                hint=f"deployments are {names}")
    for d in stack.deployments:
        o = overrides.get(d.name)
        if o is None:
            deployments.append(d)
            continue
        changes: dict[str, Any] = {}
        key = f"{CONFIG_KEY}.{d.name}"
        if o.replicas is not None:
            if not d.replicas.min <= o.replicas <= d.replicas.max:
                raise LlmstackError(f"replicas {o.replicas} is outside {d.replicas.min}..{d.replicas.max}",
                                    path=f"{key}.replicas", hint="change replicas.min/max in the spec first")
            changes["replicas"] = ReplicaRange.model_validate({**d.replicas.model_dump(), "initial": o.replicas})
        if o.variant is not None:
            variants = [v.name for v in stack.model(d.model).variants]
            if o.variant not in variants:
                raise LlmstackError(f"{o.variant!r} is not a variant of model {d.model!r}",
                                    path=f"{key}.variant", hint=f"variants are {variants}")
            changes["variant"] = o.variant
        if o.pool is not None:
            if o.pool not in pools:
                raise LlmstackError(f"unknown pool {o.pool!r}", path=f"{key}.pool", hint=f"pools are {pools}")
            changes["pool"] = o.pool
        if o.tensor_parallel is not None:
            changes["tensor_parallel"] = o.tensor_parallel
        deployments.append(d.model_copy(update=changes))
    routers = route_weights(stack, overrides)
    return stack.model_copy(update={"deployments": deployments, "routers": routers})


def route_weights(stack: StackSpec, overrides: dict[str, ScalingOverride]) -> list[RouterSpec]:
    """The routers with every ``route_weight`` override applied; a route left with no weight raises."""
    weights = {name: o.route_weight for name, o in overrides.items() if o.route_weight is not None}
    routed = {d for r in stack.routers for route in r.routes for d in route.backends}
    for name in weights:
        if name not in routed:
            raise LlmstackError(f"deployment {name!r} is in no route", path=f"{CONFIG_KEY}.{name}.route_weight",
                                hint="add it to a route's backends in the spec first")
    routers = []
    for router in stack.routers:
        routes = []
        for route in router.routes:
            backends = {d: weights.get(d, w) for d, w in route.backends.items()}
            if sum(backends.values()) == 0:
                raise LlmstackError(f"route {route.model!r} of router {router.name!r} would get no traffic",
                                    path=f"{CONFIG_KEY}.{next(d for d in backends if d in weights)}.route_weight",
                                    hint="keep at least one backend of the route above 0")
            routes.append(route.model_copy(update={"backends": backends}))
        routers.append(router.model_copy(update={"routes": routes}))
    return routers

