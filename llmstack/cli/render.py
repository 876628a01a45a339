"""``llmstack render``: write what a target deploys as plain files (no cluster, no Pulumi CLI)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from llmstack.cli._checks import preflight
from llmstack.cli.app import app
from llmstack.cli.output import console, print_json
from llmstack.errors import LlmstackError
from llmstack.fileio import atomic_write_text
from llmstack.spec import scaling
from llmstack.spec.loading import load_spec, load_yaml, read_text
from llmstack.spec.models import StackSpec

RENDERERS = ("artifacts", "kubernetes", "docker")
"""The targets ``--target`` names."""


def renderer(target: str) -> Callable[[StackSpec], dict[str, str]]:
    """The function taking a StackSpec and returning {relative path: file text} for ``target``.

    Imported on use (a target's Pulumi modules are slow to import), as plain imports so the
    layers contract sees the edges.
    """
    if target == "artifacts":
        from llmstack.artifacts.bundle import render_artifacts

        return render_artifacts
    if target == "kubernetes":
        from llmstack.targets.kubernetes.rendering import render as render_kubernetes

        return render_kubernetes
    if target == "docker":
        from llmstack.targets.docker.rendering import render as render_docker

        return render_docker
    raise LlmstackError(f"unknown target {target!r}", path="--target", hint=f"use one of {sorted(RENDERERS)}")


@app.command()
def render(
    spec: Path | None = typer.Option(None, "--spec", help="stack spec YAML (default: llmstack:spec of --scaling)"),
    target: str = typer.Option("artifacts", "--target", help="artifacts | kubernetes | docker"),
    out: Path = typer.Option(..., "--out", help="output folder"),
    scaling_file: Path | None = typer.Option(
        None, "--scaling", help="Pulumi.<stack>.yaml (its llmstack:scaling, as apply writes it) or a bare "
                                "deployment -> overrides JSON/YAML mapping"),
    as_json: bool = typer.Option(False, "--json", help="print the written paths as JSON"),
) -> None:
    """Render the files a target deploys (configs, manifests, dashboards) into --out."""
    stack = _stack(spec, scaling_file)
    preflight(stack, spec or scaling_file)
    files = renderer(target)(stack)
    for relative, text in sorted(files.items()):
        atomic_write_text(out / relative, text)
    if as_json:
        print_json(sorted(str(out / r) for r in files))
    else:
        console.print(f"wrote {len(files)} files for target {target} under {out}")


def _stack(spec: Path | None, scaling_file: Path | None) -> StackSpec:
    """The spec with the scaling file's overrides; a stack file's ``llmstack:spec`` when --spec is absent."""
    document = _read_yaml(scaling_file) if scaling_file is not None else None
    if spec is None:
        spec = _spec_of_stack_file(document, scaling_file)
    stack = load_spec(spec)
    if scaling_file is None:
        return stack
    return scaling.apply_scaling(stack, scaling.from_document(document, str(scaling_file)))


def _read_yaml(path: Path) -> Any:
    """The scaling file (YAML or JSON), read strictly: unreadable, binary or duplicate keys are one error."""
    return load_yaml(read_text(path, "scaling file"), str(path))


def _spec_of_stack_file(document: Any, path: Path | None) -> Path:
    config = document.get("config") if isinstance(document, dict) else None
    value = config.get("llmstack:spec") if isinstance(config, dict) else None
    if path is None or not isinstance(value, str):
        raise LlmstackError("no spec given", path="--spec",
                            hint="pass --spec, or --scaling with a Pulumi.<stack>.yaml that sets llmstack:spec")
    # a stack file's relative paths are relative to its project: the folder holding it
    spec = Path(value)
    return spec if spec.is_absolute() else path.parent / spec
