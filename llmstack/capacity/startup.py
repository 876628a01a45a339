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

POD_START_S = 60.0
WEIGHT_LOAD_BYTES_PER_S = 1.0e9
ENGINE_WARMUP_S = 40.0


def startup_delay_s(profile: EngineProfile) -> float:
    """Seconds from scale-out to a ready replica for ``profile`` (weights per GPU over the load rate)."""
    return POD_START_S + profile.weight_bytes_per_gpu / WEIGHT_LOAD_BYTES_PER_S + ENGINE_WARMUP_S
