"""The registry of named autoscalers: baselines with arguments, the oracle, policy:PATH, and clear refusals."""

from __future__ import annotations

import pytest

from llmstack.errors import LlmstackError
from llmstack.experiments.registry import resolve_autoscaler
from llmstack.policy.autoscaler import PolicyAutoscaler
from llmstack.sim.baselines import Hpa, Keda, Saturation, Static
from llmstack.sim.protocol import Autoscaler
from llmstack.spec.models import StackSpec
from tests.conftest import ROOT


@pytest.mark.parametrize(("name", "kind"), [("static:3", Static), ("hpa:0.6", Hpa), ("keda", Keda),
                                            ("saturation", Saturation)])
def test_registry_resolves_baselines(example_stack: StackSpec, name: str, kind: type) -> None:
    scaler = resolve_autoscaler(name, example_stack, "chat")
    assert isinstance(scaler, kind)
    assert isinstance(scaler, Autoscaler)


def test_registry_static_defaults_to_deployment_start(example_stack: StackSpec) -> None:
    scaler = resolve_autoscaler("static", example_stack, "chat")
    assert scaler.desired_replicas(0, {}, 5) == 2


def test_registry_rejects_unknown_and_malformed_names(example_stack: StackSpec) -> None:
    with pytest.raises(LlmstackError, match="unknown autoscaler"):
        resolve_autoscaler("magic", example_stack, "chat")
    with pytest.raises(LlmstackError, match="bad argument"):
        resolve_autoscaler("static:x", example_stack, "chat")
    with pytest.raises(LlmstackError, match="trace"):
        resolve_autoscaler("oracle", example_stack, "chat")


def test_registry_resolves_the_policy_engine(example_stack: StackSpec) -> None:
    path = ROOT / "policies" / "default.yaml"
    scaler = resolve_autoscaler(f"policy:{path}", example_stack, "chat")
    assert isinstance(scaler, PolicyAutoscaler) and isinstance(scaler, Autoscaler)
    assert scaler.name == f"policy:{path}"
    with pytest.raises(LlmstackError, match="needs a path"):
        resolve_autoscaler("policy:", example_stack, "chat")
    with pytest.raises(LlmstackError, match="does not exist"):
        resolve_autoscaler("policy:nope.yaml", example_stack, "chat")
