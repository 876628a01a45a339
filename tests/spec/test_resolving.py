"""Resolving a deployment: catalog names, inline definitions before the catalog, variant architectures, what-ifs."""

from __future__ import annotations

import pytest

from llmstack.catalog import accelerators, architectures
from llmstack.errors import LlmstackError
from llmstack.spec.models import StackSpec
from llmstack.spec.resolving import resolve
from tests.conftest import make_stack


def test_catalog_names_resolve_to_catalog_entries(example_stack: StackSpec) -> None:
    chat = resolve(example_stack, example_stack.deployment("chat"))
    assert chat.pool.name == "l4" and chat.accelerator == accelerators.get(chat.pool.accelerator_name)
    assert chat.variant.name == "awq" and chat.architecture == architectures.get("Llama-3.1-8B")


def test_a_variant_with_its_own_architecture_uses_it(example_stack: StackSpec) -> None:
    small = resolve(example_stack, example_stack.deployment("chat"), variant="small")
    assert small.architecture.name == "Llama-3.2-3B" and small.variant.kind == "distilled"


def test_what_if_changes_pool_and_tp_without_touching_the_spec(example_stack: StackSpec) -> None:
    chat = example_stack.deployment("chat")
    moved = resolve(example_stack, chat, pool="h100", tensor_parallel=2)
    assert (moved.pool.name, moved.deployment.tensor_parallel) == ("h100", 2)
    assert moved.accelerator.name == example_stack.pool("h100").accelerator_name
    assert (chat.pool, chat.tensor_parallel) == ("l4", 1)


def test_inline_accelerator_and_architecture_come_before_the_catalog() -> None:
    h100 = accelerators.get("H100-SXM-80GB").model_dump()
    llama = architectures.get("Llama-3.1-8B").model_dump()
    stack = make_stack()
    stack = StackSpec.model_validate({
        **stack.model_dump(by_alias=True, exclude_none=True),
        "accelerators": [{**h100, "name": "H100-SXM-80GB", "memory_bandwidth_gb_s": 1.0}],
        "architectures": [{**llama, "name": "Llama-3.1-8B", "num_layers": 2}],
    })
    resolved = resolve(stack, stack.deployments[0])
    assert resolved.accelerator.memory_bandwidth_gb_s == 1.0 and resolved.architecture.num_layers == 2


def test_unknown_names_fail_naming_the_field_and_close_matches() -> None:
    stack = make_stack(pool_spec={"name": "gpu", "accelerator": "H100-SXM-80G", "gpus_per_node": 8,
                                  "cost_per_gpu_hour": 2.5})
    with pytest.raises(LlmstackError) as caught:
        resolve(stack, stack.deployments[0])
    assert "pools[gpu].accelerator" in caught.value.render() and "H100-SXM-80GB" in caught.value.render()
    with pytest.raises(LlmstackError, match="has no variant 'int4'"):
        resolve(make_stack(), make_stack().deployments[0], variant="int4")
