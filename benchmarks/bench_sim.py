"""Simulator speed: one hour of the Azure conversation trace over 50 static replicas (target < 10 s, one core).

Also writes the baselines comparison on the chat deployment of examples/stack.yaml.
Run: ``python benchmarks/bench_sim.py`` -> ``benchmarks/results/sim.json`` and ``benchmarks/results/baselines.md``.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llmstack.experiments import replay  # noqa: E402
from llmstack.fileio import atomic_write_text  # noqa: E402
from llmstack.sim import traces  # noqa: E402
from llmstack.sim.baselines import Static  # noqa: E402
from llmstack.sim.fleet import simulate  # noqa: E402
from llmstack.spec.loading import load_spec  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
BASELINE_RATE_SCALE = 0.75
BASELINES = ("static", "static:8", "hpa", "keda", "saturation", "oracle")


def bench_speed() -> dict[str, object]:
    stack = load_spec(ROOT / "examples" / "stack.yaml")
    trace = traces.load_trace("azure-conv")
    best = float("inf")
    result = None
    for _ in range(3):
        start = time.process_time()
        result = simulate(stack, "chat", trace, Static(50))
        best = min(best, time.process_time() - start)
    assert result is not None
    return {
        "trace": "azure-conv", "requests": len(trace.requests), "trace_duration_s": round(trace.duration_s, 1),
        "replicas": 50, "cpu_seconds": round(best, 3), "target_s": 10.0,
        "requests_per_s_simulated": round(len(trace.requests) / best, 1),
        "simulated_seconds_per_cpu_second": round(result.end_s / best, 1),
        "finished": len(result.finished), "python": platform.python_version(), "machine": platform.machine(),
    }


def baselines_table() -> str:
    stack = load_spec(ROOT / "examples" / "stack.yaml")
    trace = replay.prepare_trace("azure-conv", rate_scale=BASELINE_RATE_SCALE)
    runs = replay.replay(stack, "chat", trace, BASELINES)
    lines = [
        "# Baseline autoscalers: chat (Llama-3.1-8B AWQ on L4, SLO TTFT 1 s / TPOT 60 ms, replicas 1..8)",
        "",
        f"Trace: Azure LLM inference conversation trace, the full hour, rate x{BASELINE_RATE_SCALE} "
        f"({len(trace.requests)} requests, 2.4 to 6.3 req/s by minute). Start-up delay 120 s, "
        "signals every 15 s over 1 min, least-request balancing. `static` = replicas.initial (2).",
        "",
        "| autoscaler | in SLO | TTFT p50 s | TTFT p95 s | TPOT p95 s | GPU-h | cost $ | scale events "
        "| mean replicas | burst reaction s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        s = run.score
        react = "-" if s.burst_reaction_s is None else f"{s.burst_reaction_s:.0f}"
        lines.append(f"| {s.autoscaler} | {s.slo_attainment:.1%} | {s.ttft_p50_s:.2f} | {s.ttft_p95_s:.2f} | "
                     f"{s.tpot_p95_s:.3f} | {s.gpu_hours:.2f} | {s.cost:.2f} | {s.scale_events} | "
                     f"{s.mean_replicas:.1f} | {react} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    speed = bench_speed()
    atomic_write_text(RESULTS / "sim.json", json.dumps(speed, indent=2) + "\n")
    print(json.dumps(speed, indent=2))
    table = baselines_table()
    atomic_write_text(RESULTS / "baselines.md", table)
    print(table)


if __name__ == "__main__":
    main()
