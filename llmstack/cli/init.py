"""``llmstack init DIR``: scaffold a Pulumi project that deploys an llmstack stack."""

from __future__ import annotations

from pathlib import Path

import typer

from llmstack.cli.app import app
from llmstack.cli.output import console, print_json
from llmstack.targets import scaffold


@app.command()
def init(
    directory: Path = typer.Argument(..., help="folder of the new project (created; must not hold its files)"),
    target: str = typer.Option("kubernetes", "--target", help="kubernetes | docker"),
    stack: str = typer.Option("dev", "--stack", help="name of the example Pulumi stack file"),
    as_json: bool = typer.Option(False, "--json", help="print the written paths as JSON"),
) -> None:
    """Pulumi.yaml, __main__.py, requirements.txt, a stack spec, policies and an example Pulumi.<stack>.yaml."""
    written = scaffold.write(scaffold.plan(directory, target, stack))
    if as_json:
        print_json([str(p) for p in written])
        return
    for path in written:
        console.print(f"wrote {path}", highlight=False)
    console.print(f"next: cd {directory} && pulumi stack init {stack} && pulumi up "
                  f"(secrets: pulumi config set --secret llmstack:hfToken hf_...)", highlight=False)
