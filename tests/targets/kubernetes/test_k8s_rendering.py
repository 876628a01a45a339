"""``render --target kubernetes`` for examples/stack.yaml: valid and complete (determinism: test_determinism.py).

Design note: built-in kinds are validated strictly (unknown fields are errors) with
kubernetes-validate for a pinned Kubernetes version. CRD kinds (LeaderWorkerSet,
PodMonitor, PrometheusRule) are validated with jsonschema against the openAPIV3Schema of
the upstream CRDs copied into tests/data/crds/; the schemas are made strict the same way
(``additionalProperties: false`` on every object that lists its properties and does not
preserve unknown fields), since the API server would otherwise prune a misspelt field silently.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from llmstack.spec.models import StackSpec
from llmstack.targets.kubernetes import rendering
from tests.targets.kubernetes.helpers import stack_with

KUBERNETES_VERSION = "1.31.0"
CRD_DIR = Path(__file__).resolve().parents[2] / "data" / "crds"
CRDS = {
    ("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet"): "leaderworkerset.x-k8s.io_leaderworkersets.yaml",
    ("monitoring.coreos.com/v1", "PodMonitor"): "monitoring.coreos.com_podmonitors.yaml",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "monitoring.coreos.com_servicemonitors.yaml",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "monitoring.coreos.com_prometheusrules.yaml",
}


def _strict(schema: Any) -> Any:
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        pattern = out.get("pattern")
        if isinstance(pattern, str) and pattern.startswith("^(?i)"):  # Go allows inline flags mid-pattern
            out["pattern"] = "(?i)^" + pattern[len("^(?i)"):]
        if ("properties" in out and "additionalProperties" not in out
                and not out.get("x-kubernetes-preserve-unknown-fields")):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


@cache
def crd_schema(api_version: str, kind: str) -> dict[str, Any]:
    crd = yaml.load((CRD_DIR / CRDS[(api_version, kind)]).read_text(), Loader=yaml.CSafeLoader)
    version = api_version.split("/")[1]
    entry = next(v for v in crd["spec"]["versions"] if v["name"] == version)
    schema = _strict(entry["schema"]["openAPIV3Schema"])
    schema["properties"]["metadata"] = {"type": "object"}
    return dict(schema)


def validate(obj: dict[str, Any]) -> None:
    key = (obj["apiVersion"], obj["kind"])
    if key in CRDS:
        jsonschema.Draft202012Validator(crd_schema(*key)).validate(obj)
    else:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def _documents(files: dict[str, str]) -> list[dict[str, Any]]:
    return [yaml.safe_load(text) for path, text in sorted(files.items()) if path != "kustomization.yaml"]


@pytest.fixture(scope="module")
def example_files() -> dict[str, str]:
    from llmstack.spec.loading import load_spec
    from tests.conftest import EXAMPLE_SPEC

    return rendering.render(load_spec(EXAMPLE_SPEC))


def test_every_rendered_object_validates(example_files: dict[str, str]) -> None:
    docs = _documents(example_files)
    assert len(docs) >= 15
    for doc in docs:
        validate(doc)


def test_rendered_objects_cover_every_component(example_files: dict[str, str]) -> None:
    kinds = {(doc["kind"], doc["metadata"]["name"]) for doc in _documents(example_files)}
    for expected in [("Namespace", "llmstack"), ("Deployment", "chat-vllm"), ("Deployment", "reasoning-vllm"),
                     ("Service", "chat-vllm-pods"), ("PodDisruptionBudget", "chat-vllm"),
                     ("NetworkPolicy", "reasoning-vllm"), ("ConfigMap", "gateway-router"),
                     ("Deployment", "gateway-router"), ("Service", "gateway-router"),
                     ("PodMonitor", "chat-vllm"), ("DaemonSet", "dcgm-exporter-h100")]:
        assert expected in kinds
    assert any(kind == "PrometheusRule" for kind, _ in kinds)


def test_kustomization_lists_every_file(example_files: dict[str, str]) -> None:
    kustomization = yaml.safe_load(example_files["kustomization.yaml"])
    assert sorted(kustomization["resources"]) == sorted(p for p in example_files if p != "kustomization.yaml")


def test_rendered_files_hold_no_secret_and_no_latest_tag(example_files: dict[str, str]) -> None:
    for path, text in example_files.items():
        assert "kind: Secret" not in text, path
        assert ":latest" not in text, path


def test_router_config_in_config_map_has_a_literal_block(example_files: dict[str, str]) -> None:
    text = example_files["routers/gateway/configmap-gateway-router.yaml"]
    assert "haproxy.cfg: |" in text
    assert "server-template chat-" in text


@pytest.mark.parametrize("variant", [
    pytest.param({"tensor_parallel": 8, "pipeline_parallel": 2}, id="leader-worker-set"),
])
def test_multi_node_and_plain_prometheus_objects_validate(variant: dict[str, Any]) -> None:
    base = stack_with()
    deployments = [d.model_dump() for d in base.deployments]
    deployments[1].update(variant)
    stack = stack_with(deployments=deployments, monitoring={"prometheus_operator": False},
                       batch_jobs=[{"name": "nightly", "deployment": "chat"}])
    files = rendering.render(stack)
    docs = _documents(files)
    kinds = {doc["kind"] for doc in docs}
    assert {"LeaderWorkerSet", "Job", "Role", "RoleBinding", "ServiceAccount"} <= kinds
    assert "PodMonitor" not in kinds
    for doc in docs:
        validate(doc)


def test_validator_rejects_a_misspelt_field() -> None:
    stack: StackSpec = stack_with()
    docs = _documents(rendering.render(stack))
    lws_like = next(d for d in docs if d["kind"] == "PodMonitor")
    lws_like["spec"]["podMetricEndpoints"] = lws_like["spec"].pop("podMetricsEndpoints")
    with pytest.raises(jsonschema.ValidationError):
        validate(lws_like)
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    deployment["spec"]["replica"] = 1
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(deployment)
