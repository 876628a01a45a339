"""The multi-language component package: the schema Pulumi infers from llmstack/targets/provider.py,
and the components constructed under the mock runtime as a YAML or TypeScript program would.

Design note: ``ComponentProvider`` is what ``component_provider_host`` (provider/__main__.py)
serves; building it runs the same analyzer ``pulumi package add`` runs, offline. The schema is
compared property by property (names, types, required), so a renamed argument or an output
that loses its annotation fails here before it breaks a user's TypeScript SDK.
"""

from __future__ import annotations

import asyncio
import json
import runpy
from typing import Any

import pulumi
import pytest
from pulumi.provider.experimental.component import ComponentProvider

from llmstack.targets import provider
from tests.conftest import EXAMPLE_SPEC, ROOT
from tests.targets.kubernetes.test_k8s_program import Recorder


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return json.loads(ComponentProvider(provider.COMPONENTS, provider.PACKAGE, version="0.1.0").schema or "{}")


def _types(properties: dict[str, Any]) -> dict[str, str]:
    def kind(p: dict[str, Any]) -> str:
        if p["type"] == "object":
            return f"map[{kind(p['additionalProperties'])}]"
        if p["type"] == "array":
            return f"list[{kind(p['items'])}]"
        return str(p["type"])

    return {name: kind(p) for name, p in properties.items()}


def test_schema_names_the_two_components(schema: dict[str, Any]) -> None:
    assert schema["name"] == "llmstack"
    assert sorted(schema["resources"]) == ["llmstack:index:DockerStack", "llmstack:index:KubernetesStack"]
    assert all(r["isComponent"] for r in schema["resources"].values())


def test_kubernetes_stack_schema_inputs_and_outputs(schema: dict[str, Any]) -> None:
    resource = schema["resources"]["llmstack:index:KubernetesStack"]
    assert _types(resource["inputProperties"]) == {"spec": "string", "namespace": "string", "hfToken": "string",
                                                   "replicas": "map[integer]"}
    assert resource["requiredInputs"] == ["spec"]
    assert _types(resource["properties"]) == {"routerEndpoints": "map[string]", "deploymentUrls": "map[string]",
                                              "gpusInUse": "integer", "costPerHour": "number"}
    assert sorted(resource["required"]) == sorted(resource["properties"])
    assert "Service" in resource["properties"]["routerEndpoints"]["description"]


def test_docker_stack_schema_inputs_and_outputs(schema: dict[str, Any]) -> None:
    resource = schema["resources"]["llmstack:index:DockerStack"]
    assert _types(resource["inputProperties"]) == {"spec": "string", "hfToken": "string", "replicas": "map[integer]"}
    assert _types(resource["properties"]) == {"routerUrls": "map[string]", "prometheusUrl": "string",
                                              "gpuAssignment": "map[list[list[integer]]]"}


def test_kubernetes_stack_constructed_like_a_yaml_program(monkeypatch: pytest.MonkeyPatch) -> None:
    """``spec: {fn::readFile: stack.yaml}`` arrives as text; outputs resolve from the child resources."""
    mocks = Recorder()
    asyncio.set_event_loop(asyncio.new_event_loop())
    pulumi.runtime.set_mocks(mocks, preview=False)
    seen: dict[str, Any] = {}

    @pulumi.runtime.test
    def run() -> Any:
        stack = provider.KubernetesStack("chat", {"spec": EXAMPLE_SPEC.read_text(), "namespace": "team-a",
                                                  "replicas": {"chat": 3}, "hf_token": pulumi.Output.secret("hf_x")})
        return pulumi.Output.all(stack.router_endpoints, stack.gpus_in_use).apply(
            lambda v: seen.update(endpoints=v[0], gpus=v[1]))

    run()
    assert seen["endpoints"] == {"gateway": "http://gateway-router.team-a.svc.cluster.local:8080"}
    assert seen["gpus"] == 3 * 1 + 1 * 4
    chat = mocks.named("kubernetes:apps/v1:Deployment", "chat-vllm")
    assert chat.inputs["spec"]["replicas"] == 3
    assert {r.typ for r in mocks.resources} >= {"llmstack:index:KubernetesStack", "llmstack:kubernetes:LlmStack"}
    string_data = mocks.named("kubernetes:core/v1:Secret", "llmstack-hf-token").inputs["stringData"]
    assert string_data["value"] == {"token": "hf_x"}  # sent as a Pulumi secret (the wrapper's "value")


def test_provider_entry_point_hosts_nothing_when_imported() -> None:
    assert (ROOT / "provider" / "PulumiPlugin.yaml").read_text().count("name: python") == 1
    runpy.run_path(str(ROOT / "provider" / "__main__.py"), run_name="provider_main")  # no host started
