"""``llmstack apply``: write the recommendations into ``llmstack:scaling`` and run Pulumi.

Dry run by default (``pulumi preview`` with the new config, then the old file back);
``--yes`` runs ``pulumi up``; ``--config-only`` only writes the stack file; ``--approve-file``
applies exactly the recommendations in a reviewed file (``llmstack recommend --json`` output)
instead of reading Prometheus, refusing any whose ``current`` no longer matches.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from llmstack.cli import _policy as opts
from llmstack.cli.app import app, err_console
from llmstack.cli.output import console, print_json
from llmstack.cli.prometheus_options import PrometheusOptions, prometheus_options
from llmstack.errors import LlmstackError
from llmstack.policy import applying, loop
from llmstack.policy.audit import AuditLog
from llmstack.policy.context import load_context
from llmstack.policy.recommendation import Recommendation, recommendation_from_json
from llmstack.policy.rules import load_policy
from llmstack.policy.state import ScalingState


def _approved(path: Path, current: dict[str, object]) -> list[Recommendation]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise LlmstackError(f"cannot read approval file: {exc}", path=str(path)) from exc
    if not isinstance(raw, list):
        raise LlmstackError("an approval file is a JSON list of recommendations", path=str(path))
    recs = []
    for i, item in enumerate(raw):
        try:
            rec = recommendation_from_json(item)
        except (KeyError, TypeError, ValueError) as exc:
            raise LlmstackError(f"not a recommendation: {exc}", path=f"{path}[{i}]") from exc
        if current.get(rec.deployment) != rec.current:
            raise LlmstackError(f"approval is stale: {rec.deployment} is now {current.get(rec.deployment)}, "
                                f"the approval was made for {rec.current}", path=f"{path}[{i}]",
                                hint="run `llmstack recommend --json` again and re-approve")
        recs.append(rec)
    return recs


def _require_pulumi_project(project_dir: Path) -> None:
    """Refuse a folder that is not a Pulumi project rather than create a stack file nobody deploys."""
    if not any((project_dir / name).is_file() for name in ("Pulumi.yaml", "Pulumi.yml")):
        raise LlmstackError(f"{str(project_dir)!r} holds no Pulumi.yaml", path="--project-dir",
                            hint="run in the Pulumi project (or `llmstack init DIR` to make one)")


@app.command()
@prometheus_options(url_required=False, url_help="Prometheus base URL")
def apply(
    prom: PrometheusOptions,
    spec: Path | None = opts.SPEC,
    stack: str = opts.STACK,
    project_dir: Path = opts.PROJECT,
    policy: list[Path] = opts.POLICY,
    audit_log: Path = opts.AUDIT,
    yes: bool = typer.Option(False, "--yes", help="run pulumi up (default: preview only)"),
    approve_file: Path | None = typer.Option(None, "--approve-file", help="apply these reviewed recommendations"),
    config_only: bool = typer.Option(False, "--config-only", help="only write llmstack:scaling, no Pulumi"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Write recommendations into Pulumi.<stack>.yaml and preview (default) or apply them (--yes)."""
    _require_pulumi_project(project_dir)
    ctx = load_context(spec, stack, project_dir)
    mode: applying.Mode = "config-only" if config_only else ("up" if yes else "preview")
    audit = AuditLog(audit_log)
    if approve_file is not None:
        recs = _approved(approve_file, dict(ctx.current))
    else:
        if prom.url is None:
            raise LlmstackError("give --prometheus to read signals, or --approve-file with reviewed recommendations")
        result, _ = loop.run_once(prom.reader(), ctx.stack, load_policy(policy), ScalingState(), time.time(),
                                  current=ctx.current, audit=audit, recording_rules=prom.recording_rules)
        for w in result.warnings:
            err_console.print(f"[yellow]warning:[/] {w}", highlight=False, soft_wrap=True)
        recs = result.recommendations
    if not recs:
        console.print("nothing to apply")
        return
    on_output = None if as_json else (lambda line: err_console.print(line, highlight=False, markup=False))
    now = time.time()
    try:
        outcome = applying.apply(recs, ctx.project_dir, ctx.stack_name, mode=mode, on_output=on_output)
    except LlmstackError as exc:
        audit.append({"t": now, "deployment": r.deployment, "outcome": "failed", "reason": exc.render(),
                      "recommendation": r.to_json()} for r in recs)
        raise
    label = {"config-only": "applied", "preview": "dry-run", "up": "applied"}[mode]
    audit.append({"t": now, "deployment": r.deployment, "outcome": label, "mode": mode, "reason": r.reason,
                  "recommendation": r.to_json()} for r in recs)
    summary = {"config": str(outcome.config_path), "mode": mode, "scaling": outcome.scaling,
               "preview_changes": dict(outcome.preview_changes), "up_changes": dict(outcome.up_changes),
               "restored": outcome.restored, "recommendations": [r.to_json() for r in recs]}
    if as_json:
        print_json(summary)
        return
    console.print(opts.table(recs, [], f"{'applied' if mode != 'preview' else 'dry run'}: {ctx.stack.name}"))
    if mode == "preview":
        console.print(f"preview: {dict(outcome.preview_changes)}; {outcome.config_path} left as it was "
                      "(run with --yes to apply)")
    elif mode == "up":
        console.print(f"applied: {dict(outcome.up_changes)}; {outcome.config_path} updated")
    else:
        console.print(f"{outcome.config_path} updated (llmstack:scaling); Pulumi not run")
