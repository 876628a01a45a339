"""Policies as pydantic models: ``policies/*.yaml`` loaded and merged in order.

Merging is a deep merge of the YAML mappings, later files winning key by key (lists are
replaced, not appended), and the result is validated once. Durations are seconds or
strings like ``90s``, ``5m``, ``1h``.

Conflict order (documented here, enforced in :mod:`llmstack.policy.deciding`):
**safety > SLO > cost**. Safety: refusing to act on bad data, min/max replicas, the
budget cap, fit checks, and the KV-saturation (vertical) rule. SLO: scale-out rules and
the variant switch under pressure. Cost: scale-in and the variant switch for budget or back.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from llmstack.errors import LlmstackError, PolicyError
from llmstack.spec.durations import Duration
from llmstack.spec.durations import parse_duration as parse_duration  # re-exported: policy files' durations
from llmstack.spec.loading import load_yaml, read_text, validation_error


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class DataQuality(Rule):
    """When a reading is too poor to act on."""

    min_completeness: float = Field(default=0.8, gt=0, le=1,
                                    description="replicas reporting / replicas due (expected less starting)")
    starting_allowance: float = Field(
        default=2.0, ge=1, description="a replica asked for within this many start-up estimates that does not "
                                       "report yet is starting, not missing (llmstack.policy.starting)")
    stale_after: Duration = Field(default=60.0, description="newest sample older than this: stale")
    max_clock_skew: Duration = Field(default=30.0, description="samples stamped further in the future: refused")
    max_rate_over_capacity: float = Field(
        default=100.0, gt=1, description="request rate above this many times what the fleet can serve: refused")
    required_signals: list[str] = Field(
        default_factory=lambda: ["request_rate", "queue_length", "running_requests", "kv_cache_usage"])


class TargetTracking(Rule):
    """Scale out in proportion to how far a signal is above its target (HPA's formula)."""

    name: str
    signal: str
    target: float | None = Field(default=None, gt=0, description="absolute target; or use slo_fraction")
    slo_fraction: float | None = Field(default=None, gt=0, le=2,
                                       description="target = this x the deployment's SLO (ttft_p95, tpot_p95)")
    per_replica: bool = False
    scale_in: bool = False
    min_queue_per_replica: float = Field(default=0.0, ge=0,
                                         description="scale out only while at least this many requests wait per "
                                                     "serving replica (latency that no queue explains: the "
                                                     "requests' own size, which more replicas do not fix)")
    max_ratio: float | None = Field(default=None, gt=1,
                                    description="grow at most this factor per decision (latency is not linear in load)")


class Threshold(Rule):
    """Add or remove replicas when a signal stays above / below a bound ``for`` a duration."""

    name: str
    signal: str
    above: float | None = None
    below: float | None = None
    per_replica: bool = False
    for_: Duration = Field(default=0.0, alias="for")
    step: int = Field(default=1, ge=-64, le=64, description="replicas to add (negative: remove)")


class ModelBased(Rule):
    """replicas = demand / what one replica sustains within the SLO (capacity model)."""

    enabled: bool = True
    utilization: float = Field(default=0.8, gt=0, le=1, description="plan each replica at this share of its SLO rps")
    queue_drain: Duration = Field(default=60.0, description="queued requests count as demand spread over this")
    min_request_rate: float = Field(default=0.0, ge=0)
    forecast_window: Duration = Field(default=120.0, description="fit the demand's rising trend over this "
                                      "and plan a replica start-up ahead (0: no forecast)")
    surge_sigma: float = Field(
        default=0.0, ge=0,
        description="while requests wait at the router, size for the arrivals of the last scrape interval when "
                    "they exceed the window's rate by more than this many Poisson standard deviations (0: off)")
    max_prompt_overstatement: float | None = Field(
        default=None, ge=1,
        description="prompt tokens per request over completions, held to this x prompt tokens over admitted "
                    "requests (completions plus the running batch's growth): a scaled-in fleet meeting "
                    "returning traffic prefills many prompts and finishes few (None: no bound)")
    min_saturation_share: float = Field(
        default=0.0, ge=0, lt=1,
        description="plan a replica at no less than this share of its saturation rate: below about half, "
                    "queueing adds under half a service time (M/D/1), so an SLO still missed there is the "
                    "requests' own length, which more replicas do not shorten")


class Horizontal(Rule):
    target_tracking: list[TargetTracking] = Field(default_factory=list)
    thresholds: list[Threshold] = Field(default_factory=list)
    model_based: ModelBased = Field(default_factory=ModelBased)


class Vertical(Rule):
    """KV-cache saturation or preemptions -> a larger accelerator class or more TP GPUs."""

    enabled: bool = True
    kv_usage_above: float = Field(default=0.95, gt=0, le=1)
    preemptions_per_s_above: float = Field(default=0.5, ge=0)
    for_: Duration = Field(default=120.0, alias="for")
    min_kv_gain: float = Field(default=1.5, ge=1, description="the new option holds at least this x KV tokens")
    cooldown: Duration = 1800.0


class Variants(Rule):
    """Switch to a cheaper/faster variant under sustained pressure or over budget; back when it passes."""

    enabled: bool = True
    pressure_for: Duration = 300.0
    back_after: Duration = 900.0
    back_headroom: float = Field(default=0.7, gt=0, le=1,
                                 description="switch back when the declared variant would need <= this x max replicas")
    cooldown: Duration = 1800.0


class Guards(Rule):
    tolerance: float = Field(default=0.1, ge=0, lt=1, description="ignore replica changes within this fraction")
    max_step_up: int = Field(default=4, ge=1)
    max_step_up_ratio: float = Field(default=1.0, ge=0, description="or this x current replicas, whichever is larger")
    max_step_down: int = Field(default=1, ge=1)
    max_step_down_ratio: float = Field(default=0.0, ge=0, lt=1,
                                       description="or this x current replicas, whichever is larger")
    scale_out_cooldown: Duration = 60.0
    scale_in_cooldown: Duration = 300.0
    scale_in_stabilization: Duration = 300.0
    stabilization_startups: float = Field(
        default=0.0, ge=0,
        description="the scale-in window is at least this many replica start-ups: capacity given back is "
                    "not there again for a start-up, so a lull shorter than that is held through")
    budget_per_hour: float | None = Field(
        default=None, gt=0, description="under guards: the stack's cost per hour (default: the stack's "
                                        "budget_per_hour); under deployments.NAME: that deployment's own")

    def scale_in_window(self, startup_s: float) -> float:
        """The scale-in stabilization window for a deployment whose replicas take ``startup_s`` to start."""
        return max(self.scale_in_stabilization, self.stabilization_startups * startup_s)
    min_replicas: int | None = Field(default=None, ge=0, description="default: each deployment's replicas.min")
    max_replicas: int | None = Field(default=None, ge=1, description="default: each deployment's replicas.max")
    max_actions_per_hour: int = Field(default=12, ge=1, description="per deployment, all kinds")


class Policy(Rule):
    """A merged policy."""

    name: str = "policy"
    data: DataQuality = Field(default_factory=DataQuality)
    horizontal: Horizontal = Field(default_factory=Horizontal)
    vertical: Vertical = Field(default_factory=Vertical)
    variants: Variants = Field(default_factory=Variants)
    guards: Guards = Field(default_factory=Guards)
    deployments: dict[str, Guards] = Field(
        default_factory=dict, description="per-deployment guard overrides over guards (budget_per_hour: "
                                          "that deployment's own cap, not inherited)")

    @model_validator(mode="before")
    @classmethod
    def _overrides_over_guards(cls, raw: Any) -> Any:
        """A deployment's guards are ``guards`` with its overrides on top (not the defaults with them),
        all but ``budget_per_hour``: the stack's budget is not each deployment's."""
        if not isinstance(raw, dict) or not isinstance(raw.get("deployments"), dict):
            return raw
        base = raw.get("guards")
        base = base if isinstance(base, dict) else {}
        inherited = {key: value for key, value in base.items() if key != "budget_per_hour"}
        merged = {name: merge(inherited, override) if isinstance(override, dict) else override
                  for name, override in raw["deployments"].items()}
        return {**raw, "deployments": merged}

    def guards_for(self, deployment: str) -> Guards:
        return self.deployments.get(deployment, self.guards)

    def deployment_budget(self, deployment: str) -> float | None:
        """``deployments.NAME.budget_per_hour``: a cap on that deployment's own cost per hour (None: none)."""
        override = self.deployments.get(deployment)
        return None if override is None else override.budget_per_hour


Kind = Literal["horizontal", "vertical", "variant"]


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep merge of two YAML mappings; ``override`` wins, lists are replaced."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def from_mapping(raw: dict[str, Any], source: str = "policy") -> Policy:
    try:
        return Policy.model_validate(raw)
    except ValidationError as exc:
        raise validation_error(exc, raw, source, kind=PolicyError) from exc


def load_policy(paths: str | Path | Iterable[str | Path]) -> Policy:
    """Load one or more policy files, merged in order (later wins)."""
    items = [paths] if isinstance(paths, str | Path) else list(paths)
    if not items:
        raise LlmstackError("no policy file given", hint="pass policies/default.yaml")
    merged: dict[str, Any] = {}
    for item in items:
        path = Path(item)
        raw = load_yaml(read_text(path, "policy file"), str(path))
        if raw is None:
            continue
        if not isinstance(raw, dict):
            raise PolicyError("a policy file is a mapping", file=str(path))
        merged = merge(merged, raw)
    return from_mapping(merged, source=", ".join(str(i) for i in items))
