"""Shared fixtures: the example spec and small inline stacks."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmstack.spec.loading import load_spec
from llmstack.spec.models import StackSpec

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_SPEC = ROOT / "examples" / "stack.yaml"


@pytest.fixture
def example_stack() -> StackSpec:
    return load_spec(EXAMPLE_SPEC)


def make_stack(**deployment: object) -> StackSpec:
    """A one-pool, one-model stack with a single deployment; keyword arguments override it."""
    base: dict[str, object] = {
        "name": "chat", "model": "m", "variant": "bf16", "pool": "gpu", "tensor_parallel": 1,
    }
    pool = deployment.pop("pool_spec", {"name": "gpu", "accelerator": "H100-SXM-80GB", "gpus_per_node": 8,
                                         "cost_per_gpu_hour": 2.5})
    model = deployment.pop("model_spec", {
        "name": "m", "architecture": "Llama-3.1-8B",
        "variants": [{"name": "bf16", "weights": "meta-llama/Llama-3.1-8B-Instruct"}],
    })
    base.update(deployment)
    return StackSpec.model_validate({"name": "t", "pools": [pool], "models": [model], "deployments": [base]})
