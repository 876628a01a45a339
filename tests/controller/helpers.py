"""Shared pieces of the controller tests: recommendations, a spec with a controller, a fake Stack API."""

from __future__ import annotations

import copy
from typing import Any

from llmstack.policy.recommendation import Prediction, Recommendation, Setting
from llmstack.spec.models import StackSpec
from tests.targets.kubernetes.helpers import stack_with


def rec(deployment: str = "chat", *, kind: str = "horizontal", replicas: tuple[int, int] = (2, 3),
        variant: tuple[str, str] = ("awq", "awq"), pool: str = "l4") -> Recommendation:
    return Recommendation(
        deployment=deployment, kind=kind,  # type: ignore[arg-type]
        current=Setting(replicas[0], variant[0], pool, 1), proposed=Setting(replicas[1], variant[1], pool, 1),
        rule="ttft-slo", priority="slo", signals={"ttft_p95": 2.41, "request_rate": 18.5}, window="2m",
        confidence=0.9, reason="ttft_p95 2.41 s > SLO 0.5 s for 2m",
        predicted=Prediction(2.41, 0.42, 1.0, 1.5, "TTFT p95 2.41 s -> 0.42 s, $1.00/h -> $1.50/h"))


def controller_stack(**controller: Any) -> StackSpec:
    return stack_with(controller={"enabled": True, **controller})


class FakeStackApi:
    """A ``StackClient`` holding one Stack in memory; records every patch body it was sent."""

    def __init__(self, namespace: str = "llmstack", name: str = "llmstack",
                 config: dict[str, Any] | None = None) -> None:
        self.key = (namespace, name)
        self.obj: dict[str, Any] = {
            "apiVersion": "pulumi.com/v1", "kind": "Stack",
            "metadata": {"name": name, "namespace": namespace, "resourceVersion": "41"},
            "spec": {"stack": "acme/llmstack/prod", "projectRepo": "https://example.invalid/infra.git",
                     "branch": "main", "config": dict(config or {})}}
        self.patches: list[dict[str, Any]] = []
        self.gets = 0

    def get_stack(self, namespace: str, name: str) -> dict[str, Any]:
        assert (namespace, name) == self.key
        self.gets += 1
        return copy.deepcopy(self.obj)

    def patch_stack(self, namespace: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        assert (namespace, name) == self.key
        self.patches.append(copy.deepcopy(body))
        self.obj = merge_patch(self.obj, body)
        self.obj["metadata"]["resourceVersion"] = str(int(self.obj["metadata"]["resourceVersion"]) + 1)
        return copy.deepcopy(self.obj)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch (what the API server does with application/merge-patch+json)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out
