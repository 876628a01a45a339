"""llmstack: self-hosted LLM serving as code.

Stack specs (pydantic) flow one way into a capacity model, generated artifacts,
Pulumi targets (Kubernetes, Docker) and a policy engine that reads Prometheus.
"""

import importlib
import logging
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from llmstack.targets.docker.components import DockerLlmStack, DockerLlmStackArgs
    from llmstack.targets.kubernetes.components import LlmStack, LlmStackArgs

_COMPONENTS = {
    "DockerLlmStack": "llmstack.targets.docker.components",
    "DockerLlmStackArgs": "llmstack.targets.docker.components",
    "LlmStack": "llmstack.targets.kubernetes.components",
    "LlmStackArgs": "llmstack.targets.kubernetes.components",
}
"""The Pulumi components, imported on first use: ``import llmstack`` (the CLI) stays free of pulumi."""


def __getattr__(name: str) -> Any:
    if name in _COMPONENTS:
        return getattr(importlib.import_module(_COMPONENTS[name]), name)
    raise AttributeError(f"module 'llmstack' has no attribute {name!r}")


# a library does not decide where warnings go: the CLI prints them itself (and --debug shows the rest)
logging.getLogger("llmstack").addHandler(logging.NullHandler())

__all__ = [
    "DeploymentSpec",
    "DockerLlmStack",
    "DockerLlmStackArgs",
    "LlmStack",
    "LlmStackArgs",
    "LlmstackError",
    "ModelSpec",
    "PoolSpec",
    "RouterSpec",
    "StackSpec",
    "VariantSpec",
    "load_spec",
]
