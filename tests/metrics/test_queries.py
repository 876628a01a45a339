"""The PromQL of one cycle: one expression per signal, all grouped by deployment."""

from __future__ import annotations

from llmstack.catalog import signals
from llmstack.metrics import queries


def test_every_signal_queried_once_grouped_by_deployment() -> None:
    qs = queries.cycle_queries()
    names = [q.name for q in qs]
    assert len(names) == len(set(names)) == len(signals.signals()) + len(signals.router_signals()) + 2
    assert all("by (deployment" in q.expr for q in qs)


def test_recording_rule_names_used_when_asked() -> None:
    qs = queries.signal_queries(["ttft_p95", "request_rate"], recording_rules=True)
    assert [q.expr for q in qs] == ["deployment:vllm_ttft_seconds:p95", "deployment:vllm_requests:rate"]


def test_router_signals_queried_raw_even_with_recording_rules() -> None:
    qs = {q.name: q.expr for q in queries.cycle_queries(recording_rules=True)}
    assert qs["router_queue_length"] == signals.by_name()["router_queue_length"].expr
    assert "haproxy_backend_current_queue" in qs["router_queue_length"]
    assert "haproxy_backend_http_requests_total" in qs["router_request_rate"]
    assert qs["request_rate"] == "deployment:vllm_requests:rate"


def test_raw_expressions_used_by_default() -> None:
    (q,) = queries.signal_queries(["request_rate"])
    assert q.expr.startswith("sum by (deployment) (rate(vllm:request_success_total[")


def test_per_deployment_form_selects_only_that_deployment() -> None:
    expr = signals.by_name()["ttft_p95"].expr
    one = queries.for_deployment(expr, "chat")
    assert 'vllm:time_to_first_token_seconds_bucket{deployment="chat"}[1m]' in one
    gpu = queries.for_deployment(signals.by_name()["replicas_up"].expr, "chat")
    assert 'up{llmstack_role="engine",deployment="chat"}' in gpu
