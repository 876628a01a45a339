"""Two ``LlmStack`` components in one program under Pulumi's mock runtime: distinct URNs, outputs
read from the registered resources, aliases to the previous names, options passed through.

Design note: the mock monitor keeps resources in a dict keyed by URN and silently overwrites a
duplicate, so the test wraps ``MockMonitor.RegisterResource`` to see every registration
request (URN, parent, aliases, provider, protect). To show that endpoints come from the
Service resources and not from a constant, the mocks answer every Service with a
``metadata.namespace`` the spec never wrote (``from-the-cluster``): the endpoint must show it.
A URN holds the parent's type chain, not its name, so an alias that only names the previous
logical name reproduces the URN a stack deployed before the rename has in its state.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest
from pulumi.runtime import mocks as pulumi_mocks

from llmstack.errors import LlmstackError
from llmstack.spec.loading import load_spec
from llmstack.targets.kubernetes.components import LlmStack, LlmStackArgs
from llmstack.targets.kubernetes.options import KubernetesOptions
from tests.conftest import EXAMPLE_SPEC
from tests.pulumi_recording import recorded_registrations

CLUSTER_NAMESPACE = "from-the-cluster"


class ClusterMocks(pulumi.runtime.Mocks):
    """Outputs are the inputs, except Services, which come back in another namespace."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        state = dict(args.inputs)
        if args.typ == "kubernetes:core/v1:Service":
            state["metadata"] = {**state["metadata"], "namespace": CLUSTER_NAMESPACE}
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        return {}, None


@pytest.fixture
def requests(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    yield recorded_registrations(monkeypatch, ClusterMocks())


def _urn(request: Any) -> str:
    monitor = pulumi_mocks.MockMonitor(ClusterMocks())
    return monitor.make_urn(request.parent, request.type, request.name)


def _two_stacks(opts: pulumi.ResourceOptions | None = None) -> dict[str, LlmStack]:
    spec = load_spec(EXAMPLE_SPEC)
    return {color: LlmStack(color, LlmStackArgs.from_spec(spec, options=KubernetesOptions(namespace=color)), opts)
            for color in ("blue", "green")}


def test_two_stacks_register_distinct_urns(requests: list[Any]) -> None:
    @pulumi.runtime.test
    def run() -> Any:
        stacks = _two_stacks()
        return pulumi.Output.all(*(s.urn for s in stacks.values()))

    run()
    urns = [_urn(r) for r in requests if r.type != "pulumi:pulumi:Stack"]
    assert len(urns) > 40
    duplicates = sorted({u for u in urns if urns.count(u) > 1})
    assert not duplicates, duplicates[:5]
    names = {r.name for r in requests}
    assert {"blue-chat", "green-chat", "blue-chat-vllm", "green-chat-vllm", "blue-gateway-router"} <= names


def test_endpoints_and_replicas_come_from_the_resources(requests: list[Any]) -> None:
    seen: dict[str, Any] = {}

    @pulumi.runtime.test
    def run() -> Any:
        stacks = _two_stacks()
        chat = stacks["green"].deployments["chat"]
        return pulumi.Output.all(stacks["green"].router_endpoints["gateway"], chat.url, chat.replicas).apply(
            lambda values: seen.update(endpoint=values[0], url=values[1], replicas=values[2]))

    run()
    assert seen["endpoint"] == f"http://gateway-router.{CLUSTER_NAMESPACE}.svc.cluster.local:8080"
    assert seen["url"] == f"http://chat-vllm.{CLUSTER_NAMESPACE}.svc:8000"
    assert seen["replicas"] == 2


def test_children_alias_the_names_of_earlier_versions(requests: list[Any]) -> None:
    @pulumi.runtime.test
    def run() -> Any:
        return LlmStack("demo", LlmStackArgs.from_spec(load_spec(EXAMPLE_SPEC))).urn

    run()
    by_name = {(r.type, r.name): r for r in requests}
    expected = {
        ("llmstack:kubernetes:ModelDeployment", "demo-chat"): "chat",
        ("kubernetes:apps/v1:Deployment", "demo-chat-vllm"): "chat-vllm",
        ("kubernetes:core/v1:Service", "demo-gateway-router"): "gateway-router",
        ("llmstack:kubernetes:Router", "demo-gateway"): "gateway",
        ("kubernetes:core/v1:Namespace", "demo-llmstack"): "llmstack",
    }
    for key, previous in expected.items():
        renamed = [a for a in by_name[key].aliases if a.spec.name]  # pulumi-kubernetes adds type-only aliases
        assert [a.spec.name for a in renamed] == [previous], key
        assert not renamed[0].spec.parentUrn and not renamed[0].spec.noParent  # same parent as now
    assert not by_name[("llmstack:kubernetes:Monitoring", "demo-monitoring")].aliases  # its name did not change


def test_provider_protect_and_transformations_reach_every_child(requests: list[Any]) -> None:
    transformed: list[str] = []

    def record(args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
        transformed.append(args.name)
        return None

    @pulumi.runtime.test
    def run() -> Any:
        provider = k8s.Provider("cluster-a", namespace="blue")
        opts = pulumi.ResourceOptions(provider=provider, protect=True, transformations=[record])
        return LlmStack("blue", LlmStackArgs.from_spec(load_spec(EXAMPLE_SPEC)), opts).urn

    run()
    children = [r for r in requests if r.type.startswith("kubernetes:") and r.type != "pulumi:providers:kubernetes"]
    assert children
    for r in children:
        assert r.provider.startswith("urn:pulumi:") and "::cluster-a::" in r.provider, r.name
        assert r.protect, r.name
    assert {r.name for r in children} <= set(transformed)


def test_args_refuse_objects_built_from_another_spec() -> None:
    spec = load_spec(EXAMPLE_SPEC)
    other = spec.model_copy(update={"name": "other"})
    built = LlmStackArgs.from_spec(other).objects
    with pytest.raises(LlmstackError, match="built from stack 'other'"):
        LlmStackArgs(spec, built)
