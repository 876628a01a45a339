"""GPU allocator: exact counts, no overlap, determinism, stability under scaling, clear errors.

Design note: stability is proved against the previous assignment, not a stateless rule.
No rule that places replica k from (deployment, k) and capacity alone can accept every
demand that fits (2 GPUs, three 1-GPU deployments: A0, B0 and C0 would each need a GPU
of their own), so the property tested is: every replica that exists before and after a
change, with the same size and pool, keeps its device ids.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmstack.errors import LlmstackError
from llmstack.targets.docker.allocation import GpuDemand, allocate

NAMES = ["a", "b", "c", "d", "e"]


@st.composite
def hosts(draw: st.DrawFn) -> tuple[dict[str, list[int]], list[GpuDemand]]:
    """One or two pools over a host's device ids, and demands of up to five deployments."""
    n = draw(st.integers(min_value=1, max_value=12))
    ids = draw(st.permutations(list(range(n))))
    split = draw(st.integers(min_value=0, max_value=n - 1))
    devices = {"p": list(ids[: n - split]), **({"q": list(ids[n - split:])} if split else {})}
    count = draw(st.integers(min_value=0, max_value=5))
    demands = [
        GpuDemand(name, draw(st.sampled_from(sorted(devices))), draw(st.integers(0, 4)),
                  draw(st.sampled_from([1, 1, 2, 4])))
        for name in NAMES[:count]
    ]
    return devices, demands


def fits(devices: dict[str, list[int]], demands: list[GpuDemand]) -> bool:
    return all(sum(d.total for d in demands if d.pool == pool) <= len(ids) for pool, ids in devices.items())


def check_valid(devices: dict[str, list[int]], demands: list[GpuDemand],
                result: dict[str, tuple[tuple[int, ...], ...]]) -> None:
    seen: set[int] = set()
    for d in demands:
        assert len(result[d.deployment]) == d.replicas
        for ids in result[d.deployment]:
            assert len(ids) == d.gpus_per_replica
            assert set(ids) <= set(devices[d.pool])
            assert not seen & set(ids)
            seen.update(ids)


@settings(max_examples=300, deadline=None)
@given(hosts())
def test_allocate_places_without_overlap_when_demand_fits(host: tuple[dict[str, list[int]], list[GpuDemand]]) -> None:
    devices, demands = host
    if fits(devices, demands):
        result = allocate(demands, devices)
        check_valid(devices, demands, result)
        assert allocate(demands, devices) == result
    else:
        with pytest.raises(LlmstackError) as info:
            allocate(demands, devices)
        over = [p for p, ids in devices.items() if sum(d.total for d in demands if d.pool == p) > len(ids)]
        assert f"pool {over[0]} needs" in info.value.message
        for d in demands:
            if d.pool == over[0]:
                assert f"{d.deployment}: {d.replicas} x {d.gpus_per_replica}" in info.value.message


@settings(max_examples=300, deadline=None)
@given(hosts(), st.data())
def test_allocate_keeps_existing_replicas_when_replica_counts_change(
    host: tuple[dict[str, list[int]], list[GpuDemand]], data: st.DataObject
) -> None:
    devices, demands = host
    if not fits(devices, demands):
        return
    before = allocate(demands, devices)
    changed = [GpuDemand(d.deployment, d.pool, data.draw(st.integers(0, 5)), d.gpus_per_replica) for d in demands]
    if not fits(devices, changed):
        with pytest.raises(LlmstackError):
            allocate(changed, devices, previous=before)
        return
    after = allocate(changed, devices, previous=before)
    check_valid(devices, changed, after)
    for d in changed:
        common = min(len(before[d.deployment]), d.replicas)
        assert after[d.deployment][:common] == before[d.deployment][:common]


def test_allocate_keeps_other_deployment_when_one_scales_out() -> None:
    devices = {"p": [0, 1, 2, 3]}
    first = allocate([GpuDemand("a", "p", 1, 1), GpuDemand("b", "p", 2, 1)], devices)
    assert first == {"a": ((0,),), "b": ((1,), (2,))}
    second = allocate([GpuDemand("a", "p", 2, 1), GpuDemand("b", "p", 2, 1)], devices, previous=first)
    assert second == {"a": ((0,), (3,)), "b": ((1,), (2,))}


def test_allocate_without_previous_moves_replicas_which_is_why_previous_exists() -> None:
    devices = {"p": [0, 1, 2, 3]}
    fresh = allocate([GpuDemand("a", "p", 2, 1), GpuDemand("b", "p", 2, 1)], devices)
    assert fresh["b"] == ((2,), (3,))


def test_allocate_prefers_aligned_contiguous_blocks_for_tensor_parallel() -> None:
    result = allocate([GpuDemand("a", "p", 1, 1), GpuDemand("b", "p", 1, 2)], {"p": [0, 1, 2, 3]})
    assert result == {"a": ((0,),), "b": ((2, 3),)}


def test_allocate_replaces_previous_devices_outside_the_pool() -> None:
    result = allocate([GpuDemand("a", "p", 2, 1)], {"p": [0, 1]}, previous={"a": [[7], [1]]})
    assert result == {"a": ((0,), (1,))}


def test_allocate_replaces_previous_when_tensor_parallel_changes() -> None:
    result = allocate([GpuDemand("a", "p", 1, 2)], {"p": [0, 1, 2, 3]}, previous={"a": [[3]]})
    assert result == {"a": ((0, 1),)}


def test_allocate_error_lists_demand_and_devices_when_too_few_gpus() -> None:
    with pytest.raises(LlmstackError) as info:
        allocate([GpuDemand("chat", "p", 3, 1), GpuDemand("code", "p", 1, 2)], {"p": [0, 1, 2, 3]})
    assert info.value.message == (
        "pool p needs 5 GPUs (chat: 3 x 1 = 3, code: 1 x 2 = 2) and has 4: device ids [0, 1, 2, 3]"
    )
    assert info.value.path == "pools[p]"


def test_allocate_rejects_device_listed_in_two_pools() -> None:
    with pytest.raises(LlmstackError, match="device id 1 is listed also in pool 'p'"):
        allocate([], {"p": [0, 1], "q": [1, 2]})


def test_allocate_rejects_negative_device_id() -> None:
    with pytest.raises(LlmstackError, match="device id -1 is negative"):
        allocate([], {"p": [-1]})


def test_allocate_rejects_unknown_pool() -> None:
    with pytest.raises(LlmstackError, match="unknown pool 'x'"):
        allocate([GpuDemand("a", "x", 1, 1)], {"p": [0]})


def test_allocate_keeps_other_deployments_when_one_changes_tensor_parallel() -> None:
    devices = {"p": list(range(8))}
    first = allocate([GpuDemand("a", "p", 2, 1), GpuDemand("b", "p", 1, 2)], devices)
    second = allocate([GpuDemand("a", "p", 2, 2), GpuDemand("b", "p", 1, 2)], devices, previous=first)
    assert second["b"] == first["b"]
    assert not {i for ids in second["a"] for i in ids} & set(second["b"][0])
