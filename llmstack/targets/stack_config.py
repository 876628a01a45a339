"""What the Pulumi program reads from the stack configuration.

``llmstack:spec`` (path of the spec, relative to the project root), ``llmstack:target``
(``kubernetes`` | ``docker``), ``llmstack:scaling`` (overrides written by the policy
engine) and the secret ``llmstack:hfToken``. Kept apart from the Pulumi runtime so the
same parsing serves the program, ``llmstack render`` and the policy engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from llmstack.errors import LlmstackError
from llmstack.spec import scaling
from llmstack.spec.loading import load_spec
from llmstack.spec.models import StackSpec

Target = Literal["kubernetes", "docker"]
TARGETS: tuple[Target, ...] = ("kubernetes", "docker")
DEFAULT_SPEC = "examples/stack.yaml"


@dataclass(frozen=True)
class StackConfig:
    spec_path: Path
    target: Target
    overrides: dict[str, scaling.ScalingOverride] = field(default_factory=dict)

    def load(self) -> StackSpec:
        """The spec with ``llmstack:scaling`` applied."""
        return scaling.apply_scaling(load_spec(self.spec_path), self.overrides)


def from_values(spec: str | None, target: str | None, scaling_value: Any, project_dir: Path) -> StackConfig:
    """Validate raw configuration values (as ``pulumi.Config`` returns them)."""
    chosen = target or "kubernetes"
    if chosen not in TARGETS:
        raise LlmstackError(f"unknown target {chosen!r}", path="llmstack:target", hint=f"use one of {list(TARGETS)}")
    spec_path = Path(spec or DEFAULT_SPEC)
    if not spec_path.is_absolute():
        spec_path = project_dir / spec_path
    return StackConfig(spec_path=spec_path, target=chosen, overrides=scaling.parse_scaling(scaling_value))
