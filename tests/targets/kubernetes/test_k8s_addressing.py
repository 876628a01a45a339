"""One addressing for the artifacts bundle and the Kubernetes target.

Design note: ``render --target artifacts`` once pointed HAProxy at ``chat.<stack>.svc``
while the target created ``chat-vllm-pods`` in namespace ``llmstack``; both now take their
names from :mod:`llmstack.artifacts.addressing`, and the router ConfigMap must carry the
bundle's haproxy.cfg byte for byte.
"""

from __future__ import annotations

import pytest
import yaml

from llmstack.artifacts import addressing, bundle
from llmstack.spec.loading import load_spec
from llmstack.targets.kubernetes import objects, rendering
from llmstack.targets.kubernetes.options import KubernetesOptions
from tests.conftest import EXAMPLE_SPEC
from tests.targets.kubernetes.helpers import find, stack_with


def test_bundle_haproxy_cfg_equals_router_config_map() -> None:
    stack = load_spec(EXAMPLE_SPEC)
    bundle_cfg = bundle.render_artifacts(stack)["haproxy.cfg"]
    config_map = yaml.safe_load(rendering.render(stack)["routers/gateway/configmap-gateway-router.yaml"])
    assert config_map["data"]["haproxy.cfg"] == bundle_cfg
    assert "chat-vllm-pods.llmstack.svc.cluster.local:8000" in bundle_cfg


@pytest.mark.parametrize("namespace", ["llmstack", "serving"])
def test_bundle_and_target_agree_in_any_namespace(namespace: str) -> None:
    stack = stack_with()
    built = objects.build(stack, KubernetesOptions(namespace=namespace))
    config_map = find(built.routers["gateway"], "ConfigMap")
    assert config_map["data"]["haproxy.cfg"] == bundle.render_artifacts(stack, namespace=namespace)["haproxy.cfg"]


def test_router_backends_name_the_headless_services_the_target_creates() -> None:
    stack = stack_with()
    built = objects.build(stack)
    cfg = find(built.routers["gateway"], "ConfigMap")["data"]["haproxy.cfg"]
    for name in ("chat", "think"):
        headless = [o for o in built.deployments[name]
                    if o["kind"] == "Service" and o["spec"].get("clusterIP") == "None"]
        assert [o["metadata"]["name"] for o in headless] == [addressing.headless(name)]
        assert f"{addressing.Cluster().host(addressing.headless(name))}:{addressing.ENGINE_PORT}" in cfg


def test_deployment_labels_resolved_once_reach_every_object() -> None:
    kd = objects.resolve(stack_with(), KubernetesOptions())["chat"]
    built = objects.build(stack_with())
    for obj in built.deployments["chat"]:
        assert obj["metadata"]["labels"] == kd.labels, obj["kind"]
    workload = find(built.deployments["chat"], "Deployment")
    assert workload["spec"]["selector"]["matchLabels"] == kd.address.serving_selector
    assert workload["spec"]["template"]["spec"]["containers"][0]["args"] == list(kd.serve_args)
