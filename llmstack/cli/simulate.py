"""``llmstack simulate``: replay a trace through a simulated fleet under one or more autoscalers."""

from __future__ import annotations

import math
from pathlib import Path

import typer
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from llmstack.artifacts import haproxy
from llmstack.capacity import throughput
from llmstack.capacity.startup import startup_delay_s
from llmstack.cli.app import app, err_console
from llmstack.cli.output import console, print_json
from llmstack.errors import LlmstackError
from llmstack.experiments import replay as replaying
from llmstack.sim.fleet import FleetConfig
from llmstack.sim.traces import Trace
from llmstack.spec.loading import load_spec
from llmstack.spec.models import StackSpec
from llmstack.spec.resolving import resolve

BALANCERS = haproxy.STRATEGIES
"""Every strategy a router can declare; the simulator balances replicas the same way."""


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.{digits}f}"


@app.command()
def simulate(
    spec: Path = typer.Option(..., "--spec", help="stack spec YAML"),
    deployment: str = typer.Option(..., "--deployment", help="deployment to simulate"),
    trace: str = typer.Option(..., "--trace", help="trace file, builtin (azure-conv, azure-code) or synthetic spec"),
    time_slice: str | None = typer.Option(None, "--slice", help="time slice of the trace, e.g. 10m..40m"),
    rate_scale: float = typer.Option(1.0, "--rate-scale", help="multiply the request rate (keeps the duration)"),
    autoscaler: str = typer.Option("static", "--autoscaler",
                                   help="static[:N], hpa[:TARGET], keda[:THRESHOLD], saturation, oracle, policy:PATH"),
    compare: str | None = typer.Option(None, "--compare", help="comma-separated autoscalers to run side by side"),
    balancer: str = typer.Option("least_request", "--balancer", help=" | ".join(haproxy.STRATEGIES)),
    startup_delay: float | None = typer.Option(None, "--startup-delay", min=0,
                                               help="seconds from scale-out to ready (default: the capacity "
                                                    "model's estimate: pod start, weight load, warm-up)"),
    interval: float = typer.Option(15.0, "--interval", min=1, help="seconds between signal snapshots"),
    skip_bad_rows: bool = typer.Option(False, "--skip-bad-rows", help="skip malformed trace rows and count them"),
    seed: int = typer.Option(0, "--seed", help="seed of rate scaling"),
    plot: Path | None = typer.Option(None, "--plot", help="write load, replicas and latency over time to a PNG"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Score autoscalers on a trace: SLO attainment, latency percentiles, GPU-hours, cost, scale events."""
    if balancer not in BALANCERS:
        raise LlmstackError(f"unknown balancer {balancer!r}", path="--balancer", hint=", ".join(BALANCERS))
    stack = load_spec(spec)
    names = [n.strip() for n in compare.split(",") if n.strip()] if compare else [autoscaler]
    if startup_delay is None:
        startup_delay = startup_delay_s(throughput.profile(resolve(stack, stack.deployment(deployment))))
    config = FleetConfig(balancer=balancer, startup_delay_s=startup_delay, interval_s=interval)  # type: ignore[arg-type]
    source = replaying.prepare_trace(trace, time_slice=time_slice, rate_scale=rate_scale,
                                     skip_bad_rows=skip_bad_rows, seed=seed)
    runs = _replay_with_progress(stack, deployment, source, names, config)
    if plot is not None:
        from llmstack.experiments.plotting import plot_runs

        plot_runs(runs, plot)
    if as_json:
        data = [r.score.to_json() for r in runs]
        print_json(data[0] if len(data) == 1 and not compare else data)
        return
    console.print(_table(runs, f"simulation: {deployment} on {source.name} ({len(source.requests)} requests)"))
    if any(r.score.cold_starts or r.score.dropped or r.score.held_requests for r in runs):
        console.print(_zero_table(runs))
    notes = _notes(runs)
    calibrated = stack.deployment(deployment).profile
    if calibrated:
        notes.append(f"replica speed from calibrated profile {calibrated}")
    for note in notes:
        console.print(f"note: {note}")


def _replay_with_progress(stack: StackSpec, deployment: str, source: Trace, names: list[str],
                          config: FleetConfig) -> list[replaying.Run]:
    """The runs, with a progress bar per autoscaler on stderr (for traces of 2000 requests or more)."""
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), console=err_console, transient=True,
                  disable=len(source.requests) < 2000) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(name: str, done: int, total: int) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(f"simulating {name}", total=total)
            bar.update(tasks[name], completed=done)

        return replaying.replay(stack, deployment, source, names, config=config, progress=progress)


COLUMNS = ("autoscaler", "in SLO", "TTFT p50", "TTFT p95", "TTFT p99", "TPOT p50", "TPOT p95", "TPOT p99",
           "GPU-h", "cost", "scale events", "mean repl.", "max repl.", "preempt.", "burst react s")


def _table(runs: list[replaying.Run], title: str) -> Table:
    table = Table(title=title)
    for column in COLUMNS:
        table.add_column(column, justify="right")
    for run in runs:
        s = run.score
        table.add_row(s.autoscaler, f"{s.slo_attainment:.1%}", _fmt(s.ttft_p50_s), _fmt(s.ttft_p95_s),
                      _fmt(s.ttft_p99_s), _fmt(s.tpot_p50_s), _fmt(s.tpot_p95_s), _fmt(s.tpot_p99_s),
                      _fmt(s.gpu_hours, 2), _fmt(s.cost, 2), str(s.scale_events), _fmt(s.mean_replicas, 1),
                      str(s.max_replicas), str(s.preemptions), _fmt(s.burst_reaction_s, 0))
    return table


ZERO_COLUMNS = ("autoscaler", "cold starts", "held", "held TTFT p50", "held TTFT p95", "longest hold",
                "dropped", "hold timeout s")


def _zero_table(runs: list[replaying.Run]) -> Table:
    """Requests held at the router while no replica was ready (scale to zero, cold starts)."""
    table = Table(title="held at the router while no replica was ready")
    for column in ZERO_COLUMNS:
        table.add_column(column, justify="right")
    for run in runs:
        s = run.score
        table.add_row(s.autoscaler, str(s.cold_starts), str(s.held_requests), _fmt(s.held_ttft_p50_s, 1),
                      _fmt(s.held_ttft_p95_s, 1), _fmt(s.held_max_s, 1), str(s.dropped),
                      _fmt(s.hold_timeout_s, 0))
    return table


def _notes(runs: list[replaying.Run]) -> list[str]:
    """What the table does not say: rejected requests, skipped rows, unfinished requests."""
    first = runs[0].score
    notes = []
    if first.rejected_over_context:
        notes.append(f"{first.rejected_over_context} request(s) longer than the model's context were rejected "
                     "(counted as SLO misses)")
    if first.skipped_rows:
        notes.append(f"{first.skipped_rows} malformed trace row(s) skipped")
    draining = [f"{r.score.autoscaler} {r.score.drain_gpu_hours:.3f}" for r in runs if r.score.drain_gpu_hours > 0]
    if draining:
        notes.append(f"GPU-h include replicas finishing their requests after a scale-in: {', '.join(draining)}")
    dropped = [f"{r.score.autoscaler} {r.score.dropped}" for r in runs if r.score.dropped]
    if dropped:
        notes.append(f"dropped (held past the router's hold timeout, never served, SLO misses): {', '.join(dropped)}")
    for run in runs:
        for move in run.score.moves:
            notes.append(f"{run.score.autoscaler} moved at {move['t']:.0f} s: {move['from']} -> {move['to']} "
                         f"({move['rule']}: {move['why']})")
    if any(r.score.unfinished for r in runs):
        notes.append("some requests never finished (no replica to serve them)")
    return notes
