"""The Pulumi Kubernetes Operator path: what the Stack patch says, and the HTTP calls behind it.

Design note: :class:`FakeStackApi` applies each patch as the API server would (RFC 7386 merge
patch), so a test sees both the body sent and the Stack after it. The HTTP client is tested
separately against ``httpx.MockTransport``: method, path, content type, bearer token (read
again per request, as the kubelet rotates it), and the one-line errors for 403/404/409.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from llmstack.controller import kube_api
from llmstack.controller.pulumi_operator import CHANGE_ANNOTATION, PulumiOperatorBackend
from llmstack.errors import ApplyError
from tests.controller.helpers import FakeStackApi, rec
from tests.targets.kubernetes.validation import validate


def test_patch_sets_scaling_in_stack_config_with_resource_version_and_reasons() -> None:
    api = FakeStackApi(config={"aws:region": "us-east-1", "llmstack:scaling": {"think": {"replicas": 2}}})
    report = PulumiOperatorBackend(api, "llmstack", "llmstack").apply([rec("chat", replicas=(2, 3))])
    assert report.changed and report.reference == "42"
    [body] = api.patches
    assert body["spec"] == {"config": {"llmstack:scaling": {"chat": {"replicas": 3}, "think": {"replicas": 2}}}}
    assert body["metadata"]["resourceVersion"] == "41"
    note = body["metadata"]["annotations"][CHANGE_ANNOTATION]
    assert note.startswith("llmstack: chat: replicas 2 -> 3")
    assert "ttft_p95=2.41" in note and "rule: ttft-slo" in note and "0.42 s" in note
    assert api.obj["spec"]["config"]["aws:region"] == "us-east-1"  # other config left as it was
    assert api.obj["spec"]["stack"] == "acme/llmstack/prod"
    validate(api.obj)  # the patched Stack is still valid for the operator's CRD (pulumi.com/v1, v2.9.0)


def test_no_patch_when_stack_already_holds_the_change() -> None:
    api = FakeStackApi(config={"llmstack:scaling": {"chat": {"replicas": 3}}})
    report = PulumiOperatorBackend(api, "llmstack", "llmstack").apply([rec("chat", replicas=(2, 3))])
    assert not report.changed and api.patches == []


def test_variant_move_patches_variant_and_keeps_other_knobs() -> None:
    api = FakeStackApi(config={"llmstack:scaling": json.dumps({"chat": {"replicas": 4}})})  # string form
    backend = PulumiOperatorBackend(api, "llmstack", "llmstack")
    assert backend.current() == {"chat": {"replicas": 4}}
    backend.apply([rec("chat", kind="variant", replicas=(4, 4), variant=("awq", "bf16"))])
    assert api.obj["spec"]["config"]["llmstack:scaling"] == {"chat": {"replicas": 4, "variant": "bf16"}}


def test_invalid_scaling_in_stack_is_one_error_naming_the_object() -> None:
    api = FakeStackApi(config={"llmstack:scaling": {"chat": {"replicas": -1}}})
    with pytest.raises(ApplyError) as err:
        PulumiOperatorBackend(api, "llmstack", "llmstack").apply([rec()])
    assert "stacks.pulumi.com/llmstack" in err.value.render()
    assert "spec.config.llmstack:scaling.chat" in err.value.render()
    assert api.patches == []


def _client(tmp_path: Path, handler: httpx.MockTransport) -> kube_api.HttpStackClient:
    (tmp_path / "token").write_text("token-1\n")
    cluster = kube_api.InCluster("https://10.0.0.1:443", tmp_path / "token", False)
    return kube_api.HttpStackClient(cluster, transport=handler)


def test_http_client_sends_merge_patch_to_the_stack_with_a_fresh_token(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"metadata": {"resourceVersion": "7"}})

    client = _client(tmp_path, httpx.MockTransport(answer))
    client.get_stack("team-a", "prod")
    (tmp_path / "token").write_text("token-2")  # the kubelet rotated it
    client.patch_stack("team-a", "prod", {"spec": {"config": {"llmstack:scaling": {"chat": {"replicas": 3}}}}})
    get, patch = seen
    assert get.method == "GET" and get.url.path == "/apis/pulumi.com/v1/namespaces/team-a/stacks/prod"
    assert get.headers["Authorization"] == "Bearer token-1"
    assert patch.method == "PATCH" and patch.headers["Content-Type"] == "application/merge-patch+json"
    assert patch.headers["Authorization"] == "Bearer token-2"
    assert json.loads(patch.content) == {"spec": {"config": {"llmstack:scaling": {"chat": {"replicas": 3}}}}}


@pytest.mark.parametrize(("status", "hint"), [
    pytest.param(403, "resourceNames", id="forbidden"),
    pytest.param(404, "create the Stack", id="missing"),
    pytest.param(409, "next cycle", id="conflict"),
])
def test_http_client_refusal_is_one_line_with_a_hint(tmp_path: Path, status: int, hint: str) -> None:
    transport = httpx.MockTransport(lambda r: httpx.Response(status, json={"message": "nope"}))
    with pytest.raises(ApplyError) as err:
        _client(tmp_path, transport).patch_stack("llmstack", "llmstack", {})
    text = err.value.render()
    assert f"HTTP {status} nope" in text and hint in text and "\n" not in text


def test_in_cluster_config_refused_outside_a_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ApplyError, match="not running in a cluster"):
        kube_api.InCluster.from_environment(tmp_path)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "fd00::1")
    (tmp_path / "token").write_text("t")
    assert kube_api.InCluster.from_environment(tmp_path).base_url == "https://[fd00::1]:443"
