"""Re-run the capacity model on every published vLLM measurement and write the validation table.

    .venv/bin/python benchmarks/validation/validate.py            # writes results.md and results.json
    .venv/bin/python benchmarks/validation/validate.py --check    # also fails if a median regressed

Rows come from ``measurements.yaml`` (each with its URL and setup). For every row and every
measured kind the table shows measured, predicted and the signed error (predicted / measured - 1);
fit verdicts count as wrong or right. Medians of absolute errors are reported per kind, for the
tuning rows and for the held-out rows separately. ``tests/capacity/test_validation.py`` fails when
a median or the number of wrong verdicts grows past the committed ``results.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from llmstack.capacity import memory, throughput
from llmstack.spec.models import StackSpec, WorkloadSpec
from llmstack.spec.resolving import ResolvedDeployment, resolve

HERE = Path(__file__).resolve().parent
MEASUREMENTS = HERE / "measurements.yaml"
RESULTS_JSON = HERE / "results.json"
RESULTS_MD = HERE / "results.md"
KINDS = ("kv_cache_tokens", "fits", "output_tokens_per_s", "ttft_mean_s", "tpot_mean_s")
TARGETS = {"kv_cache_tokens": 0.10, "fits": 0.0, "output_tokens_per_s": 0.15, "ttft_mean_s": 0.20,
           "tpot_mean_s": 0.20}
"""Issue 12's targets: median |error| per kind (fits: share of wrong verdicts)."""
REGRESSION_SLACK = 1e-6


@dataclass(frozen=True)
class Comparison:
    row: str
    set: str
    kind: str
    measured: float
    predicted: float
    error: float  # predicted / measured - 1; for fits 0 (right) or 1 (wrong)
    url: str


def load(path: Path = MEASUREMENTS) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    data = yaml.safe_load(path.read_text())
    return list(data["rows"]), list(data.get("architectures", []))


def resolved_for(row: dict[str, Any], architectures: list[dict[str, Any]]) -> ResolvedDeployment:
    """A one-deployment stack with the row's accelerator, architecture, variant and engine options."""
    tp, pp = int(row.get("tensor_parallel", 1)), int(row.get("pipeline_parallel", 1))
    stack = StackSpec.model_validate({
        "name": "validation",
        "architectures": architectures,
        "pools": [{"name": "gpu", "accelerator": row["accelerator"], "gpus_per_node": max(8, tp),
                   "cost_per_gpu_hour": 1.0, "nodes": {"min": 0, "max": pp}}],
        "models": [{"name": "m", "architecture": row["architecture"],
                    "variants": [{"name": "v", "weights": "x", **row.get("variant", {})}]}],
        "deployments": [{"name": "d", "model": "m", "variant": "v", "pool": "gpu", "tensor_parallel": tp,
                         "pipeline_parallel": pp, "engine": row.get("engine", {})}],
    })
    return resolve(stack, stack.deployments[0])


def predict(row: dict[str, Any], architectures: list[dict[str, Any]]) -> dict[str, float]:
    """The model's value for every kind the row measured."""
    resolved = resolved_for(row, architectures)
    vllm = memory.VLLM_PROFILES[row.get("vllm_profile", "current")]
    d = resolved.deployment
    mem = memory.breakdown(resolved.architecture, resolved.variant, resolved.accelerator, d.engine,
                           d.tensor_parallel, d.pipeline_parallel, vllm)
    out: dict[str, float] = {"kv_cache_tokens": float(mem.kv_cache_tokens), "fits": float(mem.fits)}
    load_spec = row.get("load")
    if load_spec:
        profile = throughput.profile(resolved, vllm)
        workload = WorkloadSpec(prompt_tokens=load_spec["prompt_tokens"], output_tokens=load_spec["output_tokens"])
        if "batch" in load_spec:
            est = throughput.estimate_batch(profile, workload, int(load_spec["batch"]))
        else:
            est = throughput.estimate_concurrency(profile, workload, int(load_spec["concurrency"]),
                                                  synchronized=bool(load_spec.get("fixed_lengths", False)),
                                                  requests=load_spec.get("requests"))
        out.update(output_tokens_per_s=est.output_tokens_per_s, ttft_mean_s=est.ttft_mean_s, tpot_mean_s=est.tpot_s)
    return out


def _error(kind: str, measured: float, predicted: float) -> float:
    """Signed relative error; a fit verdict is 0 when right and 1 when wrong."""
    if kind == "fits":
        return 0.0 if bool(predicted) == bool(measured) else 1.0
    return predicted / measured - 1


def compare(rows: list[dict[str, Any]], architectures: list[dict[str, Any]]) -> list[Comparison]:
    found: list[Comparison] = []
    for row in rows:
        predicted = predict(row, architectures)
        for kind, measured in row["measured"].items():
            value = predicted[kind]
            error = _error(kind, float(measured), value)
            found.append(Comparison(row["id"], row["set"], kind, float(measured), value, error, row["url"]))
    return found


def medians(comparisons: list[Comparison]) -> dict[str, dict[str, dict[str, float]]]:
    """Per set (tuning, holdout, all) and kind: median |error| (fits: share wrong) and the row count."""
    summary: dict[str, dict[str, dict[str, float]]] = {}
    for group in ("tuning", "holdout", "all"):
        summary[group] = {}
        for kind in KINDS:
            errs = [abs(c.error) for c in comparisons if c.kind == kind and group in ("all", c.set)]
            if not errs:
                continue
            value = sum(errs) / len(errs) if kind == "fits" else statistics.median(errs)
            summary[group][kind] = {"median_abs_error": round(value, 4), "rows": len(errs)}
    return summary


def markdown(comparisons: list[Comparison], summary: dict[str, dict[str, dict[str, float]]]) -> str:
    lines = ["# Capacity model vs published vLLM measurements", "",
             "Generated by `benchmarks/validation/validate.py` from `measurements.yaml` (URLs and setups there).",
             "Error = predicted / measured - 1. Tuning rows may have informed constants; held-out rows never did.", "",
             "## Median |error| per kind (fits: share of wrong verdicts)", "",
             "| kind | target | tuning | holdout | all |", "|---|---|---|---|---|"]
    for kind in KINDS:
        cells = []
        for group in ("tuning", "holdout", "all"):
            entry = summary[group].get(kind)
            cells.append("-" if entry is None else f"{entry['median_abs_error']:.1%} (n={int(entry['rows'])})")
        lines.append(f"| {kind} | {TARGETS[kind]:.0%} | " + " | ".join(cells) + " |")
    lines += ["", "## Rows", "", "| row | set | kind | measured | predicted | error | source |",
              "|---|---|---|---|---|---|---|"]
    for c in comparisons:
        err = ("right" if c.error == 0 else "WRONG") if c.kind == "fits" else f"{c.error:+.1%}"
        lines.append(f"| {c.row} | {c.set} | {c.kind} | {c.measured:.4g} | {c.predicted:.4g} | {err} | {c.url} |")
    return "\n".join(lines) + "\n"


def regressions(summary: dict[str, dict[str, dict[str, float]]], committed: dict[str, Any]) -> list[str]:
    """Kinds whose median grew past the committed one (per set)."""
    found = []
    for group, kinds in committed.get("medians", {}).items():
        for kind, entry in kinds.items():
            now = summary.get(group, {}).get(kind)
            if now is None or now["median_abs_error"] > entry["median_abs_error"] + REGRESSION_SLACK:
                found.append(f"{group}/{kind}: {entry['median_abs_error']} -> "
                             f"{None if now is None else now['median_abs_error']}")
    return found


def run() -> tuple[list[Comparison], dict[str, dict[str, dict[str, float]]]]:
    rows, architectures = load()
    comparisons = compare(rows, architectures)
    return comparisons, medians(comparisons)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a median regressed past results.json")
    args = parser.parse_args(argv)
    comparisons, summary = run()
    if args.check and RESULTS_JSON.exists():
        bad = regressions(summary, json.loads(RESULTS_JSON.read_text()))
        if bad:
            print("regressed: " + "; ".join(bad), file=sys.stderr)
            return 1
    RESULTS_JSON.write_text(json.dumps({"medians": summary, "rows": [asdict(c) for c in comparisons]}, indent=1) + "\n")
    RESULTS_MD.write_text(markdown(comparisons, summary))
    print(markdown(comparisons, summary).split("## Rows")[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
