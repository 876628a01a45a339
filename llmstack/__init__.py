"""llmstack: self-hosted LLM serving as code.

Stack specs (pydantic) flow one way into a capacity model, generated artifacts,
Pulumi targets (Kubernetes, Docker) and a policy engine that reads Prometheus.
"""

import logging

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

# a library does not decide where warnings go: the CLI prints them itself (and --debug shows the rest)
logging.getLogger("llmstack").addHandler(logging.NullHandler())

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
