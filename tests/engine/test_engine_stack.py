"""The generated router and monitoring in front of two real vLLM engines (the session's ``tiny-a``/``tiny-b``).

One HAProxy (the demo's :class:`~llmstack.demo.router.Router`, configuration from
:func:`llmstack.demo.config.haproxy_config`) and one Prometheus (the demo's
:class:`~llmstack.demo.monitoring.Monitoring`: generated scrape config, recording and alert rules,
file_sd targets) serve the whole module. ``gamma`` (``tiny-c``) has one server on a port where
nothing listens: the model with no healthy backend.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from llmstack.artifacts import prometheus
from llmstack.artifacts.haproxy import backend_name
from llmstack.demo import config
from llmstack.demo.monitoring import Monitoring
from llmstack.demo.processes import ProcessGroup, free_port
from llmstack.demo.router import Router
from llmstack.engine.launcher import VllmEngine
from llmstack.metrics.reading import PrometheusReader, read_snapshots
from llmstack.spec.models import StackSpec
from tests.conftest import engine_stack
from tests.servers import query

DCGM_RECORDS = ("gpu_utilization", "gpu_memory_used")
"""Recording rules over DCGM gauges: no GPU here, no series."""


@dataclass(frozen=True)
class Served:
    stack: StackSpec
    url: str
    monitoring: Monitoring
    router: Router


@pytest.fixture(scope="module")
def served(vllm_engines: list[VllmEngine], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    stack = engine_stack()
    workdir = tmp_path_factory.mktemp("served")
    ports = config.DemoPorts(free_port(), free_port(), free_port())
    alpha, beta = vllm_engines
    replicas = {"alpha": [alpha.port], "beta": [beta.port], "gamma": [free_port()]}
    with ProcessGroup() as group:
        router = Router(workdir, ports.router_stats, group)
        router.start(config.haproxy_config(stack, "gw", replicas, ports), f"http://127.0.0.1:{ports.router}/healthz")
        monitoring = Monitoring(stack, workdir, ports, group)
        monitoring.start({"alpha": [alpha.port], "beta": [beta.port], "gamma": []})
        for name, engine in (("alpha", alpha), ("beta", beta)):
            assert monitoring.wait_targets(name, {engine.port}, timeout_s=60) is not None, monitoring.targets()
        gamma = {config.server_name("gamma", replicas["gamma"][0])}
        assert router.wait_servers(backend_name("gamma"), gamma) is not None, router.servers()
        yield Served(stack, f"http://127.0.0.1:{ports.router}", monitoring, router)


def chat(url: str, model: str | None, path: str = "/v1/chat/completions", **extra: object) -> httpx.Response:
    body: dict[str, object] = {"messages": [{"role": "user", "content": "hello there"}], "max_tokens": 8, **extra}
    if model is not None:
        body["model"] = model
    return httpx.post(url + path, json=body, timeout=120)


def test_router_sends_each_model_to_its_engine(served: Served) -> None:
    for model in ("tiny-a", "tiny-b", "tiny-a"):
        reply = chat(served.url, model)
        assert reply.status_code == 200, reply.text
        assert reply.json()["model"] == model  # each engine serves one name only (404 for the other)


def test_path_prefix_routes_and_is_stripped(served: Served) -> None:
    reply = chat(served.url, None, path="/tiny-b/v1/chat/completions")
    assert reply.status_code == 200, reply.text
    assert reply.json()["model"] == "tiny-b"


def test_stream_passes_through_the_router_chunk_by_chunk(served: Served) -> None:
    body = {"model": "tiny-a", "messages": [{"role": "user", "content": "count"}], "max_tokens": 16,
            "stream": True, "stream_options": {"include_usage": True}}
    events: list[str] = []
    with httpx.stream("POST", f"{served.url}/v1/chat/completions", json=body, timeout=120) as reply:
        assert reply.status_code == 200
        assert reply.headers["content-type"].startswith("text/event-stream")
        events = [line.removeprefix("data: ") for line in reply.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] >= 1
    assert len(chunks) >= 3


def test_unknown_model_is_a_json_404(served: Served) -> None:
    reply = chat(served.url, "no-such-model")
    assert reply.status_code == 404
    assert "no-such-model" in json.dumps(reply.json())


def test_model_without_a_healthy_backend_is_503(served: Served) -> None:
    reply = chat(served.url, "tiny-c")
    assert reply.status_code == 503


def _drive_load(url: str, requests: int = 6) -> None:
    for i in range(requests):
        for model in ("tiny-a", "tiny-b"):
            assert chat(url, model, max_tokens=16 + i).status_code == 200


def recording_rule_names(stack: StackSpec) -> list[str]:
    return [r["record"] for g in prometheus.build_recording_rules(stack)["groups"] for r in g["rules"]
            if not any(d in r["record"] for d in DCGM_RECORDS)]


def test_every_recording_rule_but_dcgm_yields_a_series_per_deployment(served: Served) -> None:
    _drive_load(served.url)
    names = recording_rule_names(served.stack)
    assert len(names) >= 10
    pending = set(names)
    deadline = time.monotonic() + 90
    answers: dict[str, dict[str, float]] = {}
    while pending and time.monotonic() < deadline:
        for name in sorted(pending):
            answers[name] = {r["metric"].get("deployment", ""): float(r["value"][1])
                             for r in query(served.monitoring.url, name)}
            if {"alpha", "beta"} <= set(answers[name]):
                pending.discard(name)
        time.sleep(1)
    assert not pending, {n: answers.get(n) for n in pending}
    for name in ("deployment:vllm_ttft_seconds:p95", "deployment:vllm_requests:rate",
                 "deployment:vllm_generation_tokens:rate"):
        assert all(math.isfinite(v) and v > 0 for v in answers[name].values()), (name, answers[name])
    assert answers["deployment:vllm_engines_up:sum"] == {"alpha": 1.0, "beta": 1.0}


def test_metrics_reader_reads_every_engine_signal_from_real_prometheus(served: Served) -> None:
    _drive_load(served.url, requests=2)
    reader = PrometheusReader(served.monitoring.url, timeout_s=10)
    snapshots = read_snapshots(reader, {"alpha": 1, "beta": 1}, time.time(), recording_rules=True)
    for name in ("alpha", "beta"):
        snap = snapshots[name]
        assert snap.error is None and snap.replicas_reporting == 1 and not snap.stale, snap.to_json()
        gpu_only = {m for m in snap.missing if "gpu" in m}
        assert set(snap.missing) == gpu_only, snap.to_json()
        assert snap.values["request_rate"] > 0 and 0 <= snap.values["kv_cache_usage"] <= 1, snap.to_json()
        assert snap.values["ttft_p95"] > 0, snap.to_json()
