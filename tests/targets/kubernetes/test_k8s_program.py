"""The Pulumi program under ``pulumi.runtime.set_mocks``: what it registers, and what it refuses.

Design note: each test runs the program once (importing pulumi_kubernetes and a mock run
cost about a second), with its own Mocks recording every registered resource. Config is
set with ``pulumi.runtime.set_all_config`` exactly as the engine would pass it (objects
as JSON text, ``llmstack:hfToken`` among the secret keys).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pulumi
import pytest

from llmstack.errors import LlmstackError
from llmstack.targets import stack_config
from llmstack.targets.kubernetes import program
from tests.conftest import EXAMPLE_SPEC, ROOT

TOKEN = "hf_test_token_value_0123456789"


class Recorder(pulumi.runtime.Mocks):
    """Records every resource; its outputs are its inputs."""

    def __init__(self) -> None:
        self.resources: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        self.resources.append(args)
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        return {}, None

    def of_type(self, typ: str) -> list[pulumi.runtime.MockResourceArgs]:
        return [r for r in self.resources if r.typ == typ]

    def named(self, typ: str, name: str) -> pulumi.runtime.MockResourceArgs:
        """The one resource of ``typ`` whose Kubernetes ``metadata.name`` (else Pulumi name) is ``name``."""
        found = [r for r in self.of_type(typ) if _object_name(r) == name]
        assert len(found) == 1, [r.name for r in self.of_type(typ)]
        return found[0]


def _object_name(r: pulumi.runtime.MockResourceArgs) -> str:
    metadata = r.inputs.get("metadata")
    return str(metadata["name"]) if isinstance(metadata, dict) and "name" in metadata else r.name


def run_program(spec: Path = EXAMPLE_SPEC, scaling: dict[str, Any] | None = None,
                mocks: Recorder | None = None) -> tuple[Recorder, dict[str, Any]]:
    """Run ``program.build`` under mocks; the recorder and facts read from the outputs."""
    mocks = mocks or Recorder()
    # an earlier asyncio.run() elsewhere in the suite leaves the main thread without a loop; Pulumi needs one
    asyncio.set_event_loop(asyncio.new_event_loop())
    pulumi.runtime.set_mocks(mocks, preview=False)
    config = {"llmstack:spec": str(spec), "llmstack:target": "kubernetes", "llmstack:hfToken": TOKEN}
    if scaling is not None:
        config["llmstack:scaling"] = json.dumps(scaling)
    pulumi.runtime.set_all_config(config, secret_keys=["llmstack:hfToken"])
    facts: dict[str, Any] = {}

    @pulumi.runtime.test
    def run() -> Any:
        cfg = pulumi.Config("llmstack")
        settings = stack_config.from_values(cfg.get("spec"), cfg.get("target"), cfg.get_object("scaling"), ROOT)
        llm = program.build(settings, cfg)
        facts["stack"] = llm
        assert llm.hf_token_secret is not None
        token = llm.hf_token_secret.string_data

        async def secret() -> None:
            facts["token_is_secret"] = await token.is_secret()

        return pulumi.Output.from_input(secret())

    run()
    return mocks, facts


@pytest.fixture(scope="module")
def example_run() -> tuple[Recorder, dict[str, Any]]:
    return run_program()


def test_program_registers_components_and_resources(example_run: tuple[Recorder, dict[str, Any]]) -> None:
    mocks, _ = example_run
    types = {r.typ for r in mocks.resources}
    for component in ("LlmStack", "ModelDeployment", "Router", "Monitoring"):
        assert f"llmstack:kubernetes:{component}" in types
    assert {r.name for r in mocks.of_type("llmstack:kubernetes:ModelDeployment")} == {"demo-chat", "demo-reasoning"}
    assert {_object_name(r) for r in mocks.of_type("kubernetes:apps/v1:Deployment")} >= {"chat-vllm", "reasoning-vllm",
                                                                               "gateway-router"}
    assert mocks.named("kubernetes:core/v1:Service", "gateway-router").inputs["spec"]["type"] == "ClusterIP"
    assert mocks.of_type("kubernetes:core/v1:Namespace")
    assert mocks.of_type("kubernetes:monitoring.coreos.com/v1:PrometheusRule")
    assert len(mocks.of_type("kubernetes:monitoring.coreos.com/v1:PodMonitor")) >= 2
    assert mocks.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")


def test_program_gpu_limits_are_tp_times_pp_with_pool_scheduling(
        example_run: tuple[Recorder, dict[str, Any]]) -> None:
    mocks, _ = example_run
    for name, gpus, selector in (("chat-vllm", "1", "g6.xlarge"), ("reasoning-vllm", "4", "p5.48xlarge")):
        pod = mocks.named("kubernetes:apps/v1:Deployment", name).inputs["spec"]["template"]["spec"]
        resources = pod["containers"][0]["resources"]
        assert resources["limits"]["nvidia.com/gpu"] == gpus
        assert resources["requests"]["nvidia.com/gpu"] == gpus
        assert pod["nodeSelector"] == {"node.kubernetes.io/instance-type": selector}
        assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]


def test_program_hf_token_is_secret_and_nowhere_in_plain_inputs(
        example_run: tuple[Recorder, dict[str, Any]]) -> None:
    mocks, facts = example_run
    assert facts["token_is_secret"] is True
    holders = [r for r in mocks.resources if TOKEN in json.dumps(r.inputs, default=str)]
    assert [(r.typ, _object_name(r)) for r in holders] == [("kubernetes:core/v1:Secret", "llmstack-hf-token")]


def test_program_summary_outputs(example_run: tuple[Recorder, dict[str, Any]]) -> None:
    _, facts = example_run
    llm = facts["stack"]
    assert llm.replicas == {"chat": 2, "reasoning": 1}
    assert llm.gpus_in_use == 2 * 1 + 1 * 4
    assert llm.cost_per_hour == pytest.approx(2 * 0.45 + 4 * 2.50)


def test_program_scaling_override_changes_replicas_and_variant() -> None:
    mocks, facts = run_program(scaling={"chat": {"replicas": 3, "variant": "fp8"}})
    chat = mocks.named("kubernetes:apps/v1:Deployment", "chat-vllm").inputs
    assert chat["spec"]["replicas"] == 3
    assert chat["spec"]["template"]["metadata"]["labels"]["llmstack.io/variant"] == "fp8"
    args = chat["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[0] == "neuralmagic/Meta-Llama-3.1-8B-Instruct-FP8"
    assert facts["stack"].replicas["chat"] == 3


def test_program_refuses_variant_that_does_not_fit_before_registering(tmp_path: Path) -> None:
    spec = tmp_path / "stack.yaml"
    text = EXAMPLE_SPEC.read_text().replace("tensor_parallel: 4", "tensor_parallel: 1")
    spec.write_text(text)
    mocks = Recorder()
    with pytest.raises(LlmstackError, match=r"deployments\[reasoning\].*does not fit") as caught:
        run_program(spec, mocks=mocks)
    assert "GiB" in str(caught.value)
    assert mocks.resources == []


def test_program_rejects_conflicting_scaling_override_naming_the_key() -> None:
    with pytest.raises(LlmstackError, match=r"llmstack:scaling\.chat\.replicas: replicas 99 is outside 1\.\.8"):
        run_program(scaling={"chat": {"replicas": 99}})
