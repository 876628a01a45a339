"""``llmstack init``: the files of a new Pulumi project that deploys an llmstack stack.

Writes ``Pulumi.yaml`` (python runtime, a ``venv`` virtualenv), ``__main__.py`` (the
packaged program, :func:`llmstack.targets.program.main`), ``requirements.txt``, the stack
spec ``stack.yaml`` (the packaged example for the target), ``policies/`` (the packaged
policies) and an example ``Pulumi.<stack>.yaml``. Refuses to overwrite any file: nothing is
written unless every file is new.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from llmstack import data, yaml_text
from llmstack.errors import LlmstackError
from llmstack.fileio import atomic_write_text
from llmstack.spec.loading import load_spec
from llmstack.targets.stack_config import TARGETS, Target

DISTRIBUTION = "pulumi-llmstack"
EXAMPLES: dict[Target, str] = {"kubernetes": "stack.yaml", "docker": "docker-stack.yaml"}


@dataclass(frozen=True)
class Scaffold:
    directory: Path
    files: dict[str, str]
    """path relative to ``directory`` -> text."""


def plan(directory: Path, target: str, stack: str = "dev") -> Scaffold:
    """The files of a new project in ``directory`` (pure apart from reading packaged files)."""
    if target not in TARGETS:
        raise LlmstackError(f"unknown target {target!r}", path="--target", hint=f"use one of {list(TARGETS)}")
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", stack):
        raise LlmstackError(f"stack name {stack!r} has characters Pulumi refuses", path="--stack",
                            hint="letters, digits, '-', '_', '.'")
    chosen: Target = "docker" if target == "docker" else "kubernetes"
    example = data.example(EXAMPLES[chosen])
    files = {
        "Pulumi.yaml": _project_file(_project_name(directory)),
        "__main__.py": data.path("init/__main__.py").read_text(encoding="utf-8"),
        "requirements.txt": f"{DISTRIBUTION}>={_version()}\n",
        "stack.yaml": example.read_text(encoding="utf-8"),
        "policies/default.yaml": data.policy("default.yaml").read_text(encoding="utf-8"),
        f"Pulumi.{stack}.yaml": _stack_file(example, chosen, stack),
    }
    return Scaffold(directory, files)


def write(scaffold: Scaffold) -> list[Path]:
    """Write every file, or none if any exists already."""
    paths = [scaffold.directory / name for name in scaffold.files]
    existing = [p for p in paths if p.exists()]
    if existing:
        raise LlmstackError(f"{existing[0]} exists already", path="DIR",
                            hint="pick an empty or new folder; llmstack init never overwrites")
    for name, text in scaffold.files.items():
        target = scaffold.directory / name
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(target, text)
    return paths


def _project_name(directory: Path) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", directory.resolve().name).strip("-")
    return name or "llmstack"


def _version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "0.1.0"


def _project_file(name: str) -> str:
    project = {
        "name": name,
        "description": "Self-hosted LLM serving (vLLM) with llmstack: routing, monitoring, policy-driven scaling",
        "runtime": {"name": "python", "options": {"toolchain": "pip", "virtualenv": "venv"}},
    }
    return yaml_text.dump(project)


def _stack_file(example: Path, target: Target, stack: str) -> str:
    spec = load_spec(example)
    config = {
        "llmstack:spec": "stack.yaml",
        "llmstack:target": target,
        "llmstack:scaling": {d.name: {"replicas": d.replicas.start} for d in spec.deployments},
    }
    header = (
        f"# Stack {stack!r} of this project. The Hugging Face token is a secret, never plain text here:\n"
        "#   pulumi config set --secret llmstack:hfToken hf_...\n"
        "# or from a Pulumi ESC environment (see the README): add `environment: [llmstack/hf]` below.\n"
        "# llmstack:scaling is written by the policy engine (`llmstack apply --stack "
        f"{stack}`); `pulumi up` deploys it.\n"
    )
    return header + yaml_text.dump({"config": config})
