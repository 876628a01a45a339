"""Live mode: OpenAI-style endpoints, vLLM-format /metrics, replicas added and removed, and a real
Prometheus (/usr/bin/prometheus) scraping the replicas so every catalog signal returns a series.

Design note: the replicas run sped up (time factor 20) so requests finish in tens of milliseconds;
Prometheus scrapes every second, and rates over [1m] need two samples, so the signal check polls
for a few seconds.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from llmstack.catalog import signals
from llmstack.errors import LlmstackError
from llmstack.sim.exposition import default_metrics
from llmstack.sim.server import LiveFleet
from llmstack.spec.models import StackSpec
from tests.servers import running_prometheus


@pytest.fixture
def fleet(example_stack: StackSpec) -> Iterator[LiveFleet]:
    live = LiveFleet(example_stack, "chat", replicas=2, port_base=0, time_factor=20)
    live.start()
    try:
        yield live
    finally:
        live.stop()


def url(port: int, path: str) -> str:
    return f"http://127.0.0.1:{port}{path}"


def test_completion_returns_max_tokens_and_usage(fleet: LiveFleet) -> None:
    response = httpx.post(url(fleet.ports[0], "/v1/completions"),
                          json={"model": "llama-3.1-8b", "prompt": "x" * 400, "max_tokens": 20}, timeout=30)
    assert response.status_code == 200
    data = response.json()
    assert {k: data["usage"][k] for k in ("prompt_tokens", "completion_tokens", "total_tokens")} == {
        "prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}
    assert len(data["choices"][0]["text"].split()) == 20
    assert data["choices"][0]["finish_reason"] == "length"


def test_chat_stream_sends_one_event_per_token_then_done(fleet: LiveFleet) -> None:
    body = {"messages": [{"role": "user", "content": "hello"}], "max_tokens": 6, "stream": True}
    with httpx.stream("POST", url(fleet.ports[1], "/v1/chat/completions"), json=body, timeout=30) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line.removeprefix("data: ") for line in response.iter_lines() if line]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert sum(1 for c in chunks if c["choices"][0]["delta"].get("content")) == 6
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"


def test_request_over_context_rejected_with_400(fleet: LiveFleet) -> None:
    response = httpx.post(url(fleet.ports[0], "/v1/completions"), json={"prompt": "x" * 40000, "max_tokens": 10})
    assert response.status_code == 400
    assert "maximum context length" in response.json()["error"]["message"]


def test_health_and_models(fleet: LiveFleet) -> None:
    assert httpx.get(url(fleet.ports[0], "/health")).status_code == 200
    with httpx.Client() as client:  # a HEAD answer has no body: the next request on the connection still parses
        head = client.head(url(fleet.ports[0], "/v1/models"))
        assert head.status_code == 200 and head.content == b"" and int(head.headers["content-length"]) > 0
        assert client.get(url(fleet.ports[0], "/version")).json()["version"]
    models = httpx.get(url(fleet.ports[0], "/v1/models")).json()
    assert models["data"][0]["id"] == "llama-3.1-8b"


def test_replicas_added_and_removed_while_running(fleet: LiveFleet) -> None:
    port = fleet.add_replica()
    assert port in fleet.ports and len(fleet.ports) == 3
    assert httpx.get(url(port, "/health")).status_code == 200
    fleet.remove_replica(port)
    assert port not in fleet.ports
    with pytest.raises(httpx.ConnectError):
        httpx.get(url(port, "/health"))
    with pytest.raises(LlmstackError, match="no simulated replica"):
        fleet.remove_replica(port)


def test_metrics_have_vllm_names_types_labels_and_buckets(fleet: LiveFleet) -> None:
    httpx.post(url(fleet.ports[0], "/v1/completions"), json={"prompt": "abc", "max_tokens": 3}, timeout=30)
    text = httpx.get(url(fleet.ports[0], "/metrics")).text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    for metric in default_metrics():
        name = metric["name"]
        family = families.get(name.removesuffix("_total")) or families.get(name)
        assert family is not None, name
        assert family.type == metric["type"].split()[0], name  # "gauge (info-style, ...)" is a gauge
        for sample in family.samples:
            labels = set(sample.labels) - {"le"}
            assert labels == set(metric["labels"]), (name, labels)
    ttft = [s for s in families["vllm:time_to_first_token_seconds"].samples if s.name.endswith("_bucket")]
    expected = next(m["buckets"] for m in default_metrics() if m["name"] == "vllm:time_to_first_token_seconds")
    assert [float(s.labels["le"]) for s in ttft] == [*map(float, expected), float("inf")]
    assert families["vllm:request_success"].samples[1].value == 1.0  # finished_reason="length"
    assert {s.labels["gpu"] for s in families["DCGM_FI_DEV_GPU_UTIL"].samples} == {"0"}


@pytest.fixture
def prometheus(fleet: LiveFleet, tmp_path: Path) -> Iterator[str]:
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [{
            "job_name": "vllm",
            "static_configs": [{
                "targets": [f"127.0.0.1:{p}" for p in fleet.ports],
                "labels": {"deployment": "chat", "model": "llama-3-1-8b", "variant": "awq", "pool": "l4",
                           "llmstack_role": "engine"},
            }],
        }],
    }
    with running_prometheus(tmp_path, config) as server:
        yield server.url


@pytest.mark.slow
def test_prometheus_signals_return_series_for_every_replica(fleet: LiveFleet, prometheus: str) -> None:
    def query(expr: str) -> list[dict[str, object]]:
        response = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=5)
        assert response.status_code == 200, response.text
        result: list[dict[str, object]] = response.json()["data"]["result"]
        return result

    missing: list[str] = []
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        for port in fleet.ports:  # keep traffic flowing so rates and histograms have data
            httpx.post(url(port, "/v1/completions"), json={"prompt": "x" * 800, "max_tokens": 8}, timeout=30)
        per_replica = query('count by (instance) (vllm:num_requests_running{deployment="chat"})')
        missing = [s.name for s in signals.signals()
                   if not any(r["metric"].get("deployment") == "chat" for r in query(s.expr))]  # type: ignore[union-attr]
        rate = query(signals.by_name()["request_rate"].expr)
        flowing = bool(rate) and float(rate[0]["value"][1]) > 0  # type: ignore[index]
        if not missing and len(per_replica) == len(fleet.ports) and flowing:
            break
        time.sleep(1)
    assert not missing, f"signals without a series: {missing}"
    up = query('up{llmstack_role="engine"}')
    assert sorted(r["metric"]["instance"] for r in up) == sorted(  # type: ignore[index]
        f"127.0.0.1:{p}" for p in fleet.ports)
    assert flowing, "request_rate stayed 0"


def test_prefix_caching_reported_as_configured_and_long_prefixes_hit(example_stack: StackSpec) -> None:
    data = example_stack.model_dump(mode="json", by_alias=True, exclude_none=True)
    next(d for d in data["deployments"] if d["name"] == "chat")["engine"]["enable_prefix_caching"] = False
    off = StackSpec.model_validate(data)
    with LiveFleet(off, "chat", replicas=1, time_factor=20) as fleet:
        text = httpx.get(url(fleet.ports[0], "/metrics")).text
    assert 'enable_prefix_caching="False"' in text
    with LiveFleet(example_stack, "chat", replicas=1, time_factor=20) as fleet:
        prompt = "the same long system prompt " * 400  # 11 KB, five 512-token blocks
        for _ in range(2):
            httpx.post(url(fleet.ports[0], "/v1/completions"), json={"prompt": prompt, "max_tokens": 2}, timeout=30)
        families = {f.name: f for f in text_string_to_metric_families(httpx.get(url(fleet.ports[0], "/metrics")).text)}
    assert families["vllm:prefix_cache_hits"].samples[0].value >= 2048


def test_stop_closes_idle_keep_alive_connections_at_once(fleet: LiveFleet) -> None:
    port = fleet.add_replica()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        fleet.remove_replica(port, drain_s=5)
        assert sock.recv(4096) == b""  # closed, not left open for the keep-alive timeout
    assert time.monotonic() - started < 2


def test_expect_continue_and_malformed_requests(fleet: LiveFleet) -> None:
    with socket.create_connection(("127.0.0.1", fleet.ports[0]), timeout=5) as sock:
        body = b'{"prompt": "hi", "max_tokens": 1}'
        sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body))
        assert sock.recv(4096).startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(body)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 OK")
    with socket.create_connection(("127.0.0.1", fleet.ports[0]), timeout=5) as sock:
        sock.sendall(b"NONSENSE\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 400")
