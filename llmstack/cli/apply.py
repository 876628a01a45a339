"""``llmstack apply``: write the recommendations into ``llmstack:scaling`` and run Pulumi.

A transaction (:mod:`llmstack.policy.applying`): dry run by default (``pulumi preview`` of a
candidate configuration; the stack file is not touched);
``--yes`` runs ``pulumi up``; ``--config-only`` only writes the stack file; ``--approve-file``
applies exactly the recommendations in a reviewed file (``llmstack recommend --json`` output)
instead of reading Prometheus, refusing any whose ``current`` no longer matches. Each decision
is audited once (:class:`~llmstack.policy.audit.AuditEntry`): by the loop when Prometheus was
read, here for an approval file.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import typer

from llmstack.cli import _policy as opts
from llmstack.cli.app import app, err_console
from llmstack.cli.output import console, print_json
from llmstack.cli.prometheus_options import PrometheusOptions, prometheus_options
from llmstack.errors import ApplyError, LlmstackError, MetricsError, SpecError
from llmstack.policy import applying, loop
from llmstack.policy.audit import AuditEntry, AuditLog, Outcome
from llmstack.policy.context import StackContext, load_context
from llmstack.policy.recommendation import Recommendation, recommendation_from_json
from llmstack.policy.rules import Policy, load_policy
from llmstack.policy.state import ScalingState
from llmstack.spec.loading import read_text


def _approved(path: Path, current: dict[str, object]) -> list[Recommendation]:
    try:
        raw = json.loads(read_text(path, "approval file"))
    except (json.JSONDecodeError, RecursionError) as exc:
        raise SpecError(f"not JSON: {exc}", file=str(path)) from exc
    if not isinstance(raw, list):
        raise SpecError("an approval file is a JSON list of recommendations", file=str(path))
    recs = []
    for i, item in enumerate(raw):
        try:
            rec = recommendation_from_json(item)
        except (KeyError, TypeError, ValueError) as exc:
            raise SpecError(f"not a recommendation: {exc}", file=str(path), path=f"[{i}]") from exc
        if current.get(rec.deployment) != rec.current:
            raise LlmstackError(f"approval is stale: {rec.deployment} is now {current.get(rec.deployment)}, "
                                f"the approval was made for {rec.current}", file=str(path), path=f"[{i}]",
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
    on_output = None if as_json else (lambda line: err_console.print(line, highlight=False, markup=False))
    done: list[applying.ApplyResult] = []

    def run(recs: Sequence[Recommendation]) -> None:
        done.append(applying.apply(recs, ctx.project_dir, ctx.stack_name, mode=mode, on_output=on_output))

    audit = AuditLog(audit_log)
    if approve_file is not None:
        recs = _approved(approve_file, dict(ctx.current))
        _apply_approved(recs, run, audit, mode)
    else:
        recs = _apply_read(prom, ctx, load_policy(policy), run, audit, mode)
    if not recs:
        console.print("nothing to apply")
        return
    _show(done[0], recs, mode, ctx.stack.name, as_json)


def _apply_approved(recs: list[Recommendation], run: Callable[[Sequence[Recommendation]], None], audit: AuditLog,
                    mode: applying.Mode) -> None:
    """Apply reviewed recommendations; one audit entry each (``applied``/``dry-run`` or ``failed``)."""
    if not recs:
        return
    now = time.time()
    try:
        run(recs)
    except LlmstackError as exc:
        audit.append(AuditEntry(now, r.deployment, "failed", f"{r.reason}; apply failed: {exc.render()}",
                                r.to_json(), rule=r.rule) for r in recs)
        raise
    outcome: Outcome = "dry-run" if mode == "preview" else "applied"
    audit.append(AuditEntry(now, r.deployment, outcome, r.reason, r.to_json(), rule=r.rule, mode=mode) for r in recs)


def _apply_read(prom: PrometheusOptions, ctx: StackContext, policy: Policy,
                run: Callable[[Sequence[Recommendation]], None], audit: AuditLog,
                mode: applying.Mode) -> list[Recommendation]:
    """Read Prometheus, decide and apply in one cycle (the loop audits each decision once)."""
    if prom.url is None:
        raise LlmstackError("give --prometheus to read signals, or --approve-file with reviewed recommendations")
    result, _ = loop.run_once(prom.reader(), ctx.stack, policy, ScalingState(), time.time(), current=ctx.current,
                              apply=run, audit=audit, recording_rules=prom.recording_rules, apply_mode=mode)
    if result.read_error is not None:
        raise MetricsError(f"nothing applied: {result.read_error}")
    for w in result.warnings:
        err_console.print(f"[yellow]warning:[/] {w}", highlight=False, soft_wrap=True)
    if result.error is not None:
        raise ApplyError(f"nothing applied: {result.error}")
    return result.recommendations


def _show(outcome: applying.ApplyResult, recs: list[Recommendation], mode: applying.Mode, name: str,
          as_json: bool) -> None:
    if as_json:
        print_json({"config": str(outcome.config_path), "mode": mode, "scaling": outcome.scaling,
                    "preview_changes": dict(outcome.preview_changes), "up_changes": dict(outcome.up_changes),
                    "restored": outcome.restored, "recommendations": [r.to_json() for r in recs]})
        return
    console.print(opts.table(recs, [], f"{'applied' if mode != 'preview' else 'dry run'}: {name}"))
    if mode == "preview":
        console.print(f"preview: {dict(outcome.preview_changes)}; {outcome.config_path} left as it was "
                      "(run with --yes to apply)")
    elif mode == "up":
        console.print(f"applied: {dict(outcome.up_changes)}; {outcome.config_path} updated")
    else:
        console.print(f"{outcome.config_path} updated (llmstack:scaling); Pulumi not run")
