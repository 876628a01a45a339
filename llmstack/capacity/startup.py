"""How long a new replica takes from being requested to serving: pod start and image pull, weight
load, engine warm-up. Minutes for large models; the simulator's start-up delay and the policy's
forecast horizon both come from here.

Assumptions (typical cloud figures, not measurements of this project):

- ``POD_START_S``: scheduling onto a node that has the GPU, plus pulling the vLLM image
  (about 10 GB compressed at a few hundred MB/s from a regional registry) when it is not cached;
- ``WEIGHT_LOAD_BYTES_PER_S``: reading safetensors from network storage or a model cache
  (about 1 GB/s per replica; each GPU of a TP group loads its own shard in parallel, so the time
  follows the bytes per GPU);
- ``ENGINE_WARMUP_S``: vLLM's start-up profile run, KV allocation, torch.compile and CUDA-graph
  capture (tens of seconds at the default capture sizes).
"""

from __future__ import annotations

from llmstack.capacity.throughput import EngineProfile
from llmstack.spec.models import ReplicaRange

POD_START_S = 60.0
WEIGHT_LOAD_BYTES_PER_S = 1.0e9
ENGINE_WARMUP_S = 40.0


def startup_delay_s(profile: EngineProfile) -> float:
    """Seconds from scale-out to a ready replica for ``profile`` (weights per GPU over the load rate)."""
    return POD_START_S + profile.weight_bytes_per_gpu / WEIGHT_LOAD_BYTES_PER_S + ENGINE_WARMUP_S


HOLD_TIMEOUT_FACTOR = 1.5
"""A held request waits for the wake decision (one scrape and policy cycle, 15-30 s) plus the cold
start; 1.5x the start-up estimate (106-193 s for the catalog's stacks -> 159-290 s) covers both
with room for a slow image pull."""


def hold_timeout_s(replicas: ReplicaRange, profile: EngineProfile) -> float:
    """How long the router holds a request while a ``min: 0`` deployment has no ready replica.

    The spec's ``replicas.hold_timeout`` when set, else :data:`HOLD_TIMEOUT_FACTOR` x the start-up
    estimate. HAProxy's ``timeout queue`` and the simulator's router hold use this one number.
    """
    if replicas.hold_timeout is not None:
        return replicas.hold_timeout
    return HOLD_TIMEOUT_FACTOR * startup_delay_s(profile)
