"""``inference-gateway`` routers: InferencePool per deployment, endpoint picker, HTTPRoute (and Gateway).

Design note: every object is validated against the shipped CRDs (InferencePool from the
Inference Extension v1.6.0, HTTPRoute and Gateway from Gateway API v1.6.1, made strict) and
built-in kinds with kubernetes-validate strict, through ``render --target kubernetes``, so
what is checked is what the files hold. A canary is two deployments of one model in one
route; their InferencePools share the HTTPRoute rule with the route's weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from llmstack.artifacts import addressing, gateway, images
from llmstack.spec.models import StackSpec
from llmstack.spec.scaling import apply_scaling, parse_scaling
from llmstack.targets.kubernetes import objects, rendering
from tests.targets.kubernetes.helpers import find, stack_with
from tests.targets.kubernetes.test_k8s_cli import run_cli
from tests.targets.kubernetes.validation import validate


def gateway_stack(**router: Any) -> StackSpec:
    base = stack_with()
    deployments = [d.model_dump() for d in base.deployments]
    deployments.append({"name": "chat-canary", "model": "small", "variant": "bf16", "pool": "h100",
                        "replicas": {"min": 1, "max": 2}, "engine": {"max_model_len": 4096}})
    spec = {"name": "gateway", "implementation": "inference-gateway",
            "routes": [{"model": "small", "backends": {"chat": 90, "chat-canary": 10}},
                       {"model": "big", "backends": {"think": 100}}], **router}
    return stack_with(deployments=deployments, routers=[spec])


def _docs(files: dict[str, str]) -> list[dict[str, Any]]:
    return [yaml.safe_load(t) for p, t in sorted(files.items()) if p.endswith(".yaml") and p != "kustomization.yaml"]


@pytest.fixture(scope="module")
def docs() -> list[dict[str, Any]]:
    return _docs(rendering.render(gateway_stack(gateway={"name": "inference", "class_name": "istio"})))


def test_every_gateway_object_validates_against_the_crds(docs: list[dict[str, Any]]) -> None:
    kinds = {d["kind"] for d in docs}
    assert {"InferencePool", "HTTPRoute", "Gateway", "Role", "RoleBinding", "ServiceAccount"} <= kinds
    for doc in docs:
        validate(doc)


def test_inference_pool_selects_serving_pods_and_names_its_picker(docs: list[dict[str, Any]]) -> None:
    built = objects.build(gateway_stack())
    kd = objects.resolve(gateway_stack(), built.options)["chat"]
    pool = find(built.deployments["chat"], "InferencePool")
    assert pool["metadata"]["name"] == addressing.pool("chat")
    assert pool["spec"]["selector"]["matchLabels"] == kd.address.serving_selector
    assert pool["spec"]["targetPorts"] == [{"number": addressing.ENGINE_PORT}]
    picker = pool["spec"]["endpointPickerRef"]
    service = find(built.deployments["chat"], "Service", addressing.picker("chat"))
    assert picker["name"] == service["metadata"]["name"]
    assert picker["port"]["number"] in [p["port"] for p in service["spec"]["ports"]]
    workload = find(built.deployments["chat"], "Deployment", addressing.engine("chat"))
    pod_labels = workload["spec"]["template"]["metadata"]["labels"]
    assert pool["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


def test_http_route_weights_canary_between_pools_on_the_named_gateway(docs: list[dict[str, Any]]) -> None:
    route = next(d for d in docs if d["kind"] == "HTTPRoute")
    assert route["spec"]["parentRefs"] == [{"group": "gateway.networking.k8s.io", "kind": "Gateway",
                                            "name": "inference", "namespace": "llmstack"}]
    small = route["spec"]["rules"][0]
    assert small["matches"][0]["headers"][0] == {"type": "Exact", "name": gateway.MODEL_HEADER, "value": "small"}
    assert [(b["kind"], b["name"], b["weight"]) for b in small["backendRefs"]] == [
        ("InferencePool", "chat-pool", 90), ("InferencePool", "chat-canary-pool", 10)]
    created = next(d for d in docs if d["kind"] == "Gateway")
    assert created["spec"]["gatewayClassName"] == "istio"


def test_gateway_not_created_without_a_class_and_single_route_matches_everything() -> None:
    stack = gateway_stack(routes=[{"model": "small", "backends": {"chat": 1}}])
    built = objects.build(stack)
    kinds = [o["kind"] for o in built.routers["gateway"]]
    assert kinds == ["HTTPRoute"]
    assert "matches" not in built.routers["gateway"][0]["spec"]["rules"][0]
    assert not [o for o in built.deployments["think"] if o["kind"] == "InferencePool"]


def test_picker_rbac_is_namespaced_read_only_on_pods_and_pools() -> None:
    objs = objects.build(gateway_stack()).deployments["chat"]
    role = find(objs, "Role", addressing.picker("chat"))
    assert {v for rule in role["rules"] for v in rule["verbs"]} == {"get", "list", "watch"}
    assert {r for rule in role["rules"] for r in rule["resources"]} == {"pods", "inferencepools",
                                                                       "inferenceobjectives"}
    assert not [o for o in objs if o["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    picker = find(objs, "Deployment", addressing.picker("chat"))
    pod = picker["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == role["metadata"]["name"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    container = pod["containers"][0]
    assert container["readinessProbe"]["grpc"]["port"] == gateway.PICKER_HEALTH_PORT
    assert container["image"] == images.ENDPOINT_PICKER_IMAGE
    config = yaml.safe_load(find(objs, "ConfigMap", addressing.picker("chat"))["data"][gateway.PICKER_CONFIG_FILE])
    assert config["kind"] == "EndpointPickerConfig"
    assert {p["pluginRef"] for p in config["schedulingProfiles"][0]["plugins"]} == set(gateway.SCORER_WEIGHTS)


def test_engines_behind_a_pool_admit_the_gateway_and_their_picker() -> None:
    objs = objects.build(gateway_stack(gateway={"namespace": "gateways"})).deployments["chat"]
    policy = find(objs, "NetworkPolicy", addressing.engine("chat"))
    peers = [peer for rule in policy["spec"]["ingress"] for peer in rule.get("from", [])]
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "gateways"}}} in peers
    assert any(p.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/component")
               == gateway.PICKER_COMPONENT for p in peers)


def test_route_weight_from_scaling_moves_the_canary() -> None:
    stack = apply_scaling(gateway_stack(), parse_scaling({"chat-canary": {"route_weight": 50}}))
    route = find(objects.build(stack).routers["gateway"], "HTTPRoute")
    assert [b["weight"] for b in route["spec"]["rules"][0]["backendRefs"]] == [90, 50]


def test_render_cli_writes_gateway_objects(tmp_path: Path) -> None:
    spec = tmp_path / "stack.yaml"
    spec.write_text(yaml.safe_dump(gateway_stack().model_dump(mode="json", exclude_none=True)))
    result = run_cli("render", "--spec", str(spec), "--target", "kubernetes", "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "routers" / "gateway" / "httproute-gateway-router.yaml").exists()
    assert (tmp_path / "out" / "deployments" / "chat" / "inferencepool-chat-pool.yaml").exists()
