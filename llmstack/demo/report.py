"""The end of a demo run: the summary (numbers, JSON, a rich table) and the PNG plot.

Client-side latencies are measured by the load generator in wall seconds and reported in
simulated seconds (x speed), like everything else; a request meets the SLO when it
succeeded and its client-side TTFT is within the deployment's ``ttft_p95_ms``.
Replica-seconds integrate the replica count over simulated time; GPU-hours multiply them by
the GPUs per replica, cost by the pool's price per GPU-hour.
"""

from __future__ import annotations

import importlib.util
import itertools
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.table import Table

from llmstack.demo.load_process import Outcome
from llmstack.demo.timeline import Timeline
from llmstack.spec.models import StackSpec


@dataclass(frozen=True)
class DeploymentSummary:
    deployment: str
    requests_sent: int
    requests_ok: int
    ttft_p50_s: float | None
    ttft_p95_s: float | None
    slo_ttft_s: float
    slo_attainment: float | None
    scale_outs: int
    scale_ins: int
    replicas_initial: int
    replicas_peak: int
    replicas_final: int
    replica_seconds: float
    gpu_hours: float
    cost: float
    cold_starts: int = 0
    """Wakes from zero replicas (0 -> n)."""
    held_requests: int = 0
    """Requests that arrived while the deployment had no replica (the router held them)."""
    held_ttft_p95_s: float | None = None
    failures: Mapping[str, int] = field(default_factory=dict)
    """Failed requests by cause: the HTTP status, or the client's error (e.g. ``RemoteProtocolError``)."""

    def to_json(self) -> dict[str, Any]:
        def r(value: float | None, digits: int = 3) -> float | None:
            return None if value is None else round(value, digits)

        return {"deployment": self.deployment, "requests_sent": self.requests_sent,
                "requests_succeeded": self.requests_ok, "ttft_p50_s": r(self.ttft_p50_s),
                "ttft_p95_s": r(self.ttft_p95_s), "slo_ttft_s": self.slo_ttft_s,
                "slo_attainment": r(self.slo_attainment, 4), "scale_outs": self.scale_outs,
                "scale_ins": self.scale_ins, "replicas_initial": self.replicas_initial,
                "replicas_peak": self.replicas_peak, "replicas_final": self.replicas_final,
                "replica_seconds": round(self.replica_seconds, 1), "gpu_hours": round(self.gpu_hours, 4),
                "cost": round(self.cost, 4), "cold_starts": self.cold_starts, "held_requests": self.held_requests,
                "held_ttft_p95_s": r(self.held_ttft_p95_s), "failures": dict(sorted(self.failures.items()))}


def quantile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank quantile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def replica_seconds(initial: int, changes: Sequence[tuple[float, int]], end_s: float) -> float:
    """Integral of the replica count over [0, end_s]; ``changes`` are (time, new count), sorted."""
    total, count, last = 0.0, initial, 0.0
    for t, after in changes:
        t = min(max(t, last), end_s)
        total += count * (t - last)
        count, last = after, t
    return total + count * max(0.0, end_s - last)


def summarize(stack: StackSpec, timeline: Timeline, speed: float, end_s: float) -> list[DeploymentSummary]:
    """One summary per deployment that ran (pure)."""
    out: list[DeploymentSummary] = []
    for name, initial in timeline.initial.items():
        d = stack.deployment(name)
        pool = stack.pool(d.pool)
        mine = [o for o in timeline.outcomes if o.deployment == name]
        ok = [o for o in mine if o.status == 200 and o.ttft_s is not None]
        ttfts = [o.ttft_s * speed for o in ok if o.ttft_s is not None]
        slo = d.slo.ttft_p95_ms / 1000
        changes = sorted((c for c in timeline.changes if c.deployment == name), key=lambda c: c.t_s)
        counts = [initial, *(c.after for c in changes)]
        seconds = replica_seconds(initial, [(c.t_s, c.after) for c in changes], end_s)
        gpus = d.gpus_per_replica
        gpu_hours = seconds * gpus / 3600
        out.append(DeploymentSummary(
            deployment=name, requests_sent=len(mine), requests_ok=len(ok), ttft_p50_s=quantile(ttfts, 0.5),
            ttft_p95_s=quantile(ttfts, 0.95), slo_ttft_s=slo,
            slo_attainment=(sum(1 for t in ttfts if t <= slo) / len(mine)) if mine else None,
            scale_outs=sum(1 for c in changes if c.kind == "out"), scale_ins=sum(1 for c in changes if c.kind == "in"),
            replicas_initial=initial, replicas_peak=max(counts), replicas_final=counts[-1], replica_seconds=seconds,
            gpu_hours=gpu_hours, cost=pool.cost_per_hour(gpu_hours), failures=failure_causes(mine),
            **held_summary(mine, initial, [(c.t_s, c.after) for c in changes], speed)))
    return out


def at_zero(initial: int, changes: Sequence[tuple[float, int]], t_s: float) -> bool:
    """Whether the replica count was 0 at ``t_s`` (``changes``: (time, new count), sorted)."""
    count = initial
    for t, after in changes:
        if t > t_s:
            break
        count = after
    return count == 0


def held_summary(outcomes: Sequence[Outcome], initial: int, changes: Sequence[tuple[float, int]],
                 speed: float) -> dict[str, Any]:
    """Cold starts, the requests that arrived at zero replicas, and their TTFT p95 (simulated seconds)."""
    counts = [initial, *(after for _, after in changes)]
    held = [o for o in outcomes if at_zero(initial, changes, o.arrival_s)]
    ttfts = [o.ttft_s * speed for o in held if o.status == 200 and o.ttft_s is not None]
    return {"cold_starts": sum(1 for before, after in itertools.pairwise(counts) if before == 0 < after),
            "held_requests": len(held), "held_ttft_p95_s": quantile(ttfts, 0.95)}


def failure_causes(outcomes: Sequence[Outcome]) -> dict[str, int]:
    """Failed requests counted by cause: the client's error name, else the HTTP status."""
    causes = [o.error or str(o.status) for o in outcomes if o.status != 200 or o.ttft_s is None]
    return dict(Counter(causes))


def _fmt(value: float | None, spec: str = ".2f", suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


def summary_table(rows: Sequence[DeploymentSummary], title: str) -> Table:
    table = Table(title=title)
    for column in ("deployment", "requests sent", "succeeded", "TTFT p50", "TTFT p95", "SLO", "in SLO",
                   "scale-outs", "scale-ins", "replicas (start/peak/end)", "replica-s", "GPU-h", "cost"):
        table.add_column(column, justify="left" if column == "deployment" else "right")
    for s in rows:
        table.add_row(s.deployment, str(s.requests_sent), str(s.requests_ok), _fmt(s.ttft_p50_s, ".2f", " s"),
                      _fmt(s.ttft_p95_s, ".2f", " s"), f"{s.slo_ttft_s:.2f} s",
                      _fmt(None if s.slo_attainment is None else 100 * s.slo_attainment, ".1f", " %"),
                      str(s.scale_outs), str(s.scale_ins),
                      f"{s.replicas_initial}/{s.replicas_peak}/{s.replicas_final}", f"{s.replica_seconds:.0f}",
                      f"{s.gpu_hours:.3f}", f"${s.cost:.2f}")
    if len(rows) > 1:
        sent = sum(s.requests_sent for s in rows)
        met = sum((s.slo_attainment or 0.0) * s.requests_sent for s in rows)
        table.add_row("total", str(sent), str(sum(s.requests_ok for s in rows)), "", "", "",
                      _fmt(100 * met / sent if sent else None, ".1f", " %"),
                      str(sum(s.scale_outs for s in rows)), str(sum(s.scale_ins for s in rows)), "",
                      f"{sum(s.replica_seconds for s in rows):.0f}", f"{sum(s.gpu_hours for s in rows):.3f}",
                      f"${sum(s.cost for s in rows):.2f}", style="bold")
    return table


def can_plot() -> bool:
    """Whether matplotlib (the ``plots`` extra: ``pip install 'pulumi-llmstack[plots]'``) is installed."""
    return importlib.util.find_spec("matplotlib") is not None


def plot(stack: StackSpec, timeline: Timeline, path: Path, bin_s: float = 30.0) -> Path:
    """Load (client arrivals and Prometheus' rate), replicas and TTFT p95 per deployment over simulated minutes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (load, replicas, latency) = plt.subplots(3, 1, figsize=(10, 8), sharex=True)
    for index, name in enumerate(timeline.initial):
        color = f"C{index}"
        mine = [o.arrival_s for o in timeline.outcomes if o.deployment == name]
        if mine:
            bins = int(max(mine) // bin_s) + 1
            counts = [0] * bins
            for arrival in mine:
                counts[int(arrival // bin_s)] += 1
            load.step([i * bin_s / 60 for i in range(bins)], [c / bin_s for c in counts], where="post",
                      color=color, label=f"{name}: sent")
        points = [p for p in timeline.points if p.deployment == name]
        minutes = [p.t_s / 60 for p in points]
        load.plot(minutes, [math.nan if p.request_rate is None else p.request_rate for p in points], linewidth=0.8,
                  linestyle=":", color=color, label=f"{name}: Prometheus")
        steps = _replica_steps(timeline, name)
        replicas.step([s / 60 for s, _ in steps], [n for _, n in steps], where="post", color=color, label=name)
        ttft = [math.nan if p.ttft_p95_s is None else p.ttft_p95_s for p in points]
        latency.plot(minutes, ttft, linewidth=0.9, color=color, label=f"{name} TTFT p95")
        latency.axhline(stack.deployment(name).slo.ttft_p95_ms / 1000, color=color, linestyle="--",
                        linewidth=0.8, label=f"{name} SLO")
    load.set_ylabel("requests / s")
    load.set_title(f"llmstack demo: {stack.name}")
    replicas.set_ylabel("replicas")
    latency.set_ylabel("TTFT p95 (s)")
    latency.set_xlabel("simulated minutes")
    for axis in (load, replicas, latency):
        axis.legend(fontsize=7, loc="upper right")
        axis.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _replica_steps(timeline: Timeline, name: str) -> list[tuple[float, int]]:
    steps = [(0.0, timeline.initial[name])]
    for c in sorted((c for c in timeline.changes if c.deployment == name), key=lambda c: c.t_s):
        steps.append((c.t_s, c.after))
    end = max((p.t_s for p in timeline.points), default=0.0)
    steps.append((max(end, steps[-1][0]), steps[-1][1]))
    return steps


def targets_followed(timeline: Timeline) -> dict[str, Any]:
    """For every replica added by a scale-out: did Prometheus list it (and healthy), and when."""
    out: dict[str, Any] = {}
    for change in timeline.changes:
        if change.kind != "out":
            continue
        for port in change.added:
            seen = timeline.targets.get(change.deployment, {}).get(port)
            out[f"{change.deployment}:{port}"] = {
                "added_t_s": round(change.t_s, 1), "seen": seen is not None,
                "healthy": bool(seen and seen.healthy),
                "seen_after_s": None if seen is None else round(max(0.0, seen.first_t_s - change.t_s), 1)}
    return out


def decisions_json(timeline: Timeline) -> list[dict[str, object]]:
    """Every decision that was not a plain hold."""
    return [d.to_json() for d in timeline.decisions if d.outcome != "hold"]


def totals(rows: Sequence[DeploymentSummary]) -> Mapping[str, float | int]:
    return {"requests_sent": sum(s.requests_sent for s in rows),
            "requests_succeeded": sum(s.requests_ok for s in rows),
            "scale_outs": sum(s.scale_outs for s in rows), "scale_ins": sum(s.scale_ins for s in rows),
            "replica_seconds": round(sum(s.replica_seconds for s in rows), 1),
            "gpu_hours": round(sum(s.gpu_hours for s in rows), 4), "cost": round(sum(s.cost for s in rows), 4)}
