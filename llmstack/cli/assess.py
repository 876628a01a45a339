"""``llmstack assess``: what an existing environment is doing, where the bottleneck is, which lever helps."""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import typer
from rich.table import Table

from llmstack import yaml_text
from llmstack.assess import analysis, hardware, observing, profiling
from llmstack.capacity import profile as calibration
from llmstack.cli.app import app
from llmstack.cli.calibrate import parse_levels, profile_table
from llmstack.cli.output import console, print_json
from llmstack.cli.prometheus_options import PrometheusOptions, prometheus_options
from llmstack.errors import LlmstackError
from llmstack.fileio import atomic_write_text
from llmstack.spec.loading import load_spec
from llmstack.spec.models import StackSpec

UNITS_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


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
    write_profile: Path | None = typer.Option(
        None, "--write-profile", help="fit the capacity model to the window's history and write a profile here"),
    deployment: str | None = typer.Option(None, "--deployment", help="deployment to profile (default: the only one)"),
    level_step: str = typer.Option("1m", "--level-step", help="history window per load-level sample (10s, 1m)"),
    holdout: str | None = typer.Option(None, "--holdout", help="load levels (requests in flight) to measure but "
                                                                "not fit, e.g. 4,16 (default: fit every level)"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Report SLO attainment, utilization, bottleneck, idle cost and the levers that would help most."""
    window_s = _duration_s(window, "--window")
    step_s = _duration_s(level_step, "--level-step")
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
    if write_profile is not None and (prom.url is None or spec is None):
        raise LlmstackError("a profile is fitted from Prometheus history", path="--write-profile",
                            hint="pass --prometheus URL --spec FILE")
    if prom.url is not None:
        if spec is None:
            raise LlmstackError("assessing deployments needs the stack spec", path="--spec")
        stack = load_spec(spec)
        if write_profile is not None:
            held = parse_levels(holdout, "--holdout") if holdout else []
            report["profile"] = _write_profile(prom, stack, deployment, window, (window_s, step_s), held,
                                               write_profile)
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


def _duration_s(text: str, option: str) -> float:
    """Seconds of a Prometheus duration (``30s``, ``5m``, ``1h``, ``1d``, ``1w``); one error line otherwise."""
    if not text[:-1].isdigit() or text[-1] not in UNITS_S or int(text[:-1]) <= 0:
        raise LlmstackError(f"{text!r} is not a Prometheus duration", path=option, hint="e.g. 30s, 30m, 1h, 1d")
    return int(text[:-1]) * UNITS_S[text[-1]]


def _profiled_deployment(stack: StackSpec, name: str | None) -> str:
    if name is not None:
        return stack.deployment(name).name
    if len(stack.deployments) != 1:
        raise LlmstackError(f"the spec has {len(stack.deployments)} deployments; say which to profile",
                            path="--deployment", hint=", ".join(d.name for d in stack.deployments))
    return stack.deployments[0].name


def _write_profile(prom: PrometheusOptions, stack: StackSpec, deployment: str | None, window: str,
                   seconds: tuple[float, float], holdout: list[int], out: Path) -> dict[str, object]:
    """Fit the history, write the profile atomically (nothing written when the history is too thin)."""
    name = _profiled_deployment(stack, deployment)
    window_s, step_s = seconds
    end = time.time()
    reader = prom.reader()
    fitted = profiling.fit_history(reader, stack, name, end - window_s, end, step_s, where=reader.url,
                                   span=f"the last {window}", holdout=holdout)
    atomic_write_text(out, calibration.to_yaml(fitted.profile))
    return {"path": str(out), "deployment": name, "windows": fitted.windows,
            "busy_windows": fitted.grouping.busy_windows, "dropped_levels": fitted.grouping.thin_levels,
            **fitted.profile.model_dump(mode="json")}


def _print_profile(item: dict[str, object]) -> None:
    profile = calibration.CalibratedProfile.model_validate(
        {k: v for k, v in item.items() if k not in ("path", "deployment", "windows", "busy_windows",
                                                     "dropped_levels")})
    console.print(profile_table(profile))
    t = profile.terms
    console.print(f"fitted from {item['busy_windows']} busy windows of {item['windows']}: bandwidth efficiency "
                  f"{t.bandwidth_efficiency:.3f}, compute efficiency {t.compute_efficiency:.3f}, step overhead "
                  f"{t.step_overhead_s * 1e3:.2f} ms, per sequence {t.per_sequence_overhead_s * 1e6:.1f} us, "
                  f"API server {t.api_server_s * 1e3:.1f} ms; KV cache {profile.kv_cache_tokens or 'unknown'} tokens",
                  highlight=False)
    console.print(f"wrote {item['path']}; name it as deployments\\[{item['deployment']}].profile to use it",
                  highlight=False)


def _print(report: dict[str, object]) -> None:
    if "profile" in report:
        _print_profile(report["profile"])  # type: ignore[arg-type]
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
