"""The real engine serves the tiny model the project builds: chat template, tokenizer, /metrics."""

from __future__ import annotations

from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from tokenizers import Tokenizer

from llmstack.engine.fleet import requests_in_engine
from llmstack.engine.launcher import VllmEngine
from tests.sim.test_exposition_vs_real import real_shape, shape


def test_chat_prompt_tokens_are_counted_after_the_projects_chat_template(vllm_engine: VllmEngine,
                                                                          tiny_model_dir: Path) -> None:
    reply = httpx.post(f"{vllm_engine.url}/v1/chat/completions", timeout=120, json={
        "model": "tiny-a", "messages": [{"role": "user", "content": "the policy engine scales replicas"}],
        "max_tokens": 8, "temperature": 0})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    tokenizer = Tokenizer.from_file(str(tiny_model_dir / "tokenizer.json"))
    rendered = ("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nthe policy engine scales replicas"
                "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")
    assert body["usage"]["prompt_tokens"] == len(tokenizer.encode(rendered).ids)
    assert body["usage"]["completion_tokens"] <= 8
    assert body["choices"][0]["finish_reason"] in ("stop", "length")


def test_metrics_are_vllm_families_for_the_served_name(vllm_engine: VllmEngine) -> None:
    text = httpx.get(f"{vllm_engine.url}/metrics", timeout=30).text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert {"vllm:num_requests_running", "vllm:kv_cache_usage_perc", "vllm:time_to_first_token_seconds"} <= set(
        families)
    models = {s.labels.get("model_name") for f in families.values() if f.name.startswith("vllm:")
              for s in f.samples if "model_name" in s.labels}
    assert models == {"tiny-a"}
    assert requests_in_engine(text) == 0


def test_live_engine_still_matches_the_captured_exposition(vllm_engine: VllmEngine) -> None:
    live = shape(httpx.get(f"{vllm_engine.url}/metrics", timeout=30).text)
    captured = real_shape()
    assert set(live) == set(captured)
    for name, family in captured.items():
        assert live[name]["type"] == family["type"], name
        assert live[name]["labels"] == family["labels"], name
        assert live[name]["buckets"] == family["buckets"], name
