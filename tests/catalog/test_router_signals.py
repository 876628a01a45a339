"""The router's signals (HAProxy's exporter and the router's hold), a deployment's wake signal at zero, in promtool.

Design note: HAProxy labels backend series ``proxy="be_<deployment>"`` (artifacts/haproxy.py); the
signals turn that into ``deployment`` with ``label_replace`` and sum over the router's replicas.
The series names (``haproxy_backend_current_queue``, ``haproxy_backend_http_requests_total``) were
read off the /metrics of the HAProxy 2.6 installed here.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from llmstack import yaml_text
from llmstack.artifacts import haproxy, haproxy_hold
from llmstack.catalog import signals

PROMTOOL = "/usr/bin/promtool"


def test_router_metric_names_are_haproxys_and_the_holds() -> None:
    assert haproxy.backend_name("chat") == f"{signals.ROUTER_BACKEND_PREFIX}chat"
    assert signals.ROUTER_QUEUE_METRICS[1] == haproxy_hold.HELD_NOW
    assert signals.ROUTER_ARRIVAL_METRICS[1] == haproxy_hold.HELD_TOTAL


SERIES = [
    # chat: serving; two router replicas, one with requests queued at maxconn
    {"series": 'haproxy_backend_current_queue{proxy="be_chat",instance="r1"}', "values": "0x20 3x20"},
    {"series": 'haproxy_backend_current_queue{proxy="be_chat",instance="r2"}', "values": "0x20 2x20"},
    {"series": 'haproxy_backend_http_requests_total{proxy="be_chat",instance="r1"}', "values": "0+15x40"},
    {"series": 'haproxy_backend_http_requests_total{proxy="be_chat",instance="r2"}', "values": "0+15x40"},
    # code: at zero replicas, the hold has 4 requests now and held 30 per 15 s on r1
    {"series": 'haproxy_backend_current_queue{proxy="be_code",instance="r1"}', "values": "0x40"},
    {"series": 'llmstack_router_held_requests{proxy="be_code",instance="r1"}', "values": "4x40"},
    {"series": 'llmstack_router_held_requests_total{proxy="be_code",instance="r1"}', "values": "0+30x40"},
    # batch: only the hold's counter exists (the exporter's backend counter not scraped yet)
    {"series": 'llmstack_router_held_requests_total{proxy="be_batch",instance="r1"}', "values": "0+6x40"},
    # not a deployment's backend
    {"series": 'haproxy_backend_current_queue{proxy="stats",instance="r1"}', "values": "9x40"},
]


def test_router_signals_sum_backend_series_by_deployment(tmp_path: Path) -> None:
    by_name = {s.name: s for s in signals.router_signals()}
    rules = {"groups": [{"name": "router", "rules": [{"record": s.record, "expr": s.expr}
                                                      for s in by_name.values()]}]}
    (tmp_path / "router.yml").write_text(yaml_text.dump(rules))
    queue, rate = by_name["router_queue_length"].record, by_name["router_request_rate"].record
    irate = by_name["router_request_irate"].record
    expected = {queue: {"chat": 5, "code": 4}, rate: {"chat": 2, "code": 2, "batch": 0.4},
                irate: {"chat": 2, "code": 2, "batch": 0.4}}
    test = {"rule_files": ["router.yml"], "evaluation_interval": "15s", "tests": [{
        "interval": "15s", "input_series": SERIES,
        "promql_expr_test": [
            {"expr": record, "eval_time": "6m",
             "exp_samples": [{"labels": f'{record}{{deployment="{d}"}}', "value": v} for d, v in values.items()]}
            for record, values in expected.items()
        ]}]}
    (tmp_path / "test.yml").write_text(yaml_text.dump(test))
    result = subprocess.run([PROMTOOL, "test", "rules", "test.yml"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_router_irate_follows_a_surge_one_scrape_in_while_the_rate_lags(tmp_path: Path) -> None:
    """From 1 req/s to 10 req/s at 5m: one scrape later irate reads 10 while the 1-minute rate is under 5."""
    by_name = {s.name: s for s in signals.router_signals()}
    rules = {"groups": [{"name": "router", "rules": [{"record": s.record, "expr": s.expr}
                                                      for s in by_name.values()]}]}
    (tmp_path / "router.yml").write_text(yaml_text.dump(rules))
    series = [{"series": 'haproxy_backend_http_requests_total{proxy="be_chat",instance="r1"}',
               "values": "0+15x20 450+150x4"}]
    rate, irate = by_name["router_request_rate"].record, by_name["router_request_irate"].record
    test = {"rule_files": ["router.yml"], "evaluation_interval": "15s", "tests": [{
        "interval": "15s", "input_series": series,
        "promql_expr_test": [
            {"expr": irate, "eval_time": "5m15s",
             "exp_samples": [{"labels": f'{irate}{{deployment="chat"}}', "value": 10}]},
            {"expr": f"{rate} < bool 5", "eval_time": "5m15s",
             "exp_samples": [{"labels": '{deployment="chat"}', "value": 1}]},
        ]}]}
    (tmp_path / "test.yml").write_text(yaml_text.dump(test))
    result = subprocess.run([PROMTOOL, "test", "rules", "test.yml"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_wake_signals_are_router_signals() -> None:
    from llmstack.policy import zero

    assert set(zero.ROUTER_SIGNALS) <= {s.name for s in signals.router_signals()}
