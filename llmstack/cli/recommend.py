"""``llmstack recommend``: read Prometheus once, print what the policy would change and why.

Exits 2 (one error line) when Prometheus cannot be read: an empty answer would look like
"nothing to change".
"""

from __future__ import annotations

import time
from pathlib import Path

import typer

from llmstack.cli import _policy as opts
from llmstack.cli.app import app, err_console
from llmstack.cli.output import console, print_json
from llmstack.cli.prometheus_options import PrometheusOptions, prometheus_options
from llmstack.errors import MetricsError
from llmstack.policy import loop
from llmstack.policy.audit import AuditLog
from llmstack.policy.context import load_context
from llmstack.policy.rules import load_policy
from llmstack.policy.state import ScalingState


@app.command()
@prometheus_options()
def recommend(
    prom: PrometheusOptions,
    spec: Path | None = opts.SPEC,
    stack: str = opts.STACK,
    project_dir: Path = opts.PROJECT,
    policy: list[Path] = opts.POLICY,
    audit_log: Path = opts.AUDIT,
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Recommendations (horizontal, vertical, variant) from the current signals; changes nothing."""
    ctx = load_context(spec, stack, project_dir)
    result, _ = loop.run_once(prom.reader(), ctx.stack, load_policy(policy), ScalingState(), time.time(),
                              current=ctx.current, audit=AuditLog(audit_log), recording_rules=prom.recording_rules)
    if result.read_error is not None:  # audited above; nothing to recommend from
        raise MetricsError(f"no recommendation: {result.read_error}")
    for w in result.warnings:
        err_console.print(f"[yellow]warning:[/] {w}", highlight=False, soft_wrap=True)
    if as_json:
        print_json([r.to_json() for r in result.recommendations])
        return
    console.print(opts.table(result.recommendations, result.skips, f"recommendations: {ctx.stack.name}"))
    for d in ctx.stack.deployments:
        if d.profile:
            console.print(f"{d.name}: model-based rule uses calibrated profile {d.profile}", highlight=False)
