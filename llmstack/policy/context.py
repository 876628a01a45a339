"""Where a command's stack comes from: the spec file and the settings in force.

The spec is ``--spec`` or, failing that, ``llmstack:spec`` of ``Pulumi.<stack>.yaml``; the
settings in force are the spec's with that file's ``llmstack:scaling`` laid over them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from llmstack.errors import SpecError
from llmstack.policy import applying, stack_file
from llmstack.policy.recommendation import Setting, settings_of
from llmstack.spec.loading import load_spec
from llmstack.spec.models import StackSpec


@dataclass(frozen=True)
class StackContext:
    stack: StackSpec
    current: dict[str, Setting]
    config_path: Path
    stack_name: str
    project_dir: Path


def load_context(spec: Path | None, stack_name: str, project_dir: Path) -> StackContext:
    path = applying.config_path(project_dir, stack_name)
    doc = stack_file.load(path)
    if spec is None:
        configured = stack_file.config(doc).get("llmstack:spec")
        if not configured:
            raise SpecError("no spec given and llmstack:spec is not set", file=str(path),
                            hint="set llmstack:spec in the stack file, or give the spec file")
        spec = Path(configured) if Path(configured).is_absolute() else project_dir / configured
    stack = load_spec(spec)
    stack_file.check_against(stack, doc, str(path))
    current = applying.settings_from_file(path, settings_of(stack))
    return StackContext(stack, current, path, stack_name, project_dir)
