"""Shared helpers of the Kubernetes target tests: small stacks and object lookups."""

from __future__ import annotations

from typing import Any

from llmstack.spec.models import StackSpec


def stack_with(**changes: Any) -> StackSpec:
    """A two-pool stack (1-GPU L4 nodes, 8-GPU H100 nodes) with one deployment per pool and a router."""
    base: dict[str, Any] = {
        "name": "t",
        "pools": [
            {"name": "l4", "accelerator": "L4", "gpus_per_node": 1, "nodes": {"min": 0, "max": 4},
             "cost_per_gpu_hour": 0.5, "node_selector": {"pool": "l4"},
             "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]},
            {"name": "h100", "accelerator": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": {"min": 0, "max": 2},
             "cost_per_gpu_hour": 2.0, "node_selector": {"pool": "h100"}},
        ],
        "models": [
            {"name": "small", "architecture": "Llama-3.1-8B", "variants": [
                {"name": "awq", "weights": "hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4",
                 "quantization": "awq_marlin"},
                {"name": "bf16", "weights": "meta-llama/Llama-3.1-8B-Instruct"}]},
            {"name": "big", "architecture": "Llama-3.1-70B", "variants": [
                {"name": "bf16", "weights": "meta-llama/Llama-3.1-70B-Instruct"}]},
        ],
        "deployments": [
            {"name": "chat", "model": "small", "variant": "awq", "pool": "l4",
             "replicas": {"min": 1, "max": 4, "initial": 2}, "engine": {"max_model_len": 4096}},
            {"name": "think", "model": "big", "variant": "bf16", "pool": "h100", "tensor_parallel": 4,
             "replicas": {"min": 1, "max": 2}, "engine": {"max_model_len": 8192}},
        ],
        "routers": [{"name": "gateway", "routes": [{"model": "small", "backends": {"chat": 100}},
                                                    {"model": "big", "backends": {"think": 100}}]}],
    }
    base.update(changes)
    return StackSpec.model_validate(base)


def find(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    matches = [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(matches) == 1, f"{len(matches)} {kind} objects named {name}"
    return matches[0]


def containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    """Every container of a Deployment, Job, DaemonSet or LeaderWorkerSet (leader and workers)."""
    spec = workload["spec"]
    if workload["kind"] == "LeaderWorkerSet":
        lwt = spec["leaderWorkerTemplate"]
        return [*lwt["leaderTemplate"]["spec"]["containers"], *lwt["workerTemplate"]["spec"]["containers"]]
    return list(spec["template"]["spec"]["containers"])
