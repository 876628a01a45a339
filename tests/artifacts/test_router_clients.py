"""The generated router (real HAProxy) in front of simulated replicas, driven by real clients.

What load tools and the openai client do that the router used to get wrong: ``GET /health`` and
friends without a model, a long prompt whose ``model`` key comes after the first 256 KiB (the
openai client writes ``messages`` before ``model``), a body over the limit, a model list with a
model whose replicas are all down, a client too slow to send its request.

Design notes: two deployments of Llama 3.1 8B on H100 (128k context, so a 300 KB prompt fits),
one simulated replica each, sped up 50x; health checks every 100 ms (fall 2, rise 1), so a
stopped replica leaves the model list within about a second.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest

from llmstack.artifacts import haproxy
from llmstack.sim.server import LiveFleet
from llmstack.spec.models import StackSpec
from tests.artifacts.upstreams import free_port, running_haproxy

pytestmark = pytest.mark.slow

MODELS = {"alpha": "dep-a", "org/beta": "dep-b"}
MAX_BODY = 1024 * 1024


def router_stack() -> StackSpec:
    return StackSpec.model_validate({
        "name": "r",
        "pools": [{"name": "gpu", "accelerator": "H100-SXM-80GB", "gpus_per_node": 8, "cost_per_gpu_hour": 2.5}],
        "models": [{"name": "m", "architecture": "Llama-3.1-8B", "variants": [
            {"name": "bf16", "weights": "meta-llama/Llama-3.1-8B-Instruct"}]}],
        "deployments": [{"name": d, "model": "m", "variant": "bf16", "pool": "gpu",
                         "engine": {"max_model_len": 131072}} for d in MODELS.values()],
        "routers": [{"name": "gw", "strategy": "least_request",
                     "routes": [{"model": m, "backends": {d: 1}} for m, d in MODELS.items()]}],
    })


@dataclass
class Served:
    url: str
    fleets: dict[str, LiveFleet]


@contextlib.contextmanager
def serving(tmp_path: Path, **options: object) -> Iterator[Served]:
    stack = router_stack()
    fleets = {d: LiveFleet(stack, d, replicas=1, time_factor=50) for d in MODELS.values()}
    try:
        for fleet in fleets.values():
            fleet.start()
        addressing = {d: haproxy.BackendAddressing.static([haproxy.Server(f"{d}-0", "127.0.0.1", f.ports[0])])
                      for d, f in fleets.items()}
        port = free_port()
        settings = haproxy.HaproxyOptions(
            bind_host="127.0.0.1", port=port, stats_port=free_port(), log=False, health_check_interval="100ms",
            health_check_fall=2, health_check_rise=1, max_body_bytes=MAX_BODY, **options)  # type: ignore[arg-type]
        with running_haproxy(haproxy.build_haproxy_config(stack, "gw", addressing, settings), tmp_path, port) as url:
            wait_until(lambda: httpx.get(f"{url}/health", timeout=5).status_code == 200)
            yield Served(url, fleets)
    finally:
        for fleet in fleets.values():
            fleet.stop()


def wait_until(check: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serving(tmp_path_factory.mktemp("router")) as running:
        yield running


def client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=60)


def test_health_metrics_version_tokenize_answer_without_a_model(served: Served) -> None:
    health = httpx.get(f"{served.url}/health", timeout=10)
    assert health.status_code == 200
    metrics = httpx.get(f"{served.url}/metrics", timeout=10)
    assert metrics.status_code == 200 and 'haproxy_backend_active_servers{proxy="be_dep-a"} 1' in metrics.text
    version = httpx.get(f"{served.url}/version", timeout=10)
    assert version.status_code == 200 and version.json()["version"]
    assert version.headers["x-llmstack-backend"] == "be_dep-a"  # the first route takes model-less engine paths
    tokens = httpx.post(f"{served.url}/tokenize", json={"model": "org/beta", "prompt": "x" * 400}, timeout=10)
    assert tokens.status_code == 200 and tokens.json()["count"] == 100
    assert tokens.headers["x-llmstack-backend"] == "be_dep-b"


def test_per_model_paths_are_forwarded_with_the_prefix_stripped(served: Served) -> None:
    metrics = httpx.get(f"{served.url}/org/beta/metrics", timeout=10)
    assert metrics.status_code == 200
    assert 'vllm:num_requests_running{engine="0",model_name="org/beta"}' in metrics.text
    assert httpx.get(f"{served.url}/alpha/health", timeout=10).headers["x-llmstack-backend"] == "be_dep-a"
    models = httpx.get(f"{served.url}/org/beta/v1/models", timeout=10).json()
    assert [m["id"] for m in models["data"]] == ["org/beta"]  # the replica's own list


def test_model_list_has_created_and_only_models_with_a_healthy_server(tmp_path: Path) -> None:
    with serving(tmp_path) as running:
        listed = client(running.url).models.list().data
        assert [m.id for m in listed] == ["alpha", "org/beta"]
        assert all(abs(m.created - time.time()) < 60 for m in listed)
        running.fleets["dep-b"].stop()
        wait_until(lambda: [m.id for m in client(running.url).models.list().data] == ["alpha"])
        running.fleets["dep-a"].stop()
        wait_until(lambda: client(running.url).models.list().data == [])
        down = httpx.get(f"{running.url}/health", timeout=10)
        assert down.status_code == 503 and down.json()["error"]["code"] == 503


def test_300_kb_prompt_with_model_after_the_first_256_kib_is_routed(served: Served) -> None:
    prompt = "routers pick replicas " * 14000  # 308 KB, about 77k tokens
    messages = [{"role": "user", "content": prompt}]
    body = json.dumps({"messages": messages, "model": "org/beta", "max_tokens": 4})
    assert body.index('"model"') > 256 * 1024
    reply = httpx.post(f"{served.url}/v1/chat/completions", content=body,
                       headers={"content-type": "application/json"}, timeout=60)
    assert reply.status_code == 200, reply.text
    assert reply.headers["x-llmstack-backend"] == "be_dep-b"
    assert reply.json()["usage"]["prompt_tokens"] > 75000
    completion = client(served.url).chat.completions.create(model="alpha", messages=messages,  # type: ignore[arg-type]
                                                            max_tokens=2)
    assert completion.model == "alpha"


def test_body_over_the_limit_gets_413_json(served: Served) -> None:
    body = json.dumps({"model": "alpha", "prompt": "x" * (2 * MAX_BODY)}).encode()
    reply = httpx.post(f"{served.url}/v1/completions", content=body, headers={"content-type": "application/json"},
                       timeout=30)
    assert reply.status_code == 413
    assert reply.json()["error"]["code"] == 413
    chunked = httpx.post(f"{served.url}/v1/completions", content=iter([body[:1000], body[1000:]]),
                         headers={"content-type": "application/json"}, timeout=30)
    assert chunked.status_code == 413 and chunked.json()["error"]["type"] == "invalid_request_error"


def test_client_too_slow_to_send_its_body_gets_408_json(tmp_path: Path) -> None:
    """A body that stops arriving. (Headers that stop arriving get HAProxy 2.6's built-in HTML 408: its
    HTTP/1 layer answers before any rule or error file applies.)"""
    with serving(tmp_path, request_timeout="500ms") as running:
        host, port = running.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 1000\r\n\r\n{\"model\": \"alpha\", ")  # and never the rest
            reply = b""
            while chunk := sock.recv(65536):
                reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408")
    assert b"content-type: application/json" in head.lower()
    assert json.loads(body)["error"] == {"message": "the request was not received in time", "type": "timeout_error",
                                         "param": None, "code": 408}
