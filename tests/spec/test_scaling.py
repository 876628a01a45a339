"""``llmstack:scaling`` overrides: applied when valid, rejected naming the key when not."""

from __future__ import annotations

import pytest

from llmstack.errors import LlmstackError
from llmstack.spec import scaling
from llmstack.spec.models import StackSpec


def test_override_changes_replicas_and_variant(example_stack: StackSpec) -> None:
    overrides = scaling.parse_scaling('{"chat": {"replicas": 4, "variant": "fp8"}}')
    changed = scaling.apply_scaling(example_stack, overrides)
    assert scaling.settings_of(changed)["chat"] == scaling.Setting(replicas=4, variant="fp8", pool="l4",
                                                                   tensor_parallel=1)
    assert scaling.settings_of(changed)["reasoning"] == scaling.settings_of(example_stack)["reasoning"]


def test_setting_gpus_and_pool_cost(example_stack: StackSpec) -> None:
    chat = example_stack.deployment("chat")
    setting = scaling.settings_of(example_stack)["chat"].with_(replicas=3, tensor_parallel=2)
    pool = example_stack.pool(setting.pool)
    assert setting.gpus(chat) == 3 * 2 * chat.pipeline_parallel
    assert pool.cost_per_hour(setting.gpus(chat)) == pytest.approx(6 * chat.pipeline_parallel * pool.cost_per_gpu_hour)
    assert pool.max_gpus == pool.gpus_per_node * pool.nodes.max


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


def test_override_to_zero_keeps_the_scale_to_zero_fields() -> None:
    from tests.conftest import make_stack

    stack = make_stack(replicas={"min": 0, "max": 4, "idle_window": "10m", "hold_timeout": "3m"})
    changed = scaling.apply_scaling(stack, scaling.parse_scaling('{"chat": {"replicas": 0}}'))
    replicas = changed.deployment("chat").replicas
    assert (replicas.start, replicas.idle_window_s, replicas.hold_timeout) == (0, 600.0, 180.0)
