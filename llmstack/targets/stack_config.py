"""What the Pulumi program reads from the stack configuration.

``llmstack:spec`` (the path of the spec, relative to the project root, or the spec itself
inline as a YAML object; unset: the packaged example), ``llmstack:target`` (``kubernetes`` |
``docker``), ``llmstack:scaling`` (overrides written by the policy engine) and the secret
``llmstack:hfToken``. Kept apart from the Pulumi runtime so the same parsing serves the
program, ``llmstack render`` and the policy engine.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from llmstack import data
from llmstack.errors import LlmstackError
from llmstack.spec import scaling
from llmstack.spec.loading import load_spec, spec_from_data
from llmstack.spec.models import StackSpec

Target = Literal["kubernetes", "docker"]
TARGETS: tuple[Target, ...] = ("kubernetes", "docker")
SPEC_KEY = "llmstack:spec"


class ConfigReader(Protocol):
    """The part of ``pulumi.Config`` read here."""

    def get(self, key: str) -> str | None: ...


@dataclass(frozen=True)
class StackConfig:
    spec_path: Path | None
    target: Target
    overrides: dict[str, scaling.ScalingOverride] = field(default_factory=dict)
    inline_spec: dict[str, Any] | None = None
    """``llmstack:spec`` given as an object in the stack file (then ``spec_path`` is None)."""

    def load(self) -> StackSpec:
        """The spec with ``llmstack:scaling`` applied."""
        if self.inline_spec is not None:
            spec = spec_from_data(self.inline_spec, source=SPEC_KEY)
        else:
            assert self.spec_path is not None
            spec = load_spec(self.spec_path)
        return scaling.apply_scaling(spec, self.overrides)


def spec_value(config: ConfigReader) -> str | dict[str, Any] | None:
    """``llmstack:spec`` as the program sees it: a path string, an inline object, or None.

    Pulumi hands structured values over as JSON text; a plain path is not JSON.
    """
    raw = config.get("spec")
    if raw is None or not raw.lstrip().startswith("{"):
        return raw
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise LlmstackError(f"not a path and not a valid inline spec: {exc.msg}", path=SPEC_KEY) from exc
    return value if isinstance(value, dict) else raw


def from_values(spec: str | dict[str, Any] | None, target: str | None, scaling_value: Any,
                project_dir: Path) -> StackConfig:
    """Validate raw configuration values (as ``pulumi.Config`` or the stack file hold them)."""
    chosen = target or "kubernetes"
    if chosen not in TARGETS:
        raise LlmstackError(f"unknown target {chosen!r}", path="llmstack:target", hint=f"use one of {list(TARGETS)}")
    overrides = scaling.parse_scaling(scaling_value)
    if isinstance(spec, dict):
        return StackConfig(spec_path=None, target=chosen, overrides=overrides, inline_spec=spec)
    spec_path = Path(spec) if spec else data.example()  # unset: the packaged example
    if not spec_path.is_absolute():
        spec_path = project_dir / spec_path
    return StackConfig(spec_path=spec_path, target=chosen, overrides=overrides)
