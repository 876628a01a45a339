"""Recording and alert rules, run by ``promtool test rules`` on synthetic series.

Design note: two deployments share every test. ``chat`` is in trouble (TTFT and TPOT above
its SLO, a growing queue, a 95 % full KV cache, preemptions, one engine down, a GPU at 95 %
of its memory) and ``calm`` is healthy, so each alert is shown firing for one and not for
the other at the same instant, and not firing for either before its ``for:`` has passed.
Counters grow by a fixed amount per 15 s sample, so rates and histogram quantiles have
exact expected values: every observation of a histogram falls in one bucket (lo, hi], and
``histogram_quantile(q)`` interpolates to ``lo + (hi - lo) * q``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from llmstack import yaml_text
from llmstack.artifacts import prometheus
from llmstack.catalog import signals
from llmstack.spec.models import StackSpec

PROMTOOL = "/usr/bin/promtool"


def rules_stack() -> StackSpec:
    deployment = {"model": "m", "variant": "bf16", "pool": "gpu",
                  "slo": {"ttft_p95_ms": 500, "tpot_p95_ms": 50}, "engine": {"gpu_memory_utilization": 0.9}}
    return StackSpec.model_validate({
        "name": "t",
        "pools": [{"name": "gpu", "accelerator": "H100-SXM-80GB", "gpus_per_node": 8, "cost_per_gpu_hour": 2.5}],
        "models": [{"name": "m", "architecture": "Llama-3.1-8B",
                    "variants": [{"name": "bf16", "weights": "meta-llama/Llama-3.1-8B-Instruct"}]}],
        "deployments": [{"name": "chat", **deployment}, {"name": "calm", **deployment}],
    })


def series(name: str, labels: dict[str, str], values: str) -> dict[str, str]:
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{name}{{{inner}}}", "values": values}


def histogram(name: str, labels: dict[str, str], bounds: list[str], full_from: str,
              per_step: float) -> list[dict[str, str]]:
    """Every observation in the bucket (previous bound, ``full_from``]."""
    out = []
    reached = False
    for bound in [*bounds, "+Inf"]:
        reached = reached or bound == full_from
        out.append(series(f"{name}_bucket", {**labels, "le": bound}, f"0+{per_step if reached else 0}x80"))
    return out


def engine_series(deployment: str, instance: str, *, success: float, waiting: str, running: int, kv: float,
                  preempt: int, gen: int, prompt: int, ttft_bucket: str, tpot_bucket: str, e2e_bucket: str,
                  up: int) -> list[dict[str, str]]:
    labels = {"deployment": deployment, "instance": instance, "job": "vllm", "llmstack_role": "engine"}
    return [
        series("vllm:request_success_total", {**labels, "finished_reason": "stop"}, f"0+{success}x80"),
        series("vllm:num_requests_waiting", labels, waiting),
        series("vllm:num_requests_running", labels, f"{running}x80"),
        series("vllm:kv_cache_usage_perc", labels, f"{kv}x80"),
        series("vllm:num_preemptions_total", labels, f"0+{preempt}x80"),
        series("vllm:generation_tokens_total", labels, f"0+{gen}x80"),
        series("vllm:prompt_tokens_total", labels, f"0+{prompt}x80"),
        *histogram("vllm:time_to_first_token_seconds", labels, ["0.1", "0.25", "0.5", "1"], ttft_bucket, success),
        *histogram("vllm:request_time_per_output_token_seconds", labels, ["0.025", "0.05", "0.1"], tpot_bucket,
                   success),
        *histogram("vllm:e2e_request_latency_seconds", labels, ["1", "5", "10"], e2e_bucket, success),
        series("up", labels, f"{up}x80"),
    ]


def gpu_series(deployment: str, gpu: str, util: int, used: int, free: int) -> list[dict[str, str]]:
    labels = {"deployment": deployment, "gpu": gpu, "job": "dcgm"}
    return [series("DCGM_FI_DEV_GPU_UTIL", labels, f"{util}x80"),
            series("DCGM_FI_DEV_FB_USED", labels, f"{used}x80"),
            series("DCGM_FI_DEV_FB_FREE", labels, f"{free}x80")]


INPUT = [
    # chat: 15 req per 15 s per engine (1/s), all TTFT in (0.5, 1], TPOT in (0.05, 0.1], e2e in (5, 10]
    *engine_series("chat", "a:8000", success=15, waiting="0+1x80", running=10, kv=0.95, preempt=3, gen=1500,
                   prompt=3000, ttft_bucket="1", tpot_bucket="0.1", e2e_bucket="10", up=1),
    *engine_series("chat", "b:8000", success=15, waiting="2x80", running=20, kv=0.85, preempt=0, gen=0,
                   prompt=0, ttft_bucket="1", tpot_bucket="0.1", e2e_bucket="10", up=0),
    *gpu_series("chat", "0", 80, 76000, 4000),
    *gpu_series("chat", "1", 60, 40000, 40000),
    # calm: 0.5 req/s, TTFT in (0.1, 0.25], TPOT in (0, 0.025], e2e in (1, 5], nothing queued
    *engine_series("calm", "c:8000", success=7.5, waiting="0x80", running=3, kv=0.5, preempt=0, gen=750,
                   prompt=750, ttft_bucket="0.25", tpot_bucket="0.025", e2e_bucket="5", up=1),
    *gpu_series("calm", "0", 30, 40000, 40000),
]

EXPECTED_RECORDED = {
    "request_rate": {"chat": 2, "calm": 0.5},
    "queue_length": {"chat": 42, "calm": 0},
    "running_requests": {"chat": 30, "calm": 3},
    "kv_cache_usage": {"chat": 0.9, "calm": 0.5},
    "kv_cache_usage_max": {"chat": 0.95, "calm": 0.5},
    "ttft_p50": {"chat": 0.75, "calm": 0.175},
    "ttft_p95": {"chat": 0.975, "calm": 0.2425},
    "tpot_p95": {"chat": 0.0975, "calm": 0.02375},
    "e2e_latency_p95": {"chat": 9.75, "calm": 4.8},
    "generation_tokens_rate": {"chat": 100, "calm": 50},
    "prompt_tokens_rate": {"chat": 200, "calm": 50},
    "preemption_rate": {"chat": 0.2, "calm": 0},
    "replicas_up": {"chat": 1, "calm": 1},
    "gpu_utilization": {"chat": 0.7, "calm": 0.3},
    "gpu_memory_used": {"chat": 0.95, "calm": 0.5},
}
"""signal -> deployment -> value at 10 m (queue: chat's first engine has 40 waiting, the second 2)."""


def alert(name: str, labels: dict[str, str], summary: str, description: str) -> dict[str, Any]:
    return {"exp_labels": labels, "exp_annotations": {"summary": summary, "description": description}}


FIRING_AT_16M = {
    "LlmstackTtftSloBurn": [alert(
        "LlmstackTtftSloBurn", {"severity": "warning", "slo": "ttft_p95", "deployment": "chat"},
        "TTFT p95 of chat is above its SLO",
        "Time to first token p95 is 0.975 s, SLO 0.5 s, for 5 minutes: add replicas or a faster variant.")],
    "LlmstackTpotSloBurn": [alert(
        "LlmstackTpotSloBurn", {"severity": "warning", "slo": "tpot_p95", "deployment": "chat"},
        "TPOT p95 of chat is above its SLO",
        "Time per output token p95 is 0.098 s, SLO 0.05 s, for 5 minutes: batches are too large for the GPUs.")],
    "LlmstackGpuMemoryNearlyFull": [alert(
        "LlmstackGpuMemoryNearlyFull", {"severity": "warning", "deployment": "chat"},
        "GPU memory of chat is nearly full",
        "The fullest GPU uses 0.950 of its memory (vLLM is allowed 0.9): another process holds memory, "
        "out-of-memory errors are likely.")],
    "LlmstackQueueBuilding": [alert(
        "LlmstackQueueBuilding", {"severity": "warning", "deployment": "chat"},
        "Requests are queueing up on chat",
        "66 requests wait for a batch slot and the queue has grown for 5 minutes: the deployment needs more "
        "replicas.")],
    "LlmstackKvCacheNearlyFull": [alert(
        "LlmstackKvCacheNearlyFull", {"severity": "warning", "deployment": "chat"},
        "KV cache of chat is above 90 %",
        "The fullest replica uses 0.950 of its KV cache for 5 minutes: requests will be preempted.")],
    "LlmstackPreemptions": [alert(
        "LlmstackPreemptions", {"severity": "warning", "deployment": "chat"},
        "chat preempts requests",
        "0.200 preemptions per second for 5 minutes: the KV cache is too small for the load (more replicas, "
        "shorter max_model_len or fewer max_num_seqs).")],
    "LlmstackEngineDown": [alert(
        "LlmstackEngineDown", {"severity": "critical", "deployment": "chat", "instance": "b:8000", "job": "vllm",
                               "llmstack_role": "engine"},
        "vLLM engine b:8000 of chat is down",
        "Prometheus could not scrape b:8000 for 2 minutes; the router has taken it out of rotation.")],
}


@pytest.fixture
def rule_files(tmp_path: Path) -> Path:
    stack = rules_stack()
    (tmp_path / "recording.yml").write_text(yaml_text.dump(prometheus.build_recording_rules(stack)))
    (tmp_path / "alerts.yml").write_text(yaml_text.dump(prometheus.build_alert_rules(stack)))
    return tmp_path


def run_promtool_test(folder: Path, tests: list[dict[str, Any]]) -> None:
    spec = {"rule_files": ["recording.yml", "alerts.yml"], "evaluation_interval": "15s", "tests": tests}
    (folder / "test.yml").write_text(yaml_text.dump(spec))
    result = subprocess.run([PROMTOOL, "test", "rules", "test.yml"], cwd=folder, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_check_rules_accepts_generated_rules(rule_files: Path) -> None:
    result = subprocess.run([PROMTOOL, "check", "rules", "recording.yml", "alerts.yml"], cwd=rule_files,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(signals.signals())} rules found" in result.stdout


def test_recording_rules_are_the_signals() -> None:
    group = prometheus.build_recording_rules(rules_stack())["groups"][0]
    assert [(r["record"], r["expr"]) for r in group["rules"]] == [(s.record, s.expr) for s in signals.signals()]


def test_every_recording_rule_has_expected_value(rule_files: Path) -> None:
    by_name = signals.by_name()
    assert set(EXPECTED_RECORDED) == {s.name for s in signals.signals()}  # the router signals are not recorded
    tests = [{
        "interval": "15s",
        "input_series": INPUT,
        "promql_expr_test": [
            # compared in units of 1e-5: exact integers, no float noise in promtool's comparison
            {"expr": f"round({by_name[name].record} * 100000)", "eval_time": "10m",
             "exp_samples": [{"labels": f'{{deployment="{d}"}}', "value": round(value * 100000)}
                             for d, value in values.items()]}
            for name, values in EXPECTED_RECORDED.items()
        ],
    }]
    run_promtool_test(rule_files, tests)


def test_each_alert_fires_for_troubled_deployment_only(rule_files: Path) -> None:
    tests = [{
        "interval": "15s",
        "input_series": INPUT,
        "alert_rule_test": [
            {"alertname": name, "eval_time": "16m", "exp_alerts": expected}
            for name, expected in FIRING_AT_16M.items()
        ],
    }]
    run_promtool_test(rule_files, tests)


def test_no_alert_fires_before_its_for_duration(rule_files: Path) -> None:
    tests = [{
        "interval": "15s",
        "input_series": INPUT,
        "alert_rule_test": [{"alertname": name, "eval_time": "1m", "exp_alerts": []} for name in FIRING_AT_16M],
    }]
    run_promtool_test(rule_files, tests)


def test_alert_rules_cover_every_required_condition() -> None:
    rules = prometheus.build_alert_rules(rules_stack())["groups"][0]["rules"]
    assert {r["alert"] for r in rules} == set(FIRING_AT_16M)
    for rule in rules:
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_slo_threshold_taken_from_each_deployment() -> None:
    stack = rules_stack()
    rules = prometheus.build_alert_rules(stack)["groups"][0]["rules"]
    ttft = {r["labels"]["deployment"]: r["expr"] for r in rules if r["alert"] == "LlmstackTtftSloBurn"}
    bucket = "rate(vllm:time_to_first_token_seconds_bucket{{deployment=\"{}\"}}[1m])"
    assert ttft == {name: f"histogram_quantile(0.95, sum by (deployment, le) ({bucket.format(name)})) > 0.5"
                    for name in ("chat", "calm")}


def test_alerts_read_raw_series_not_another_groups_records() -> None:
    """Groups run at one timestamp in no fixed order: an alert on a recorded series could see it one step late."""
    records = {s.record for s in signals.signals()}
    rules = prometheus.build_alert_rules(rules_stack())["groups"][0]["rules"]
    assert rules and not [r["alert"] for r in rules if any(record in r["expr"] for record in records)]
