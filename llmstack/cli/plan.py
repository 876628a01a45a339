"""``llmstack plan``: the capacity and cost table for a stack spec."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from llmstack.capacity import planning
from llmstack.cli._checks import preflight
from llmstack.cli.app import app
from llmstack.cli.output import Column, console, fitted_table, print_json
from llmstack.errors import LlmstackError
from llmstack.spec.loading import load_spec


@app.command()
def plan(
    spec: Path = typer.Option(..., "--spec", help="stack spec YAML"),
    rps: float | None = typer.Option(None, "--rps", min=0, max=1e6,
                                     help="requests/s to size for (default: each workload)"),
    concurrency: int | None = typer.Option(
        None, "--concurrency", min=1, max=1_000_000,
        help="closed loop of C clients (vllm bench serve --max-concurrency C)"),
    prompt_tokens: int | None = typer.Option(None, "--prompt-tokens", min=1, max=10_000_000),
    output_tokens: int | None = typer.Option(None, "--output-tokens", min=1, max=10_000_000),
    deployment: str | None = typer.Option(None, "--deployment", help="size only this deployment"),
    declared_only: bool = typer.Option(False, "--declared-only", help="skip alternative variants/pools/TP"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Every (deployment, variant, pool, TP) option: fit, KV cache, speed at the load, replicas and cost."""
    if rps is not None and concurrency is not None:
        raise LlmstackError("--rps and --concurrency are two different loads", path="plan",
                            hint="give one: --rps R (open loop) or --concurrency C (closed loop)")
    stack = load_spec(spec)
    preflight(stack, spec)
    options = planning.plan(
        stack, planning.Demand(rps, prompt_tokens, output_tokens, concurrency), deployment=deployment,
        alternatives=not declared_only,
    )
    if as_json:
        print_json([o.to_json() for o in options])
        return
    table, dropped = _table(stack.name, options)
    console.print(table)
    if dropped:
        console.print(f"not shown at {console.width} columns: {', '.join(dropped)} (wider terminal or --json)",
                      highlight=False)
    console.print("* = as declared in the spec; load, TTFT and TPOT are per replica at the sized replica count; "
                  "max out tok/s = output tokens/s with a full batch; $/M out tok counts output tokens only")
    for note in sorted({o.calibrated_from for o in options if o.calibrated_from}):
        console.print(f"speed from calibrated profile {note}")


COLUMNS = (
    Column("deployment", 10), Column("variant", 9), Column("pool", 9), Column("TP", 8, justify="right"),
    Column("fits", 10), Column("weights\nGiB/GPU", 5, justify="right"), Column("KV\ntokens", 3, justify="right"),
    Column("max\nconc.", 3, justify="right"), Column("max out\ntok/s", 2, justify="right"), Column("load", 1),
    Column("out\ntok/s", 4, justify="right"), Column("TTFT\np95 ms", 7, justify="right"),
    Column("TPOT\nms", 7, justify="right"), Column("req/s\nin SLO", 8, justify="right"),
    Column("replicas", 10, justify="right"), Column("$/h", 10, justify="right"),
    Column("$/M\nout tok", 5, justify="right"), Column("why", 6, min_width=16),
)
"""Plan columns, units in the headers; the priorities decide what a narrow terminal still shows."""


def _table(name: str, options: list[planning.PlanOption]) -> tuple[Table, list[str]]:
    rows = [[
        o.deployment + (" *" if o.declared else ""), o.variant, o.pool, str(o.tensor_parallel),
        "[green]yes[/]" if o.fits else "[red]no[/]", f"{o.weights_gib_per_gpu:.1f}", str(o.kv_cache_tokens),
        f"{o.max_concurrency:.1f}", f"{o.decode_tokens_per_s:.0f}", o.load or "-", f"{o.output_tokens_per_s:.0f}",
        _ms(o.ttft_p95_s), _ms(o.tpot_mean_s, 1), f"{o.sustainable_rps:.2f}",
        "-" if o.replicas_needed is None else str(o.replicas_needed),
        "-" if o.cost_per_hour is None else f"{o.cost_per_hour:.2f}",
        "-" if o.cost_per_million_tokens is None else f"{o.cost_per_million_tokens:.2f}", o.reason,
    ] for o in options]
    return fitted_table(f"capacity plan: {name}", COLUMNS, rows, console.width)


def _ms(seconds: float | None, digits: int = 0) -> str:
    return "-" if seconds is None else f"{seconds * 1e3:.{digits}f}"
