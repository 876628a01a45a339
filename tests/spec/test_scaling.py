"""``llmstack:scaling`` overrides: applied when valid, rejected naming the key when not."""

from __future__ import annotations

import pytest

from llmstack.errors import LlmstackError
from llmstack.spec import scaling
from llmstack.spec.models import StackSpec


def test_override_changes_replicas_and_variant(example_stack: StackSpec) -> None:
    overrides = scaling.parse_scaling('{"chat": {"replicas": 4, "variant": "fp8"}}')
    changed = scaling.apply_scaling(example_stack, overrides)
    assert scaling.current_scaling(changed)["chat"] == {
        "replicas": 4, "variant": "fp8", "pool": "l4", "tensor_parallel": 1,
    }
    assert scaling.current_scaling(changed)["reasoning"] == scaling.current_scaling(example_stack)["reasoning"]


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        ({"nope": {"replicas": 2}}, "llmstack:scaling.nope"),
        ({"chat": {"replicas": 99}}, "llmstack:scaling.chat.replicas"),
        ({"chat": {"variant": "bf16-x"}}, "llmstack:scaling.chat.variant"),
        ({"chat": {"pool": "tpu"}}, "llmstack:scaling.chat.pool"),
        ({"chat": {"colour": "red"}}, "llmstack:scaling.chat.colour"),
        ("{not json", "llmstack:scaling"),
    ],
)
def test_conflicting_override_names_key(example_stack: StackSpec, raw: object, path: str) -> None:
    with pytest.raises(LlmstackError) as info:
        scaling.apply_scaling(example_stack, scaling.parse_scaling(raw))
    assert info.value.path == path


def test_route_weight_override_changes_every_route_listing_the_deployment(example_stack: StackSpec) -> None:
    changed = scaling.apply_scaling(example_stack, scaling.parse_scaling({"chat": {"route_weight": 7}}))
    weights = [route.backends["chat"] for r in changed.routers for route in r.routes if "chat" in route.backends]
    assert weights == [7]


def test_route_weight_leaving_a_route_without_traffic_is_refused(example_stack: StackSpec) -> None:
    with pytest.raises(LlmstackError, match="would get no traffic"):
        scaling.apply_scaling(example_stack, scaling.parse_scaling({"chat": {"route_weight": 0}}))
