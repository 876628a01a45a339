"""Reading Prometheus' active targets back (pure parsing)."""

from __future__ import annotations

from llmstack.demo.monitoring import parse_targets


def test_engine_targets_grouped_by_deployment_with_health() -> None:
    payload = {"status": "success", "data": {"activeTargets": [
        {"labels": {"job": "vllm", "deployment": "chat", "instance": "127.0.0.1:9001"}, "health": "up"},
        {"labels": {"job": "vllm", "deployment": "chat", "instance": "127.0.0.1:9002"}, "health": "unknown"},
        {"labels": {"job": "vllm", "deployment": "reasoning", "instance": "127.0.0.1:9003"}, "health": "down"},
        {"labels": {"job": "llmstack-router", "instance": "127.0.0.1:8404"}, "health": "up"},
    ]}}
    assert parse_targets(payload) == {"chat": {9001: "up", 9002: "unknown"}, "reasoning": {9003: "down"}}


def test_error_answer_gives_no_targets() -> None:
    assert parse_targets({"status": "error", "error": "boom"}) == {}
