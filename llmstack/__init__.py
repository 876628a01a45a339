"""llmstack: self-hosted LLM serving as code.

Stack specs (pydantic) flow one way into a capacity model, generated artifacts,
Pulumi targets (Kubernetes, Docker) and a policy engine that reads Prometheus.
"""

from llmstack.errors import LlmstackError
from llmstack.spec.loading import load_spec
from llmstack.spec.models import (
    DeploymentSpec,
    ModelSpec,
    PoolSpec,
    RouterSpec,
    StackSpec,
    VariantSpec,
)

__all__ = [
    "DeploymentSpec",
    "LlmstackError",
    "ModelSpec",
    "PoolSpec",
    "RouterSpec",
    "StackSpec",
    "VariantSpec",
    "load_spec",
]
