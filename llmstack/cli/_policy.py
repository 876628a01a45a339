"""Options and helpers shared by ``recommend``, ``apply`` and ``watch`` (not a command module).

The Prometheus connection flags are :mod:`llmstack.cli.prometheus_options`.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from llmstack import data
from llmstack.policy.recommendation import Recommendation, Skip

SPEC = typer.Option(None, "--spec", help="stack spec YAML (default: llmstack:spec of the stack file)")
STACK = typer.Option("dev", "--stack", help="Pulumi stack name (reads Pulumi.<stack>.yaml)")
PROJECT = typer.Option(Path("."), "--project-dir", help="folder holding Pulumi.yaml")
POLICY = typer.Option([data.policy()], "--policy", show_default=False,
                      help="policy files, merged in order (default: the packaged policies/default.yaml)")
AUDIT = typer.Option(Path(".llmstack/audit.jsonl"), "--audit-log", help="append-only JSONL audit log")


def table(recs: list[Recommendation], skips: list[Skip], title: str) -> Table:
    t = Table(title=title)
    for column in ("deployment", "kind", "current", "proposed", "rule", "signals", "predicted", "conf.", "reason"):
        t.add_column(column, overflow="fold")
    for r in recs:
        cur, new = r.current, r.proposed
        t.add_row(r.deployment, r.kind, f"{cur.replicas}x {cur.variant}@{cur.pool} TP{cur.tensor_parallel}",
                  f"{new.replicas}x {new.variant}@{new.pool} TP{new.tensor_parallel}", r.rule,
                  ", ".join(f"{k}={v:.3g}" for k, v in r.signals.items()) + f" [{r.window}]",
                  r.predicted.text if r.predicted else "-", f"{r.confidence:.0%}", r.reason)
    for s in skips:
        t.add_row(s.deployment, "[red]refused[/]" if s.refused else "-", "", "", s.rule or "", "", "", "", s.reason)
    return t
