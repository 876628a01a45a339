"""``llmstack recommend`` / ``audit`` end to end against a tiny fake Prometheus on loopback."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from llmstack.cli.app import main
from tests.conftest import EXAMPLE_SPEC, ROOT
from tests.policy.servers import FakePrometheus, vector

BURST = {"request_rate": 6.0, "queue_length": 40, "running_requests": 100, "kv_cache_usage": 0.5,
         "kv_cache_usage_max": 0.6, "ttft_p95": 2.4, "prompt_tokens_rate": 6000, "generation_tokens_rate": 1500,
         "preemption_rate": 0.0}


def answer(expr: str) -> list[dict[str, object]]:
    from llmstack.metrics import queries

    for q in queries.cycle_queries():
        if q.expr == expr:
            if q.name == queries.REPLICAS_REPORTING:
                return vector({"chat": 2, "reasoning": 1})
            if q.name == queries.OLDEST_SAMPLE:
                return vector({"chat": time.time() - 2, "reasoning": time.time() - 2})
            if q.name in BURST:
                return vector({"chat": BURST[q.name], "reasoning": 0.0 if "rate" in q.name else 0.1})
    return []


def test_recommend_json_lists_scale_out_with_fields(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with FakePrometheus(answer) as fake:
        main(["recommend", "--prometheus", fake.url, "--spec", str(EXAMPLE_SPEC), "--stack", "dev",
              "--project-dir", str(tmp_path), "--policy", str(ROOT / "policies" / "default.yaml"),
              "--audit-log", str(tmp_path / "audit.jsonl"), "--json"])
    out = json.loads(capsys.readouterr().out)
    chat = next(o for o in out if o["deployment"] == "chat")
    assert {"deployment", "kind", "current", "proposed", "rule", "signals", "predicted", "reason"} <= set(chat)
    assert chat["kind"] == "horizontal" and chat["proposed"]["replicas"] > chat["current"]["replicas"]
    main(["audit", "--audit-log", str(tmp_path / "audit.jsonl"), "--json"])
    entries = json.loads(capsys.readouterr().out)
    assert any(e["deployment"] == "chat" and e["outcome"] == "dry-run" for e in entries)


def test_recommend_unreachable_prometheus_exits_2_with_a_json_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.policy.servers import free_port

    with pytest.raises(SystemExit) as exit_info:
        main(["recommend", "--prometheus", f"http://127.0.0.1:{free_port()}", "--spec", str(EXAMPLE_SPEC),
              "--project-dir", str(tmp_path), "--policy", str(ROOT / "policies" / "default.yaml"),
              "--audit-log", str(tmp_path / "audit.jsonl"), "--json", "--timeout", "1"])
    assert exit_info.value.code == 2
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["kind"] == "metrics" and "unreachable" in error["message"]
    lines = (tmp_path / "audit.jsonl").read_text().splitlines()
    assert lines and all(json.loads(line)["outcome"] == "refused" for line in lines)
