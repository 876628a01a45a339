"""GPU allocator for one Docker host: which device ids each vLLM replica container gets.

Pure. Each replica of each deployment gets exactly ``tensor_parallel x pipeline_parallel``
device ids of its pool, no id is used twice, and the result depends only on the inputs.

Stability needs memory. No rule that places replica ``k`` of deployment ``d`` from ``(d, k)``
and the host alone can both keep every container in place and accept every demand that fits
(two GPUs, three one-GPU deployments: replicas 0 of A, B and C would each need a GPU of their
own across the states {A:1,B:1}, {A:1,C:1} and {B:1,C:1}). So :func:`allocate` takes the
previous assignment: every replica that still exists keeps its devices when they are still
in its pool and of the right count, and only new (or resized) replicas take free devices.
The Pulumi program keeps the previous assignment in a state file (:mod:`.state`).

Because a replica may take any free devices (a contiguous run when one is free), a demand
fits exactly when each pool's total demand is at most its device count; fragmentation
never rejects a demand that fits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from llmstack.errors import LlmstackError

DeviceIds = tuple[int, ...]
Assignment = dict[str, tuple[DeviceIds, ...]]
"""deployment -> the device ids of replica 0, 1, ..."""


@dataclass(frozen=True)
class GpuDemand:
    """What one deployment asks of its pool."""

    deployment: str
    pool: str
    replicas: int
    gpus_per_replica: int

    @property
    def total(self) -> int:
        return self.replicas * self.gpus_per_replica


def allocate(
    demands: Sequence[GpuDemand],
    devices: Mapping[str, Sequence[int]],
    previous: Mapping[str, Sequence[Sequence[int]]] | None = None,
) -> Assignment:
    """Device ids for every replica of every demand, keeping ``previous`` placements that still fit.

    ``devices`` maps each pool to its device ids (in preference order). Raises
    :class:`LlmstackError` when a pool has too few devices (listing the demand per
    deployment and the devices available), when a demand names an unknown pool, or
    when the device lists are not distinct non-negative ids.
    """
    _check_devices(devices)
    _check_demands(demands, devices)
    previous = previous or {}
    used: dict[str, set[int]] = {pool: set() for pool in devices}
    placed: dict[str, list[DeviceIds | None]] = {d.deployment: [None] * d.replicas for d in demands}
    # pass 1: keep what is still valid, so a new replica never takes a kept one's devices
    for d in demands:
        pool_ids = set(devices[d.pool])
        for k, ids in enumerate(list(previous.get(d.deployment, ()))[: d.replicas]):
            kept = tuple(ids)
            if (len(kept) == d.gpus_per_replica and len(set(kept)) == len(kept) and set(kept) <= pool_ids
                    and not used[d.pool] & set(kept)):
                placed[d.deployment][k] = kept
                used[d.pool].update(kept)
    # pass 2: new replicas take free devices, in declaration order
    for d in demands:
        for k in range(d.replicas):
            if placed[d.deployment][k] is None:
                ids = _take(devices[d.pool], used[d.pool], d.gpus_per_replica)
                placed[d.deployment][k] = ids
                used[d.pool].update(ids)
    return {name: tuple(ids for ids in replicas if ids is not None) for name, replicas in placed.items()}


def _take(order: Sequence[int], used: set[int], count: int) -> DeviceIds:
    """``count`` free ids: an aligned free block, else a contiguous free run, else the lowest free ones."""
    free_flags = [i not in used for i in order]
    for start in range(0, len(order) - count + 1, count):
        if all(free_flags[start:start + count]):
            return tuple(order[start:start + count])
    for start in range(len(order) - count + 1):
        if all(free_flags[start:start + count]):
            return tuple(order[start:start + count])
    return tuple([i for i in order if i not in used][:count])


def _check_devices(devices: Mapping[str, Sequence[int]]) -> None:
    owner: dict[int, str] = {}
    for pool, ids in devices.items():
        for i in ids:
            if i < 0:
                raise LlmstackError(f"device id {i} is negative", path=f"pools[{pool}].device_ids")
            if i in owner:
                where = "twice" if owner[i] == pool else f"also in pool {owner[i]!r}"
                raise LlmstackError(f"device id {i} is listed {where}", path=f"pools[{pool}].device_ids",
                                    hint="each GPU of the host belongs to one pool, once")
            owner[i] = pool


def _check_demands(demands: Sequence[GpuDemand], devices: Mapping[str, Sequence[int]]) -> None:
    seen: set[str] = set()
    for d in demands:
        if d.deployment in seen:
            raise LlmstackError(f"deployment {d.deployment!r} is listed twice", path="deployments")
        seen.add(d.deployment)
        if d.pool not in devices:
            raise LlmstackError(f"unknown pool {d.pool!r}", path=f"deployments[{d.deployment}].pool",
                                hint=f"pools on this host are {sorted(devices)}")
        if d.replicas < 0 or d.gpus_per_replica < 1:
            raise LlmstackError(f"{d.replicas} replicas x {d.gpus_per_replica} GPUs is not a demand",
                                path=f"deployments[{d.deployment}]")
    for pool, ids in devices.items():
        mine = [d for d in demands if d.pool == pool]
        total = sum(d.total for d in mine)
        if total > len(ids):
            listing = ", ".join(f"{d.deployment}: {d.replicas} x {d.gpus_per_replica} = {d.total}" for d in mine)
            raise LlmstackError(
                f"pool {pool} needs {total} GPUs ({listing}) and has {len(ids)}: device ids {sorted(ids)}",
                path=f"pools[{pool}]",
                hint="lower replicas (llmstack:scaling or replicas.initial), tensor_parallel, or add GPUs",
            )
