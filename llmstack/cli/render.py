"""``llmstack render``: write what a target deploys as plain files (no cluster, no Pulumi CLI)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import typer

from llmstack.cli._checks import preflight
from llmstack.cli.app import app
from llmstack.cli.output import console, print_json
from llmstack.errors import LlmstackError, SpecError
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
    spec: Path = typer.Option(..., "--spec", help="stack spec YAML"),
    target: str = typer.Option("artifacts", "--target", help="artifacts | kubernetes | docker"),
    out: Path = typer.Option(..., "--out", help="output folder"),
    scaling_file: Path | None = typer.Option(None, "--scaling", help="JSON/YAML llmstack:scaling overrides"),
    as_json: bool = typer.Option(False, "--json", help="print the written paths as JSON"),
) -> None:
    """Render the files a target deploys (configs, manifests, dashboards) into --out."""
    stack = load_spec(spec)
    if scaling_file is not None:
        raw = load_yaml(read_text(scaling_file, "scaling file"), str(scaling_file))
        try:
            stack = scaling.apply_scaling(stack, scaling.parse_scaling(raw))
        except SpecError:
            raise
        except LlmstackError as exc:
            raise SpecError(exc.message, path=exc.path, hint=exc.hint, file=str(scaling_file)) from exc
    preflight(stack, spec)
    files = renderer(target)(stack)
    for relative, text in sorted(files.items()):
        atomic_write_text(out / relative, text)
    if as_json:
        print_json(sorted(str(out / r) for r in files))
    else:
        console.print(f"wrote {len(files)} files for target {target} under {out}")
