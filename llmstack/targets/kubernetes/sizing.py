"""Pod shapes from the capacity model: GPUs, CPU, host memory, /dev/shm and pods per replica.

A replica whose TP x PP GPUs fit one node of its pool is one pod. A larger one is a
LeaderWorkerSet group of ``ceil(GPUs / gpus_per_node)`` pods with an equal share of GPUs
each (vLLM over Ray places its workers on the group's GPUs). Host memory is sized for the
weights a pod loads (safetensors are read through host memory before moving to the GPU)
plus the process and shared memory; CPU gets one core per GPU worker plus one for the API
server and tokenizer. :func:`check_pools` verifies that every pool can hold its
deployments' minimum replicas.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from llmstack.capacity import memory
from llmstack.errors import LlmstackError
from llmstack.spec.models import StackSpec
from llmstack.spec.resolving import ResolvedDeployment

GIB = memory.GIB
HOST_RUNTIME_GIB = 3
"""Python, CUDA host allocations, tokenizer and HTTP server of one vLLM process."""
CPU_PER_GPU = 1
CPU_BASE = 1
SHM_GIB_PER_GPU = 2
SHM_GIB_MAX = 16
STARTUP_BASE_S = 600
"""Startup probe budget: ten minutes for image pull, CUDA graphs and compilation..."""
STARTUP_S_PER_WEIGHT_GIB = 10
"""...plus the download of the weights at about 100 MiB/s, on the first start of a node."""
STARTUP_PERIOD_S = 10


@dataclass(frozen=True)
class PodShape:
    """What one pod of a replica asks the scheduler for."""

    gpus_per_replica: int
    pods_per_replica: int
    gpus_per_pod: int
    cpu: int
    memory_gib: int
    shm_gib: int
    weights_gib: float
    startup_failure_threshold: int

    @property
    def multi_node(self) -> bool:
        return self.pods_per_replica > 1


def shape(resolved: ResolvedDeployment) -> PodShape:
    """The pod shape of ``resolved``; an uneven split across nodes is an error."""
    d, pool = resolved.deployment, resolved.pool
    gpus = d.tensor_parallel * d.pipeline_parallel
    pods = max(1, math.ceil(gpus / pool.gpus_per_node))
    if gpus % pods:
        raise LlmstackError(
            f"TP {d.tensor_parallel} x PP {d.pipeline_parallel} = {gpus} GPUs cannot be split evenly over "
            f"{pods} nodes of {pool.gpus_per_node} GPUs",
            path=f"deployments[{d.name}].pipeline_parallel",
            hint=f"use a GPU count that is a multiple of {pods} (e.g. tensor_parallel {pool.gpus_per_node} and "
                 f"pipeline_parallel {pods})",
        )
    per_pod = gpus // pods
    fmt = memory.weight_format(resolved.variant, resolved.accelerator)
    weights_gib = memory.weights_bytes(resolved.architecture, fmt, resolved.variant.sparsity) / GIB
    shm = 1 if per_pod == 1 else min(SHM_GIB_MAX, SHM_GIB_PER_GPU * per_pod)
    pod_weights = weights_gib * per_pod / gpus
    startup_s = STARTUP_BASE_S + STARTUP_S_PER_WEIGHT_GIB * weights_gib
    return PodShape(
        gpus_per_replica=gpus,
        pods_per_replica=pods,
        gpus_per_pod=per_pod,
        cpu=CPU_BASE + CPU_PER_GPU * per_pod,
        memory_gib=math.ceil(pod_weights) + HOST_RUNTIME_GIB + shm,
        shm_gib=shm,
        weights_gib=round(weights_gib, 2),
        startup_failure_threshold=math.ceil(startup_s / STARTUP_PERIOD_S),
    )


def check_pools(stack: StackSpec, resolved: list[ResolvedDeployment]) -> None:
    """Every pool holds the minimum replicas of the deployments placed on it, or an error with the numbers."""
    needed: dict[str, list[tuple[str, int, int]]] = defaultdict(list)
    for r in resolved:
        d = r.deployment
        needed[d.pool].append((d.name, d.replicas.min, d.tensor_parallel * d.pipeline_parallel))
    for pool_name, rows in needed.items():
        pool = stack.pool(pool_name)
        capacity = pool.max_gpus
        total = sum(replicas * gpus for _, replicas, gpus in rows)
        if total > capacity:
            parts = " + ".join(f"{name} {replicas} x {gpus}" for name, replicas, gpus in rows)
            raise LlmstackError(
                f"minimum replicas need {parts} = {total} GPUs; pool {pool_name} has at most "
                f"{pool.nodes.max} node(s) x {pool.gpus_per_node} GPUs = {capacity}",
                path=f"pools[{pool_name}].nodes.max",
                hint=f"raise nodes.max to {math.ceil(total / pool.gpus_per_node)} or lower replicas.min",
            )
