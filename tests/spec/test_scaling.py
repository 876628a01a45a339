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
