"""``llmstack render``: write what a target deploys as plain files (no cluster, no Pulumi CLI)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

import typer

from llmstack.cli.app import app
from llmstack.cli.output import console, print_json
from llmstack.errors import LlmstackError
from llmstack.fileio import atomic_write_text
from llmstack.spec import scaling
from llmstack.spec.loading import load_spec
from llmstack.spec.models import StackSpec

RENDERERS = {
    "artifacts": "llmstack.artifacts.bundle:render_artifacts",
    "kubernetes": "llmstack.targets.kubernetes.rendering:render",
    "docker": "llmstack.targets.docker.rendering:render",
}
"""target -> ``module:function`` taking a StackSpec and returning {relative path: file text}."""


def renderer(target: str) -> Callable[[StackSpec], dict[str, str]]:
    if target not in RENDERERS:
        raise LlmstackError(f"unknown target {target!r}", path="--target", hint=f"use one of {sorted(RENDERERS)}")
    module, _, function = RENDERERS[target].partition(":")
    fn: Callable[[StackSpec], dict[str, str]] = getattr(importlib.import_module(module), function)
    return fn


@app.command()
def render(
    spec: Path = typer.Option(..., "--spec", help="stack spec YAML"),
    target: str = typer.Option("artifacts", "--target", help="artifacts | kubernetes | docker"),
    out: Path = typer.Option(..., "--out", help="output folder"),
    scaling_file: Path | None = typer.Option(None, "--scaling", help="JSON/YAML llmstack:scaling overrides"),
    as_json: bool = typer.Option(False, "--json", help="print the written paths as JSON"),
) -> None:
    """Render the files a target deploys (configs, manifests, dashboards) into --out."""
    stack = load_spec(spec)
    if scaling_file is not None:
        import yaml

        stack = scaling.apply_scaling(stack, scaling.parse_scaling(yaml.safe_load(scaling_file.read_text())))
    files = renderer(target)(stack)
    for relative, text in sorted(files.items()):
        atomic_write_text(out / relative, text)
    if as_json:
        print_json(sorted(str(out / r) for r in files))
    else:
        console.print(f"wrote {len(files)} files for target {target} under {out}")
