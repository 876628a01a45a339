"""Small client-side helpers for the contract suite (plain HTTP next to the openai client)."""

from __future__ import annotations

import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.contract.targets import Target

IGNORE_EOS = {"ignore_eos": True}
"""vLLM's sampling extension: generate exactly ``max_tokens`` (the real test model has random weights)."""
MESSAGES = [{"role": "user", "content": "Say something about routers and replicas."}]


def tokenize(target: Target, **body: object) -> int:
    reply = httpx.post(f"{target.base_url}/tokenize", json={"model": target.model, **body}, timeout=30)
    reply.raise_for_status()
    return int(reply.json()["count"])


def metrics(target: Target) -> dict[str, float]:
    """Request counters of ``/metrics``: completions (``finished_reason`` stop or length), aborts (vLLM V1
    records an abort whose engine-core output raced the client's disconnect as ``finished_reason="abort"``,
    with an e2e observation), e2e histogram count, running requests."""
    text = httpx.get(f"{target.base_url}{target.metrics_path}", timeout=30).text
    out = {"success": 0.0, "aborted": 0.0, "e2e_count": 0.0, "running": 0.0}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "vllm:request_success_total":
                reason = sample.labels.get("finished_reason", "stop")
                if reason in ("stop", "length"):
                    out["success"] += sample.value
                elif reason == "abort":
                    out["aborted"] += sample.value
            elif sample.name == "vllm:e2e_request_latency_seconds_count":
                out["e2e_count"] += sample.value
            elif sample.name == "vllm:num_requests_running":
                out["running"] += sample.value
    return out


def cache_config(target: Target) -> dict[str, str]:
    text = httpx.get(f"{target.base_url}{target.metrics_path}", timeout=30).text
    for family in text_string_to_metric_families(text):
        if family.name == "vllm:cache_config_info":
            return dict(family.samples[0].labels)
    raise AssertionError("no vllm:cache_config_info in /metrics")


def wait_idle(target: Target, timeout_s: float = 20.0) -> dict[str, float]:
    """``/metrics`` once no request is running (fails after ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while True:
        now = metrics(target)
        if now["running"] == 0:
            return now
        if time.monotonic() > deadline:
            raise AssertionError(f"requests still running after {timeout_s} s: {now}")
        time.sleep(0.2)


def long_prompt(target: Target, tokens: int) -> tuple[str, int]:
    """A completion prompt of at most ``tokens`` tokens (and close to it) as the target counts them."""
    unit = "routers pick replicas "
    per_unit = tokenize(target, prompt=unit * 50) / 50
    count = int(tokens / per_unit)
    while True:
        prompt = unit * count
        measured = tokenize(target, prompt=prompt)
        if measured <= tokens:
            return prompt, measured
        count -= max(1, int((measured - tokens) / per_unit))
