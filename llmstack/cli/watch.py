"""``llmstack watch``: the policy loop every interval, with the same guards; applies only with --yes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import typer

from llmstack.cli import _policy as opts
from llmstack.cli.app import app, err_console
from llmstack.cli.output import clean, console
from llmstack.cli.prometheus_options import PrometheusOptions, prometheus_options
from llmstack.fileio import atomic_write_text
from llmstack.policy import applying, loop
from llmstack.policy.audit import AuditLog
from llmstack.policy.context import load_context
from llmstack.policy.recommendation import Recommendation
from llmstack.policy.rules import load_policy
from llmstack.policy.state import load_state


@app.command()
@prometheus_options()
def watch(
    prom: PrometheusOptions,
    spec: Path | None = opts.SPEC,
    stack: str = opts.STACK,
    project_dir: Path = opts.PROJECT,
    policy: list[Path] = opts.POLICY,
    audit_log: Path = opts.AUDIT,
    state_file: Path = typer.Option(Path(".llmstack/state.json"), "--state-file", help="conditions and cooldowns"),
    interval: float = typer.Option(30.0, "--interval", min=1.0, help="seconds between cycles"),
    cycles: int | None = typer.Option(None, "--cycles", min=1, help="stop after this many cycles"),
    yes: bool = typer.Option(False, "--yes", help="apply with pulumi up (default: recommend and audit only)"),
    config_only: bool = typer.Option(False, "--config-only", help="apply by writing llmstack:scaling only"),
    as_json: bool = typer.Option(False, "--json", help="one JSON object per cycle on stdout (JSON lines)"),
) -> None:
    """Run recommend every --interval seconds; with --yes or --config-only also apply."""
    ctx = load_context(spec, stack, project_dir)
    mode: applying.Mode | None = "config-only" if config_only else ("up" if yes else None)

    def do_apply(recs: Sequence[Recommendation]) -> None:
        assert mode is not None
        applying.apply(recs, ctx.project_dir, ctx.stack_name, mode=mode)

    def show(result: loop.CycleResult) -> None:
        if as_json:
            print(json.dumps(clean({"time": result.now, "applied": result.applied, "warnings": result.warnings,
                                    "recommendations": [r.to_json() for r in result.recommendations]})), flush=True)
            return
        for w in result.warnings:
            err_console.print(f"[yellow]warning:[/] {w}", highlight=False, soft_wrap=True)
        if result.recommendations:
            console.print(opts.table(result.recommendations, [], "applied" if result.applied else "recommended"))

    loop.watch(prom.reader(), ctx.stack, load_policy(policy), interval_s=interval, state=load_state(state_file),
               current=ctx.current, apply=do_apply if mode else None, audit=AuditLog(audit_log), cycles=cycles,
               on_cycle=show, on_state=lambda s: atomic_write_text(state_file, json.dumps(s.to_json())),
               recording_rules=prom.recording_rules)
