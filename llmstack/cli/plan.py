"""``llmstack plan``: the capacity and cost table for a stack spec (after the checks ``render`` runs)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from llmstack.capacity import planning
from llmstack.cli._checks import preflight
from llmstack.cli.app import app
from llmstack.cli.output import console, print_json
from llmstack.spec.loading import load_spec


@app.command()
def plan(
    spec: Path = typer.Option(..., "--spec", help="stack spec YAML"),
    rps: float | None = typer.Option(None, "--rps", min=0, max=1e6,
                                     help="requests/s to size for (default: each workload)"),
    prompt_tokens: int | None = typer.Option(None, "--prompt-tokens", min=1, max=10_000_000),
    output_tokens: int | None = typer.Option(None, "--output-tokens", min=1, max=10_000_000),
    deployment: str | None = typer.Option(None, "--deployment", help="only this deployment"),
    declared_only: bool = typer.Option(False, "--declared-only", help="skip alternative variants/pools/TP"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Every (deployment, variant, pool, TP) option: fit, memory, speed, replicas and cost, cheapest first."""
    stack = load_spec(spec)
    preflight(stack, spec)
    options = planning.plan(
        stack, planning.Demand(rps, prompt_tokens, output_tokens), deployment=deployment,
        alternatives=not declared_only,
    )
    if as_json:
        print_json([o.to_json() for o in options])
        return
    table = Table(title=f"capacity plan: {stack.name}", show_lines=False)
    for column in ("deployment", "variant", "pool", "TP", "fits", "weights GiB/GPU", "KV GiB/GPU", "max seqs",
                   "decode tok/s", "req/s in SLO", "replicas", "$/h", "$/M tok", "why"):
        table.add_column(column, overflow="fold")
    for o in options:
        mark = "[green]yes[/]" if o.fits else "[red]no[/]"
        name = o.deployment + (" *" if o.declared else "")
        table.add_row(
            name, o.variant, o.pool, str(o.tensor_parallel), mark, f"{o.weights_gib_per_gpu:.1f}",
            f"{o.kv_cache_gib_per_gpu:.1f}", str(o.max_concurrent_seqs), f"{o.decode_tokens_per_s:.0f}",
            f"{o.sustainable_rps:.2f}", "-" if o.replicas_needed is None else str(o.replicas_needed),
            "-" if o.cost_per_hour is None else f"{o.cost_per_hour:.2f}",
            "-" if o.cost_per_million_tokens is None else f"{o.cost_per_million_tokens:.2f}", o.reason,
        )
    console.print(table)
    console.print("* = as declared in the spec")
