"""The CrossGuard policy pack's validators, on the objects the Kubernetes target renders.

Design note: the pack's ``__main__.py`` starts Pulumi's analyzer server when run, so the
tests load ``policies/crossguard/llmstack_policies.py`` as a module and call its pure
validators with (type, props) as Pulumi passes them, plus the policy callbacks with a
stand-in args object. The rendered example stack must pass every policy; each mutation
must produce the violation it is about.
"""

from __future__ import annotations

import copy
import importlib.util
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from llmstack.spec.loading import load_spec
from llmstack.targets.kubernetes import objects
from tests.conftest import EXAMPLE_SPEC, ROOT

PACK = ROOT / "policies" / "crossguard" / "llmstack_policies.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("llmstack_policies", PACK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["llmstack_policies"] = module
    spec.loader.exec_module(module)
    return module


policies = _load()


def _type(obj: dict[str, Any]) -> str:
    group = obj["apiVersion"] if "/" in obj["apiVersion"] else f"core/{obj['apiVersion']}"
    return f"kubernetes:{group}:{obj['kind']}"


@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    return objects.build(load_spec(EXAMPLE_SPEC)).all()


def _find(objs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return copy.deepcopy(next(o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name))


def test_rendered_stack_passes_every_policy(rendered: list[dict[str, Any]]) -> None:
    for obj in rendered:
        typ = _type(obj)
        for check in (policies.gpu_violations, policies.image_violations, policies.token_violations,
                      policies.exposure_violations):
            assert check(typ, obj) == [], (obj["kind"], obj["metadata"]["name"])
    assert policies.unscraped_engines((_type(o), o["metadata"]["name"], o) for o in rendered) == []


def test_gpu_count_differing_from_parallelism_is_a_violation(rendered: list[dict[str, Any]]) -> None:
    deployment = _find(rendered, "Deployment", "reasoning-vllm")
    resources = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]
    resources["limits"]["nvidia.com/gpu"] = "2"
    resources["requests"]["nvidia.com/gpu"] = "2"
    found = policies.gpu_violations(_type(deployment), deployment)
    assert found == ["pod requests 2 GPU(s); the capacity model expects 4 (annotation llmstack.io/gpus-per-pod: "
                     "TP x PP per pod)"]
    resources["requests"]["nvidia.com/gpu"] = "4"
    assert any("requests 4 != limits 2" in m for m in policies.gpu_violations(_type(deployment), deployment))


@pytest.mark.parametrize("image", ["vllm/vllm-openai:latest", "vllm/vllm-openai", "localhost:5000/vllm"])
def test_unpinned_images_are_violations(rendered: list[dict[str, Any]], image: str) -> None:
    deployment = _find(rendered, "Deployment", "chat-vllm")
    deployment["spec"]["template"]["spec"]["containers"][0]["image"] = image
    assert len(policies.image_violations(_type(deployment), deployment)) == 1


def test_digest_pinned_image_passes(rendered: list[dict[str, Any]]) -> None:
    deployment = _find(rendered, "Deployment", "chat-vllm")
    deployment["spec"]["template"]["spec"]["containers"][0]["image"] = "vllm/vllm-openai@sha256:" + "a" * 64
    assert policies.image_violations(_type(deployment), deployment) == []


def test_plaintext_hf_token_is_a_violation(rendered: list[dict[str, Any]]) -> None:
    deployment = _find(rendered, "Deployment", "chat-vllm")
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    assert not [e for e in env if e["name"] == "HF_TOKEN"]  # rendered as a file (HF_TOKEN_PATH), never an env var
    env.append({"name": "HF_TOKEN", "value": "hf_plain"})
    assert policies.token_violations(_type(deployment), deployment) == [
        "container vllm: HF_TOKEN has a literal value; use valueFrom.secretKeyRef"]


def test_engine_service_exposed_outside_is_a_violation(rendered: list[dict[str, Any]]) -> None:
    service = _find(rendered, "Service", "chat-vllm")
    service["spec"]["type"] = "LoadBalancer"
    assert len(policies.exposure_violations(_type(service), service)) == 1
    router = _find(rendered, "Service", "gateway-router")
    router["spec"]["type"] = "LoadBalancer"
    assert policies.exposure_violations(_type(router), router) == []


def test_engine_without_monitor_is_unscraped(rendered: list[dict[str, Any]]) -> None:
    kept = [o for o in rendered if not (o["kind"] == "PodMonitor" and o["metadata"]["name"] == "chat-vllm")]
    assert policies.unscraped_engines((_type(o), o["metadata"]["name"], o) for o in kept) == [
        "engine llmstack/chat-vllm is not scraped by any PodMonitor or ServiceMonitor"]


def test_plain_prometheus_counts_as_scraping() -> None:
    stack = load_spec(EXAMPLE_SPEC).model_copy(update={"monitoring": load_spec(EXAMPLE_SPEC).monitoring.model_copy(
        update={"prometheus_operator": False})})
    objs = objects.build(stack).all()
    assert not [o for o in objs if o["kind"] == "PodMonitor"]
    assert policies.unscraped_engines((_type(o), o["metadata"]["name"], o) for o in objs) == []


def test_policy_callbacks_report_through_pulumi_interface(rendered: list[dict[str, Any]]) -> None:
    deployment = _find(rendered, "Deployment", "chat-vllm")
    deployment["spec"]["template"]["spec"]["containers"][0]["image"] = "vllm/vllm-openai:latest"
    reported: list[str] = []
    by_name = {p.name: p for p in policies.POLICIES}
    args = SimpleNamespace(resource_type=_type(deployment), props=deployment)
    by_name["no-latest-images"].validate(args, lambda message, urn=None: reported.append(message))
    assert len(reported) == 1
    stack_args = SimpleNamespace(resources=[SimpleNamespace(resource_type=_type(deployment), name="chat-vllm",
                                                            props=deployment)])
    by_name["engines-scraped"].validate(stack_args, lambda message, urn=None: reported.append(message))
    assert reported[-1].startswith("engine llmstack/chat-vllm is not scraped")


def test_pack_entry_point_registers_the_same_policies() -> None:
    text = (ROOT / "policies" / "crossguard" / "__main__.py").read_text()
    assert "llmstack_policies.POLICIES" in text
    assert (ROOT / "policies" / "crossguard" / "PulumiPolicy.yaml").exists()
    assert Path(PACK).exists()
