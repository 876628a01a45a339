"""Grafana dashboards, built with Grafana's typed builders (grafana-foundation-sdk, the Grafana 10.4
line the pinned image runs), and provisioning files.

Three dashboards: the fleet overview (requests/s, TTFT and TPOT percentiles against each
deployment's SLO, queue, KV cache, tokens/s, GPUs and cost per hour per deployment), a
per-deployment drill-down (a ``deployment`` template variable) and GPUs from DCGM. Panels
query the recorded signals (:mod:`llmstack.catalog.signals`) where one exists, and the
datasource is the template variable ``datasource``, so the JSON imports into any Grafana.
"""

from __future__ import annotations

import json
from typing import Any

from grafana_foundation_sdk.builders import common, dashboard, prometheus, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import LegendDisplayMode, LegendPlacement, SortOrder, TooltipDisplayMode
from grafana_foundation_sdk.models.dashboard import DataSourceRef, GridPos, VariableRefresh, VariableSort

from llmstack.catalog import signals
from llmstack.spec.models import StackSpec

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
DATASOURCE_REF = DataSourceRef(type_val="prometheus", uid="${datasource}")
DATASOURCE_UID = "prometheus"


def build_dashboards(stack: StackSpec) -> dict[str, dict[str, Any]]:
    """file name -> dashboard JSON."""
    return {
        "llmstack-fleet.json": _fleet(stack),
        "llmstack-deployment.json": _deployment(stack),
        "llmstack-gpus.json": _gpus(stack),
    }


def datasource_provisioning(url: str) -> dict[str, Any]:
    """Grafana ``provisioning/datasources/*.yaml`` content for the stack's Prometheus."""
    return {"apiVersion": 1, "datasources": [{
        "name": "Prometheus", "type": "prometheus", "uid": DATASOURCE_UID, "access": "proxy", "url": url,
        "isDefault": True, "editable": False, "jsonData": {"timeInterval": "15s"},
    }]}


def dashboard_provisioning(path: str) -> dict[str, Any]:
    """Grafana ``provisioning/dashboards/*.yaml`` content: load every dashboard JSON under ``path``."""
    return {"apiVersion": 1, "providers": [{
        "name": "llmstack", "folder": "llmstack", "type": "file", "disableDeletion": False,
        "allowUiUpdates": False, "updateIntervalSeconds": 30, "options": {"path": path},
    }]}


# ---------------------------------------------------------------- dashboards


def _record(name: str) -> str:
    return signals.by_name()[name].record


def _fleet(stack: StackSpec) -> dict[str, Any]:
    gpus_expr = " or ".join(
        f'{_record("replicas_up")}{{deployment="{d.name}"}} * {d.gpus_per_replica}' for d in stack.deployments)
    cost_expr = " or ".join(
        f'{_record("replicas_up")}{{deployment="{d.name}"}} * '
        f'{stack.pool(d.pool).cost_per_hour(d.gpus_per_replica):g}'
        for d in stack.deployments)
    ttft_slo = [_target(f"vector({d.slo.ttft_p95_ms / 1000:g})", f"SLO {d.name}", "S" + str(i))
                for i, d in enumerate(stack.deployments)]
    tpot_slo = [_target(f"vector({d.slo.tpot_p95_ms / 1000:g})", f"SLO {d.name}", "S" + str(i))
                for i, d in enumerate(stack.deployments)]
    panels = [
        _timeseries("Requests per second", [_target(_record("request_rate"), "{{deployment}}")], "reqps"),
        _timeseries("TTFT p50 / p95 vs SLO", [
            _target(_record("ttft_p50"), "p50 {{deployment}}", "A"),
            _target(_record("ttft_p95"), "p95 {{deployment}}", "B"), *ttft_slo], "s"),
        _timeseries("TPOT p95 vs SLO", [_target(_record("tpot_p95"), "p95 {{deployment}}"), *tpot_slo], "s"),
        _timeseries("Queue (waiting requests)", [_target(_record("queue_length"), "{{deployment}}")], "short"),
        _timeseries("KV cache usage (fullest replica)",
                    [_target(_record("kv_cache_usage_max"), "{{deployment}}")], "percentunit"),
        _timeseries("Generated tokens per second",
                    [_target(_record("generation_tokens_rate"), "{{deployment}}")], "short"),
        _timeseries("GPUs in use", [_target(gpus_expr or "vector(0)", "{{deployment}}")], "short"),
        _timeseries("Cost per hour", [_target(cost_expr or "vector(0)", "{{deployment}}")], "currencyUSD"),
    ]
    return _dashboard(f"llmstack-{stack.name}-fleet", f"llmstack {stack.name}: fleet", panels, [])


def _deployment(stack: StackSpec) -> dict[str, Any]:
    sel = '{deployment="$deployment"}'
    panels = [
        _timeseries("Requests per second", [_target(_record("request_rate") + sel, "requests/s")], "reqps"),
        _timeseries("Running and waiting requests", [
            _target(_record("running_requests") + sel, "running", "A"),
            _target(_record("queue_length") + sel, "waiting", "B")], "short"),
        _timeseries("Latency percentiles", [
            _target(_record("ttft_p50") + sel, "TTFT p50", "A"),
            _target(_record("ttft_p95") + sel, "TTFT p95", "B"),
            _target(_record("tpot_p95") + sel, "TPOT p95", "C"),
            _target(_record("e2e_latency_p95") + sel, "e2e p95", "D")], "s"),
        _timeseries("KV cache usage", [
            _target(_record("kv_cache_usage") + sel, "mean", "A"),
            _target(_record("kv_cache_usage_max") + sel, "fullest replica", "B")], "percentunit"),
        _timeseries("Tokens per second", [
            _target(_record("generation_tokens_rate") + sel, "generated", "A"),
            _target(_record("prompt_tokens_rate") + sel, "prompt", "B")], "short"),
        _timeseries("Preemptions per second", [_target(_record("preemption_rate") + sel, "preemptions/s")], "short"),
        _timeseries("Replicas up", [_target(_record("replicas_up") + sel, "replicas")], "short"),
        _timeseries("Per replica: running requests",
                    [_target('sum by (instance) (vllm:num_requests_running{deployment="$deployment"})',
                             "{{instance}}")], "short"),
    ]
    return _dashboard(f"llmstack-{stack.name}-deployment", f"llmstack {stack.name}: deployment", panels,
                      [_deployment_variable()])


def _gpus(stack: StackSpec) -> dict[str, Any]:
    sel = '{deployment=~"$deployment"}'
    panels = [
        _timeseries("GPU utilization", [_target(f"DCGM_FI_DEV_GPU_UTIL{sel} / 100", "{{deployment}} gpu {{gpu}}")],
                    "percentunit"),
        _timeseries("Framebuffer used", [_target(
            f"DCGM_FI_DEV_FB_USED{sel} / (DCGM_FI_DEV_FB_USED{sel} + DCGM_FI_DEV_FB_FREE{sel})",
            "{{deployment}} gpu {{gpu}}")], "percentunit"),
        _timeseries("Power draw", [_target(f"DCGM_FI_DEV_POWER_USAGE{sel}", "{{deployment}} gpu {{gpu}}")], "watt"),
        _timeseries("GPU temperature", [_target(f"DCGM_FI_DEV_GPU_TEMP{sel}", "{{deployment}} gpu {{gpu}}")],
                    "celsius"),
        _timeseries("SM clock", [_target(f"DCGM_FI_DEV_SM_CLOCK{sel}", "{{deployment}} gpu {{gpu}}")], "hertz"),
        _timeseries("Mean GPU utilization per deployment",
                    [_target(_record("gpu_utilization"), "{{deployment}}")], "percentunit"),
    ]
    return _dashboard(f"llmstack-{stack.name}-gpus", f"llmstack {stack.name}: GPUs (DCGM)", panels,
                      [_deployment_variable(multi=True)])


# ---------------------------------------------------------------- building blocks (grafana-foundation-sdk)


def _dashboard(uid: str, title: str, panels: list[timeseries.Panel],
               variables: list[dashboard.QueryVariable]) -> dict[str, Any]:
    builder = (dashboard.Dashboard(title).uid(uid[:40]).tags(["llmstack"]).timezone("browser").editable()
               .refresh("30s").time("now-1h", "now").with_variable(_datasource_variable()))
    for variable in variables:
        builder = builder.with_variable(variable)
    for index, panel in enumerate(panels):
        builder = builder.with_panel(panel.id(index + 1).grid_pos(
            GridPos(h=8, w=12, x=12 * (index % 2), y=8 * (index // 2))))
    return _plain(builder.build())


def _plain(model: object) -> dict[str, Any]:
    """The SDK's model as plain JSON data (what ``render`` writes and the targets upload)."""
    data: dict[str, Any] = json.loads(json.dumps(model, cls=JSONEncoder))
    return data


def _datasource_variable() -> dashboard.DatasourceVariable:
    return dashboard.DatasourceVariable("datasource").label("Data source").type("prometheus")


def _deployment_variable(multi: bool = False) -> dashboard.QueryVariable:
    query = f"label_values({_record('replicas_up')}, deployment)"
    return (dashboard.QueryVariable("deployment").label("Deployment").datasource(DATASOURCE_REF)
            .query({"query": query, "refId": "deployment"}).refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(VariableSort.ALPHABETICAL_ASC).multi(multi).include_all(multi))


def _target(expr: str, legend: str, ref: str = "A") -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref).range().datasource(DATASOURCE_REF)


def _timeseries(title: str, targets: list[prometheus.Dataquery], unit: str) -> timeseries.Panel:
    panel = (timeseries.Panel().title(title).unit(unit).datasource(DATASOURCE_REF).line_width(1).fill_opacity(10)
             .legend(common.VizLegendOptions().display_mode(LegendDisplayMode.LIST)
                     .placement(LegendPlacement.BOTTOM).show_legend(True))
             .tooltip(common.VizTooltipOptions().mode(TooltipDisplayMode.MULTI).sort(SortOrder.DESCENDING)))
    for index, target in enumerate(targets):
        panel = panel.with_target(target.ref_id(_ref(index)))
    return panel


def _ref(index: int) -> str:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return letters[index] if index < len(letters) else f"R{index}"
