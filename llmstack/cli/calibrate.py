"""``llmstack calibrate``: fit the capacity model to a real endpoint and write a profile."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from llmstack.capacity import profile as calibration
from llmstack.cli.app import app
from llmstack.cli.output import console
from llmstack.errors import LlmstackError
from llmstack.fileio import atomic_write_text
from llmstack.metrics import calibration as calibrating
from llmstack.spec.loading import load_spec
from llmstack.spec.resolving import resolve


def parse_levels(text: str, option: str) -> list[int]:
    """``"1,2,4"`` -> [1, 2, 4]; anything else is one error naming the option."""
    try:
        levels = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        levels = []
    if not levels or any(c < 1 for c in levels):
        raise LlmstackError(f"{text!r} is not a list of positive integers", path=option, hint="e.g. 1,2,4,8,16")
    return sorted(set(levels))


@app.command()
def calibrate(
    endpoint: str = typer.Option(..., "--endpoint", help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8000"),
    model: str = typer.Option(..., "--model", help="served model name to send requests to"),
    spec: Path = typer.Option(..., "--spec", help="stack spec YAML"),
    deployment: str = typer.Option(..., "--deployment", help="the deployment the endpoint serves"),
    concurrency: str = typer.Option("1,2,4,8,16", "--concurrency", help="closed-loop levels to sweep"),
    holdout: str | None = typer.Option(None, "--holdout", help="levels measured but not fitted (default: 2nd, 4th..)"),
    prompt_tokens: int = typer.Option(256, "--prompt-tokens", min=1),
    output_tokens: int = typer.Option(64, "--output-tokens", min=2),
    requests_per_level: int = typer.Option(16, "--requests", min=1, help="requests per level (at least the level)"),
    rounds: int = typer.Option(1, "--rounds", min=1, max=10, help="repeat the sweep, levels interleaved; median"),
    out: Path = typer.Option(..., "--out", help="profile file to write (YAML)"),
) -> None:
    """Sweep the endpoint (streaming, client-side TTFT/TPOT), fit the model's efficiency terms, write a profile."""
    levels = parse_levels(concurrency, "--concurrency")
    held = parse_levels(holdout, "--holdout") if holdout else calibrating.default_holdout(levels)
    stack = load_spec(spec)
    resolved = resolve(stack, stack.deployment(deployment))
    total = rounds * sum(max(c, requests_per_level) for c in levels)
    with Progress(TextColumn("sweeping"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task("requests", total=total)
        result = calibrating.calibrate(endpoint, model, resolved, levels, held, requests_per_level, prompt_tokens,
                                       output_tokens, progress=lambda n: bar.advance(task, n), rounds=rounds)
    atomic_write_text(out, calibration.to_yaml(result))
    console.print(profile_table(result))
    t = result.terms
    console.print(f"fitted: bandwidth efficiency {t.bandwidth_efficiency:.3f}, compute efficiency "
                  f"{t.compute_efficiency:.3f}, step overhead {t.step_overhead_s * 1e3:.2f} ms, per sequence "
                  f"{t.per_sequence_overhead_s * 1e6:.1f} us, API server {t.api_server_s * 1e3:.1f} ms "
                  f"({(t.api_server_serial_s or t.api_server_s) * 1e3:.1f} ms of it serial), busy-engine "
                  f"admission {t.busy_admission_s * 1e3:.1f} ms; "
                  f"KV cache {result.kv_cache_tokens or 'unknown'} tokens")
    console.print(f"wrote {out}; name it as deployments\\[{deployment}].profile to use it", highlight=False)


def profile_table(result: calibration.CalibratedProfile) -> Table:
    """Measured vs fitted per level (assess --write-profile prints the same table)."""
    table = Table(title=f"calibration: {result.model} at {result.endpoint}")
    for column in ("C", "fit", "out tok/s", "fitted", "err", "TTFT ms", "fitted", "err", "TPOT ms", "fitted", "err"):
        table.add_column(column)
    for level in result.levels:
        cells = [str(level.concurrency), "yes" if level.used_in_fit else "held out"]
        for measured, fitted, scale in ((level.measured_output_tokens_per_s, level.fitted_output_tokens_per_s, 1.0),
                                        (level.measured_ttft_mean_s, level.fitted_ttft_mean_s, 1e3),
                                        (level.measured_tpot_mean_s, level.fitted_tpot_mean_s, 1e3)):
            cells += [f"{measured * scale:.1f}", "-" if fitted is None else f"{fitted * scale:.1f}",
                      "-" if not fitted or not measured else f"{fitted / measured - 1:+.1%}"]
        table.add_row(*cells)
    return table
