"""Bad input the Kubernetes target rejects before building anything: names, pool sizes, overrides."""

from __future__ import annotations

import pytest

from llmstack.errors import LlmstackError
from llmstack.spec import scaling
from llmstack.targets.kubernetes import naming, objects, options
from tests.targets.kubernetes.helpers import stack_with


@pytest.mark.parametrize("parts", [("chat", "vllm"), ("A_B", "x"), ("9lives",), ("x" * 80, "vllm")])
def test_dns_name_is_a_stable_dns_1035_label(parts: tuple[str, ...]) -> None:
    name = naming.dns_name(*parts)
    assert naming.DNS_1035.match(name)
    assert len(name) <= naming.MAX_LABEL
    assert naming.dns_name(*parts) == name


def test_long_names_differ_by_their_hash() -> None:
    assert naming.dns_name("a" * 70, "one") != naming.dns_name("a" * 70, "two")


def test_deployment_name_starting_with_digit_rejected_with_the_rule() -> None:
    stack = stack_with()
    deployments = [d.model_dump() for d in stack.deployments]
    deployments[0]["name"] = "8b-chat"
    routers = [{"name": "gateway", "routes": [{"model": "small", "backends": {"8b-chat": 100}}]}]
    with pytest.raises(LlmstackError, match=r"deployments\[8b-chat\]\.name: '8b-chat' is not a DNS-1035 label"
                                            r".*start with a lowercase letter"):
        objects.build(stack_with(deployments=deployments, routers=routers))


def test_instance_label_over_63_characters_rejected_with_lengths() -> None:
    stack = stack_with()
    deployments = [d.model_dump() for d in stack.deployments]
    deployments[0]["name"] = "c" * 40
    routers = [{"name": "gateway", "routes": [{"model": "small", "backends": {"c" * 40: 100}}]}]
    with pytest.raises(LlmstackError, match=r"is 64 characters; label values are at most 63"):
        objects.build(stack_with(name="s" * 23, deployments=deployments, routers=routers))


def test_pool_too_small_for_min_replicas_names_the_numbers() -> None:
    stack = stack_with()
    deployments = [d.model_dump() for d in stack.deployments]
    deployments[1]["replicas"] = {"min": 5, "max": 5}
    with pytest.raises(LlmstackError) as caught:
        objects.build(stack_with(deployments=deployments))
    text = str(caught.value)
    assert "pools[h100].nodes.max" in text
    assert "think 5 x 4 = 20 GPUs" in text
    assert "2 node(s) x 8 GPUs = 16" in text
    assert "raise nodes.max to 3" in text


def test_capacity_model_message_when_variant_does_not_fit() -> None:
    stack = stack_with()
    deployments = [d.model_dump() for d in stack.deployments]
    deployments[1]["tensor_parallel"] = 1
    with pytest.raises(LlmstackError, match=r"deployments\[think\]: variant bf16 \(Llama-3.1-70B\) does not fit"):
        objects.build(stack_with(deployments=deployments))


@pytest.mark.parametrize(("raw", "message"), [
    pytest.param({"ghost": {"replicas": 1}}, r"llmstack:scaling\.ghost: unknown deployment 'ghost'", id="unknown"),
    pytest.param({"chat": {"replicas": 9}}, r"llmstack:scaling\.chat\.replicas: replicas 9 is outside 1\.\.4",
                 id="replicas"),
    pytest.param({"chat": {"variant": "fp4"}}, r"llmstack:scaling\.chat\.variant: 'fp4' is not a variant",
                 id="variant"),
])
def test_conflicting_scaling_overrides_name_the_key(raw: dict[str, object], message: str) -> None:
    with pytest.raises(LlmstackError, match=message):
        scaling.apply_scaling(stack_with(), scaling.parse_scaling(raw))


def test_kubernetes_options_unknown_key_names_the_key() -> None:
    with pytest.raises(LlmstackError, match=r"llmstack:kubernetes\.namespce: unknown field"):
        options.from_config({"namespce": "x"})
    assert options.from_config({"namespace": "ml"}).namespace == "ml"
