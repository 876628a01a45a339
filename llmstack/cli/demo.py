"""``llmstack demo``: the whole loop on 127.0.0.1, with a live view and a summary at the end."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from types import FrameType

import typer
from rich.console import Console
from rich.live import Live

from llmstack import data
from llmstack.cli.app import app, err_console
from llmstack.cli.output import console, print_json
from llmstack.demo import engines, report, view
from llmstack.demo.run import Demo, DemoOptions, DemoResult


@app.command()
def demo(
    spec: Path = typer.Option(data.example(), "--spec", show_default=False,
                              help="stack spec YAML (default: the packaged examples/stack.yaml)"),
    policy: list[Path] | None = typer.Option(None, "--policy", show_default=False,
                                             help="policy files, merged in order (default: the packaged "
                                                  "policies/default.yaml and policies/demo.yaml, and "
                                                  "policies/demo-vllm.yaml with --engine vllm)"),
    duration: float = typer.Option(150.0, "--duration", min=5.0, help="wall seconds of load"),
    speed: float | None = typer.Option(None, "--speed", min=1.0, max=50.0,
                                       help="simulated seconds per wall second (default 10; 1 for --engine vllm)"),
    burst: float = typer.Option(3.0, "--burst", min=1.0, help="rate multiplier in the second quarter (1: no burst)"),
    rate: float | None = typer.Option(None, "--rate", min=0.01,
                                      help="base req/s (simulated) of the first deployment (default 1; 0.4 for vllm)"),
    background_rate: float = typer.Option(0.3, "--background-rate", min=0.01,
                                          help="req/s (simulated) of the other deployments"),
    max_prompt_tokens: int = typer.Option(2048, "--max-prompt-tokens", min=0,
                                          help="clip prompts to this many tokens (0: no clipping)"),
    interval: float = typer.Option(2.0, "--interval", min=0.5, help="wall seconds between policy cycles"),
    workdir: Path = typer.Option(Path(".llmstack/demo"), "--workdir", help="configs, logs, stack file, plot"),
    plot: Path | None = typer.Option(None, "--plot", help="PNG path (default: <workdir>/demo.png)"),
    seed: int = typer.Option(0, "--seed", help="seed of the trace thinning and burst"),
    as_json: bool = typer.Option(False, "--json", help="no live view; print the summary as JSON"),
    engine: str = typer.Option("sim", "--engine", help="sim: simulated replicas; vllm: real CPU vLLM engines "
                               "(1-3 replicas of a tiny model; needs scripts/bootstrap.sh --engine)"),
    scale_to_zero: bool = typer.Option(True, "--scale-to-zero/--no-scale-to-zero",
                                       help="the last background deployment idles to zero replicas mid-run and "
                                            "wakes on the requests the router holds (simulated replicas only)"),
) -> None:
    """vLLM replicas (simulated, or real CPU engines with --engine vllm), HAProxy, Prometheus and the policy
    engine scaling them under a replayed trace."""
    real = engine == "vllm"
    policies = policy or [data.policy("default.yaml"), data.policy("demo.yaml"),
                          *([data.policy(engines.VLLM_POLICY.name)] if real else [])]
    speed = speed if speed is not None else (1.0 if real else 10.0)
    options = DemoOptions(spec=spec, policies=tuple(policies), workdir=workdir, duration_s=duration, speed=speed,
                          burst=burst, rate=rate if rate is not None else (0.4 if real else 1.0), engine=engine,
                          background_rate=background_rate, interval_s=interval, seed=seed,
                          max_prompt_tokens=max_prompt_tokens or None, scale_to_zero=scale_to_zero,
                          plot=plot if plot is not None else workdir / "demo.png")
    run = Demo(options)
    if real:
        err_console.print(f"demo: starting {engines.describe('vllm')}; a real engine takes 35-130 s to start",
                          highlight=False, soft_wrap=True)
    result = _run(run, live=not as_json)
    if as_json:
        print_json(result.summary)
    else:
        _print_summary(result, speed)
    _exit(result)


def _run(run: Demo, *, live: bool) -> DemoResult:
    """Run the demo with Ctrl-C and SIGTERM stopping it cleanly (and, with ``live``, the live view)."""

    def stop(signum: int, frame: FrameType | None) -> None:
        run.stop.set()

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        return _run_live(run) if live else run.run()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _run_live(run: Demo) -> DemoResult:
    screen = Console(stderr=True)
    with Live(console=screen, refresh_per_second=2, transient=False) as live:
        def tick(d: Demo) -> None:
            live.update(view.render(d.stack, d.timeline.snapshot(), elapsed_wall_s=time.time() - d.started_wall,
                                    duration_s=d.options.duration_s, speed=d.options.speed,
                                    replicas=d.replicas(),
                                    header=f"engine: {engines.describe(d.engine)}\n"
                                           f"workdir {d.workdir}  router http://127.0.0.1:{d.ports.router}  "
                                           f"prometheus {d.monitoring.url}"))
        return run.run(on_tick=tick)


def _print_summary(result: DemoResult, speed: float) -> None:
    title = (f"llmstack demo: {result.summary['simulated_s'] / 60:.1f} simulated minutes at x{speed:g}"
             + (" (interrupted)" if result.interrupted else ""))
    console.print(report.summary_table(result.rows, title))
    console.print(f"engine: {result.summary['engine_detail']}", highlight=False)
    if result.summary.get("policy_note"):
        console.print(f"policy: {result.summary['policy_note']}", highlight=False)
    console.print(f"stack file {result.summary['stack_file']}, audit log {result.summary['audit_log']}"
                  + (f", plot {result.plot}" if result.plot else ""), highlight=False)


def _exit(result: DemoResult) -> None:
    """Errors during the run to stderr; exit 130 when interrupted, 1 after errors."""
    for error in result.summary["errors"]:
        err_console.print(f"[red]error during the run:[/] {error}", highlight=False)
    if result.interrupted:
        sys.exit(130)
    if result.summary["errors"]:
        sys.exit(1)
