"""``llmstack assess``: what an existing environment is doing, where the bottleneck is, which lever helps."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import typer
from rich.table import Table

from llmstack import yaml_text
from llmstack.assess import analysis, hardware, observing
from llmstack.cli.app import app
from llmstack.cli.output import console, print_json
from llmstack.cli.prometheus_options import PrometheusOptions, prometheus_options
from llmstack.errors import LlmstackError
from llmstack.fileio import atomic_write_text
from llmstack.spec.loading import load_spec


def _pct(x: float) -> str:
    return "-" if not math.isfinite(x) else f"{x:.1%}"


@app.command()
@prometheus_options(url_required=False, url_help="Prometheus base URL of the environment", recording_rules=False)
def assess(
    prom: PrometheusOptions,
    spec: Path | None = typer.Option(None, "--spec", help="stack spec YAML describing the deployments"),
    window: str = typer.Option("1h", "--window", help="period to assess, a Prometheus duration (30m, 1h, 1d)"),
    nvidia_smi: Path | None = typer.Option(
        None, "--nvidia-smi", help="output of nvidia-smi --query-gpu=index,name,memory.total --format=csv"),
    nodes: Path | None = typer.Option(None, "--nodes", help="output of kubectl get nodes -o json"),
    starter_spec: Path | None = typer.Option(None, "--starter-spec", help="write a starter stack spec here"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Report SLO attainment, utilization, bottleneck, idle cost and the levers that would help most."""
    if not window[:-1].isdigit() or window[-1] not in "smhdw":
        raise LlmstackError(f"{window!r} is not a Prometheus duration", path="--window", hint="e.g. 30m, 1h, 1d")
    found: list[hardware.FoundPool] = []
    if nvidia_smi is not None:
        found += hardware.parse_nvidia_smi(nvidia_smi.read_text())
    if nodes is not None:
        found += hardware.parse_kubernetes_nodes(nodes.read_text())
    report: dict[str, object] = {}
    if found:
        report["hardware"] = [dataclasses.asdict(f) for f in found]
        if starter_spec is not None:
            atomic_write_text(starter_spec, yaml_text.dump(hardware.starter_spec(found)))
            report["starter_spec"] = str(starter_spec)
    elif starter_spec is not None:
        raise LlmstackError("a starter spec needs the hardware", path="--starter-spec",
                            hint="pass --nvidia-smi FILE or --nodes FILE")
    if prom.url is not None:
        if spec is None:
            raise LlmstackError("assessing deployments needs the stack spec", path="--spec")
        stack = load_spec(spec)
        seen = observing.observe(prom.reader(), stack, window)
        results = analysis.assess(stack, seen.observations)
        report["window"] = window
        report["queries"] = seen.queries
        report["deployments"] = [
            {**dataclasses.asdict(a), "observed": dataclasses.asdict(o),
             "slo_bounds_s": {"ttft": seen.bounds[a.deployment][0], "tpot": seen.bounds[a.deployment][1]},
             "calibrated_profile": stack.deployment(a.deployment).profile}
            for a, o in zip(results, seen.observations, strict=True)
        ]
    elif not found:
        raise LlmstackError("nothing to assess", hint="pass --prometheus URL --spec FILE, and/or --nvidia-smi/--nodes")
    if as_json:
        print_json(report)
        return
    _print(report)


def _print(report: dict[str, object]) -> None:
    for item in report.get("hardware", []):  # type: ignore[attr-defined]
        console.print(f"found {item['gpus_per_node']} x {item['product']} ({item['accelerator']}) "
                      f"on {item['nodes']} node(s)")
    if "starter_spec" in report:
        console.print(f"starter spec written to {report['starter_spec']}")
    for item in report.get("deployments", []):  # type: ignore[attr-defined]
        obs = item["observed"]
        console.print(
            f"\n[bold]{item['deployment']}[/]: SLO attainment {_pct(item['slo_attainment'])}, "
            f"{obs['request_rate']:.2f} req/s on {item['replicas']:.1f} replicas (needed: {item['replicas_needed']}), "
            f"GPU busy {_pct(obs['gpu_utilization'])}, cost ${item['cost_per_hour']:.2f}/h, "
            f"idle {item['idle_gpus']:.0f} GPU(s) = ${item['idle_cost_per_hour']:.2f}/h",
            highlight=False)
        console.print(f"bottleneck: [bold]{item['bottleneck']}[/] ({'; '.join(item['evidence'])})", highlight=False)
        if item.get("calibrated_profile"):
            console.print(f"speed from calibrated profile {item['calibrated_profile']}", highlight=False)
        table = Table(title="levers (capacity model, observed workload)")
        for column in ("lever", "change", "replicas", "$/h", "delta $/h", "req/s per replica", "why"):
            table.add_column(column, overflow="fold")
        for lever in item["levers"]:
            table.add_row(lever["name"], lever["change"], str(lever["replicas_needed"] or "-"),
                          "-" if lever["cost_per_hour"] is None else f"{lever['cost_per_hour']:.2f}",
                          "-" if lever["cost_delta_per_hour"] is None else f"{lever['cost_delta_per_hour']:+.2f}",
                          f"{lever['sustainable_rps_per_replica']:.2f}", lever["why"])
        console.print(table)
