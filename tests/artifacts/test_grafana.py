"""Grafana dashboards: importable structure, datasource variable, every query valid PromQL."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from llmstack import yaml_text
from llmstack.artifacts import grafana
from llmstack.catalog import signals
from llmstack.spec.models import StackSpec

PROMTOOL = "/usr/bin/promtool"


def test_three_dashboards_with_unique_uids(example_stack: StackSpec) -> None:
    dashboards = grafana.build_dashboards(example_stack)
    assert set(dashboards) == {"llmstack-fleet.json", "llmstack-deployment.json", "llmstack-gpus.json"}
    uids = [d["uid"] for d in dashboards.values()]
    assert len(set(uids)) == 3 and all(len(u) <= 40 for u in uids)


def test_every_panel_uses_datasource_variable(example_stack: StackSpec) -> None:
    for dashboard in grafana.build_dashboards(example_stack).values():
        json.dumps(dashboard)  # plain JSON data
        assert dashboard["schemaVersion"] >= 36
        variables = {v["name"]: v for v in dashboard["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource"
        assert variables["datasource"]["query"] == "prometheus"
        ids = [p["id"] for p in dashboard["panels"]]
        assert len(set(ids)) == len(ids)
        for panel in dashboard["panels"]:
            assert panel["datasource"]["uid"] == "${datasource}"
            refs = [t["refId"] for t in panel["targets"]]
            assert len(set(refs)) == len(refs)
            assert all(t["datasource"]["uid"] == "${datasource}" for t in panel["targets"])


def test_fleet_overview_shows_slo_gpus_and_cost(example_stack: StackSpec) -> None:
    fleet = grafana.build_dashboards(example_stack)["llmstack-fleet.json"]
    exprs = {p["title"]: [t["expr"] for t in p["targets"]] for p in fleet["panels"]}
    assert "vector(1)" in exprs["TTFT p50 / p95 vs SLO"]  # chat's 1000 ms SLO
    assert 'deployment:vllm_engines_up:sum{deployment="reasoning"} * 4' in exprs["GPUs in use"][0]
    assert 'deployment:vllm_engines_up:sum{deployment="reasoning"} * 10' in exprs["Cost per hour"][0]
    records = {s.record for s in signals.signals()}
    assert any(r in e for es in exprs.values() for e in es for r in records)


def test_every_dashboard_query_is_valid_promql(example_stack: StackSpec, tmp_path: Path) -> None:
    exprs = [t["expr"].replace("$deployment", "chat")
             for d in grafana.build_dashboards(example_stack).values() for p in d["panels"] for t in p["targets"]]
    rules = {"groups": [{"name": "dashboards", "rules": [
        {"record": f"dashboard:query{i}:check", "expr": e} for i, e in enumerate(exprs)]}]}
    (tmp_path / "queries.yml").write_text(yaml_text.dump(rules))
    result = subprocess.run([PROMTOOL, "check", "rules", "queries.yml"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_provisioning_points_at_prometheus_and_folder() -> None:
    datasource = grafana.datasource_provisioning("http://prometheus:9090")
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"
    assert datasource["datasources"][0]["type"] == "prometheus"
    provider = grafana.dashboard_provisioning("/var/lib/grafana/dashboards")
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"


def test_tpot_panels_built_with_the_sdk_carry_units_and_slo(example_stack: StackSpec) -> None:
    dashboards = grafana.build_dashboards(example_stack)
    fleet = {p["title"]: p for p in dashboards["llmstack-fleet.json"]["panels"]}
    tpot = fleet["TPOT p95 vs SLO"]
    assert tpot["fieldConfig"]["defaults"]["unit"] == "s"
    assert tpot["targets"][0]["expr"] == signals.by_name()["tpot_p95"].record
    assert {t["legendFormat"] for t in tpot["targets"]} >= {f"SLO {d.name}" for d in example_stack.deployments}
    assert tpot["options"]["tooltip"] == {"mode": "multi", "sort": "desc"}
    latency = {p["title"]: p for p in dashboards["llmstack-deployment.json"]["panels"]}["Latency percentiles"]
    assert "TPOT p95" in {t["legendFormat"] for t in latency["targets"]}
    for d in dashboards.values():
        assert all(p["fieldConfig"]["defaults"]["unit"] for p in d["panels"])
