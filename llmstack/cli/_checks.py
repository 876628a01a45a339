"""The checks a spec passes before anything is planned or rendered (not a command module).

``plan`` and every ``render`` target run exactly :func:`preflight`: the capacity model's
validity rules for each declared deployment (tensor parallel divides the heads, context within
the model's, weights and KV cache fit) and the pools' GPU counts for the minimum replicas. A
target adds only what is its own (Kubernetes names, the Docker host).
"""

from __future__ import annotations

from pathlib import Path

from llmstack.capacity import planning
from llmstack.errors import LlmstackError, SpecError
from llmstack.spec.models import StackSpec
from llmstack.spec.resolving import ResolvedDeployment
from llmstack.targets.kubernetes import sizing


def preflight(stack: StackSpec, source: Path | str | None = None) -> list[ResolvedDeployment]:
    """Run the checks; an error names ``source`` (the spec file) and the field."""
    try:
        resolved = planning.check_stack(stack)
        sizing.check_pools(stack, resolved)
    except LlmstackError as exc:
        if exc.file is not None or source is None:
            raise
        raise SpecError(exc.message, path=exc.path, hint=exc.hint, file=str(source)) from exc
    return resolved
