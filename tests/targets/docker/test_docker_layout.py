"""Docker host layout: one-host rule, device ids, published ports, capacity errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llmstack.errors import LlmstackError
from llmstack.spec.loading import load_spec
from llmstack.spec.models import StackSpec
from llmstack.targets.docker import layout

DOCKER_SPEC = Path(__file__).resolve().parents[3] / "examples" / "docker-stack.yaml"


def docker_stack(**changes: Any) -> StackSpec:
    """The docker example with top-level keys replaced (``pools``, ``routers``, ``docker``...)."""
    import yaml

    data = yaml.safe_load(DOCKER_SPEC.read_text())
    data.update(changes)
    return StackSpec.model_validate(data)


def pool(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"name": "rtx4090", "accelerator": "RTX-4090", "gpus_per_node": 4,
                            "nodes": {"min": 1, "max": 1}, "cost_per_gpu_hour": 0.35}
    base.update(changes)
    return base


def test_plan_example_places_every_replica_on_its_own_gpus() -> None:
    plan = layout.plan(load_spec(DOCKER_SPEC))
    assert [(r.container, r.device_ids) for r in plan.replicas] == [
        ("workstation-chat-0", (0,)), ("workstation-chat-1", (1,)), ("workstation-code-0", (2, 3)),
    ]
    assert plan.engine_targets() == {"chat": ["workstation-chat-0:8000", "workstation-chat-1:8000"],
                                     "code": ["workstation-code-0:8000"]}
    assert plan.assignment() == {"chat": [[0], [1]], "code": [[2, 3]]}


def test_plan_publishes_on_loopback_by_default() -> None:
    plan = layout.plan(load_spec(DOCKER_SPEC))
    assert {(p.owner, p.address, p.port) for p in plan.ports} == {
        ("routers[gateway].port", "127.0.0.1", 8080),
        ("docker.prometheus_port", "127.0.0.1", 9090),
        ("docker.grafana_port", "127.0.0.1", 3000),
    }


def test_plan_publishes_on_the_address_the_spec_names() -> None:
    plan = layout.plan(docker_stack(docker={"publish_address": "0.0.0.0"}))
    assert {p.address for p in plan.ports} == {"0.0.0.0"}


def test_plan_rejects_port_clash_naming_both_owners() -> None:
    with pytest.raises(LlmstackError) as info:
        layout.plan(docker_stack(docker={"prometheus_port": 8080}))
    assert "port 8080 is published by both routers[gateway].port and docker.prometheus_port" in str(info.value)


def test_plan_skips_unpublished_ports() -> None:
    plan = layout.plan(docker_stack(docker={"prometheus_port": None, "grafana_port": None}))
    assert [p.owner for p in plan.ports] == ["routers[gateway].port"]


def test_plan_rejects_pool_spanning_several_nodes() -> None:
    with pytest.raises(LlmstackError) as info:
        layout.plan(docker_stack(pools=[pool(nodes={"min": 1, "max": 2})]))
    assert info.value.path == "pools[rtx4090].nodes.max"
    assert "one host" in info.value.message


def test_plan_rejects_device_ids_the_host_does_not_have() -> None:
    with pytest.raises(LlmstackError) as info:
        layout.plan(docker_stack(pools=[pool(device_ids=[0, 1, 4, 5])]))
    assert info.value.path == "pools[rtx4090].device_ids"
    assert "device ids [4, 5] do not exist" in info.value.message


def test_plan_rejects_device_listed_twice() -> None:
    with pytest.raises(LlmstackError, match="device id 1 is listed twice"):
        layout.plan(docker_stack(pools=[pool(device_ids=[1, 1, 2, 3])]))


def test_plan_uses_only_the_pools_device_ids() -> None:
    plan = layout.plan(docker_stack(pools=[pool(gpus_per_node=8, device_ids=[7, 6, 5, 4])]))
    assert [r.device_ids for r in plan.replicas] == [(7,), (6,), (5, 4)]


def test_plan_reports_too_few_gpus_per_deployment() -> None:
    with pytest.raises(LlmstackError) as info:
        layout.plan(docker_stack(pools=[pool(gpus_per_node=3)]))
    assert "chat: 2 x 1 = 2, code: 1 x 2 = 2" in info.value.message
    assert "has 3: device ids [0, 1, 2]" in info.value.message


def test_plan_reports_capacity_model_message_when_variant_too_big_for_the_gpu() -> None:
    stack = docker_stack(pools=[pool(accelerator="T4")])
    with pytest.raises(LlmstackError) as info:
        code = stack.deployment("code").model_copy(update={"tensor_parallel": 1})
        layout.plan(stack.model_copy(update={"deployments": [code]}))
    assert info.value.path == "deployments[code]"
    assert "does not fit" in info.value.message and "T4" in info.value.message


def test_plan_keeps_previous_assignment_on_scale_out() -> None:
    first = layout.plan(docker_stack(pools=[pool(gpus_per_node=5)]))
    stack = docker_stack(pools=[pool(gpus_per_node=5)])
    chat = stack.deployment("chat")
    bigger = chat.model_copy(update={"replicas": chat.replicas.model_copy(update={"initial": 3})})
    grown = stack.model_copy(update={"deployments": [bigger, stack.deployment("code")]})
    second = layout.plan(grown, previous=first.assignment())
    assert second.assignment() == {"chat": [[0], [1], [4]], "code": [[2, 3]]}
