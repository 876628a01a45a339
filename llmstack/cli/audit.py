"""``llmstack audit``: show the policy engine's audit log."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from llmstack.cli import _policy as opts
from llmstack.cli.app import app
from llmstack.cli.output import console, print_json
from llmstack.policy import audit as audit_log


@app.command()
def audit(
    path: Path = opts.AUDIT,
    deployment: str | None = typer.Option(None, "--deployment", help="only this deployment"),
    outcome: str | None = typer.Option(None, "--outcome", help="only: " + ", ".join(audit_log.OUTCOMES)),
    last: int = typer.Option(50, "--last", min=1, help="show the last N entries"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Every decision the engine made: applied, dry-run, skipped with reason, refused for bad data."""
    entries = [e for e in audit_log.read(path)
               if (deployment is None or e.get("deployment") == deployment)
               and (outcome is None or e.get("outcome") == outcome)][-last:]
    if as_json:
        print_json(entries)
        return
    table = Table(title=f"audit: {path}")
    for column in ("time", "deployment", "outcome", "change", "reason"):
        table.add_column(column, overflow="fold")
    for e in entries:
        rec = e.get("recommendation") or {}
        change = ""
        if rec:
            c, p = rec["current"], rec["proposed"]
            change = ", ".join(f"{k} {c[k]} -> {p[k]}" for k in p if p[k] != c[k])
        table.add_row(str(e.get("time", e.get("t", ""))), str(e.get("deployment", "")), str(e.get("outcome", "")),
                      change, str(e.get("reason", "")))
    console.print(table)
