"""The live view: one rich renderable built from a timeline snapshot (pure; the caller refreshes it).

Per deployment: load (the policy's request rate, simulated req/s), replicas, TTFT p95
against the SLO, KV-cache use, cost per hour and the latest decision; below, the recent
scaling decisions with their reasons and any warning of the last cycle.
"""

from __future__ import annotations

from collections.abc import Mapping

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from llmstack.demo.timeline import Timeline
from llmstack.spec.models import StackSpec

RECENT = 8


def _ttft(value: float | None, slo: float) -> Text:
    if value is None:
        return Text("-", style="dim")
    style = "green" if value <= 0.8 * slo else ("yellow" if value <= slo else "bold red")
    return Text(f"{value:.2f} s / {slo:.2f} s", style=style)


def render(stack: StackSpec, timeline: Timeline, *, elapsed_wall_s: float, duration_s: float, speed: float,
           replicas: Mapping[str, int], header: str = "") -> Group:
    """The whole screen for one refresh."""
    latest = timeline.latest()
    last_decision = {}
    for d in timeline.decisions:
        last_decision[d.deployment] = d
    sent = len(timeline.outcomes)
    ok = sum(1 for o in timeline.outcomes if o.status == 200)
    title = (f"llmstack demo  {elapsed_wall_s:5.0f}/{duration_s:.0f} s wall  x{speed:g} = "
             f"{elapsed_wall_s * speed / 60:5.1f} simulated min  requests {ok}/{sent} ok  "
             f"policy cycles {timeline.cycles}")
    table = Table(title=title, title_justify="left", expand=True)
    for column in ("deployment", "load req/s", "replicas", "TTFT p95 / SLO", "KV cache", "queue", "$/h"):
        table.add_column(column, no_wrap=True, justify="left" if column == "deployment" else "right")
    table.add_column("last decision", overflow="fold", ratio=1)
    for name, count in replicas.items():
        point = latest.get(name)
        slo = stack.deployment(name).slo.ttft_p95_ms / 1000
        decision = last_decision.get(name)
        table.add_row(
            name,
            "-" if point is None or point.request_rate is None else f"{point.request_rate:.2f}",
            str(count),
            _ttft(None if point is None else point.ttft_p95_s, slo),
            "-" if point is None or point.kv_cache_usage is None else f"{point.kv_cache_usage:.0%}",
            "-" if point is None or point.queue_length is None else f"{point.queue_length:.0f}",
            "-" if point is None else f"{point.cost_per_hour:.2f}",
            "-" if decision is None else Text(" ".join(
                x for x in (f"[{decision.outcome}]", decision.change, decision.reason) if x)),
        )
    recent = Table(title="scaling decisions", title_justify="left", expand=True, show_header=True)
    for column in ("sim min", "deployment", "outcome", "change", "rule"):
        recent.add_column(column, no_wrap=True)
    recent.add_column("reason", overflow="fold", ratio=1)
    acted = [d for d in timeline.decisions if d.outcome not in ("hold",)][-RECENT:]
    for d in acted:
        style = {"applied": "green", "failed": "red", "refused": "yellow"}.get(d.outcome, "")
        recent.add_row(f"{d.t_s / 60:.1f}", d.deployment, Text(d.outcome, style=style), Text(d.change), Text(d.rule),
                       Text(d.reason))
    parts: list[object] = []
    if header:
        parts.append(Text(header, style="dim"))
    parts += [table, recent]
    if timeline.warnings:
        parts.append(Panel(Text("\n".join(timeline.warnings[-3:])), title="warnings", border_style="yellow"))
    return Group(*parts)  # type: ignore[arg-type]
