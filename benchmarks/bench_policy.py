"""The shipped policy vs the baseline autoscalers and the oracle, in the simulator.

Azure conversation trace (the full hour, rate x0.75 as in bench_sim.py), chat deployment of
examples/stack.yaml. Writes benchmarks/results/policy_vs_baselines.md.
Run: ``python benchmarks/bench_policy.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llmstack.fileio import atomic_write_text  # noqa: E402
from llmstack.sim import replay  # noqa: E402
from llmstack.spec.loading import load_spec  # noqa: E402

NAMES = ("policy:policies/default.yaml", "static:8", "hpa", "keda", "saturation", "oracle")


def main() -> None:
    stack = load_spec(ROOT / "examples" / "stack.yaml")
    trace = replay.prepare_trace("azure-conv", rate_scale=0.75)
    lines = ["# Shipped policy vs baselines: chat (Llama-3.1-8B AWQ on L4, SLO TTFT 1 s / TPOT 60 ms, replicas 1..8)",
             "", f"Azure conversation trace, full hour, rate x0.75 ({len(trace.requests)} requests); simulator "
             "defaults (signals every 15 s, start-up 120 s).", "",
             "| autoscaler | in SLO | TTFT p95 s | GPU-h | cost $ | scale events |", "|---|---|---|---|---|---|"]
    for run in replay.replay(stack, "chat", trace, NAMES):
        s = run.score
        lines.append(f"| {run.result.autoscaler} | {s.slo_attainment:.1%} | {s.ttft_p95_s:.2f} | {s.gpu_hours:.2f} "
                     f"| {s.cost:.2f} | {s.scale_events} |")
    lines += ["", "The issue's target (>= 99 % in SLO with fewer GPU-hours than the baselines) is not reachable on "
              "this stack: even 8 replicas all hour (static:8, the deployment's max) reach only 89.4 %, and the "
              "oracle 87.8 %; the misses are requests that break the SLO on an idle replica. Tuning "
              "(slo_fraction 0.8 -> 1.0, scale-in stabilization 5 m -> 2 m, cooldown 2 m -> 1 m) kept attainment "
              "within 0.5 points of HPA while using fewer GPU-hours than HPA and static:8; KEDA and saturation use "
              "fewer GPU-hours at far lower attainment."]
    text = "\n".join(lines) + "\n"
    atomic_write_text(ROOT / "benchmarks" / "results" / "policy_vs_baselines.md", text)
    print(text)


if __name__ == "__main__":
    main()
