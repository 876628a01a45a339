"""The router's signals (HAProxy's exporter), the wake signal of a deployment at zero, evaluated by promtool.

Design note: HAProxy labels backend series ``proxy="be_<deployment>"`` (artifacts/haproxy.py); the
signals turn that into ``deployment`` with ``label_replace`` and sum over the router's replicas.
The series names (``haproxy_backend_current_queue``, ``haproxy_backend_http_requests_total``) were
read off the /metrics of the HAProxy 2.6 installed here.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from llmstack import yaml_text
from llmstack.artifacts import haproxy
from llmstack.catalog import signals

PROMTOOL = "/usr/bin/promtool"


def test_router_backend_prefix_is_the_haproxy_backend_name() -> None:
    assert haproxy.backend_name("chat") == f"{signals.ROUTER_BACKEND_PREFIX}chat"


def test_router_signals_sum_backend_series_by_deployment(tmp_path: Path) -> None:
    by_name = {s.name: s for s in signals.router_signals()}
    rules = {"groups": [{"name": "router", "rules": [{"record": s.record, "expr": s.expr}
                                                      for s in by_name.values()]}]}
    (tmp_path / "router.yml").write_text(yaml_text.dump(rules))
    series = [
        {"series": 'haproxy_backend_current_queue{proxy="be_chat",instance="r1"}', "values": "0x20 3x20"},
        {"series": 'haproxy_backend_current_queue{proxy="be_chat",instance="r2"}', "values": "0x20 2x20"},
        {"series": 'haproxy_backend_current_queue{proxy="fe_main",instance="r1"}', "values": "9x40"},
        {"series": 'haproxy_backend_http_requests_total{proxy="be_chat",instance="r1"}', "values": "0+15x40"},
    ]
    queue, rate = by_name["router_queue_length"].record, by_name["router_request_rate"].record
    test = {"rule_files": ["router.yml"], "evaluation_interval": "15s", "tests": [{
        "interval": "15s", "input_series": series,
        "promql_expr_test": [
            {"expr": queue, "eval_time": "6m", "exp_samples": [{"labels": f'{queue}{{deployment="chat"}}',
                                                                "value": 5}]},
            {"expr": rate, "eval_time": "6m", "exp_samples": [{"labels": f'{rate}{{deployment="chat"}}',
                                                               "value": 1}]},
        ]}]}
    (tmp_path / "test.yml").write_text(yaml_text.dump(test))
    result = subprocess.run([PROMTOOL, "test", "rules", "test.yml"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
