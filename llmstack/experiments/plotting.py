"""Plots of simulated runs: load, replicas and latency over time (matplotlib, Agg backend, file output)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from llmstack.errors import LlmstackError
from llmstack.experiments.replay import Run


def plot_runs(runs: Sequence[Run], path: str | Path) -> Path:
    """Three stacked panels sharing the time axis: arrivals/s, replicas up (moves marked), TTFT p95 (s) per run."""
    try:
        import matplotlib
    except ImportError as exc:
        raise LlmstackError("plots need matplotlib", path="--plot",
                            hint="pip install 'pulumi-llmstack[plots]'") from exc

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, (load, replicas, latency) = plt.subplots(3, 1, figsize=(10, 8), sharex=True)
    first = runs[0].result
    minutes = [p.t / 60 for p in first.timeline]
    load.plot(minutes, [p.arrival_rate for p in first.timeline], color="black", linewidth=0.8)
    load.set_ylabel("arrivals / s")
    load.set_title(f"{first.deployment.name} on {first.trace_name}")
    slo = first.deployment.slo.ttft_p95_ms / 1000
    for run in runs:
        t = [p.t / 60 for p in run.result.timeline]
        label = f"{run.score.autoscaler} ({run.score.slo_attainment:.0%} in SLO, {run.score.gpu_hours:.1f} GPU-h)"
        replicas.step(t, [p.replicas_up for p in run.result.timeline], where="post", label=label)
        ttft = [p.signals.get("ttft_p95", math.nan) for p in run.result.timeline]
        latency.plot(t, ttft, linewidth=0.8, label=run.score.autoscaler)
        for move in run.result.moves:  # vertical and variant moves: where the new shape was asked for
            replicas.axvline(move.t / 60, color="grey", linestyle=":", linewidth=0.8)
            replicas.annotate(move.to_shape.label, (move.t / 60, 0), xycoords=("data", "axes fraction"),
                              fontsize=7, rotation=90, va="bottom")
    latency.axhline(slo, color="red", linestyle="--", linewidth=0.8, label="TTFT SLO")
    latency.set_yscale("log")
    replicas.set_ylabel("replicas up")
    latency.set_ylabel("TTFT p95 (s, 1 min)")
    latency.set_xlabel("minutes")
    replicas.legend(fontsize=8)
    latency.legend(fontsize=8)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp{path.suffix}")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)
    return path
