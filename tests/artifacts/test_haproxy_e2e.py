"""The generated router configuration, run by the real HAProxy in front of fake vLLM engines.

Design notes:
- Every server binds 127.0.0.1 on a free port; fixtures stop them in ``finally``.
- Health checks run every 100 ms with fall 2 / rise 1, so a stopped upstream is marked down
  in about 0.2 s and a returning one up in about 0.1 s; waits are bounded polling loops.
- Weighted canaries pick uniformly (``rand``), so the share over 400 requests is checked
  within 0.08 of the weight (about 3.7 standard deviations).
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from llmstack.artifacts import haproxy
from llmstack.spec.models import StackSpec
from tests.artifacts.upstreams import Upstream, free_port, running_haproxy, running_upstreams

pytestmark = pytest.mark.slow


def router_stack(strategy: str, routes: list[dict[str, object]], deployments: list[str]) -> StackSpec:
    return StackSpec.model_validate({
        "name": "t",
        "pools": [{"name": "gpu", "accelerator": "H100-SXM-80GB", "gpus_per_node": 8, "cost_per_gpu_hour": 2.5}],
        "models": [{"name": "m", "architecture": "Llama-3.1-8B", "variants": [
            {"name": "bf16", "weights": "meta-llama/Llama-3.1-8B-Instruct"}]}],
        "deployments": [{"name": d, "model": "m", "variant": "bf16", "pool": "gpu"} for d in deployments],
        "routers": [{"name": "gw", "strategy": strategy, "routes": routes}],
    })


@contextlib.contextmanager
def serving(
    stack: StackSpec, layout: dict[str, list[str]], tmp_path: Path
) -> Iterator[tuple[str, dict[str, Upstream]]]:
    """Fake engines named as in ``layout`` (deployment -> upstream names) behind the generated router."""
    names = [name for group in layout.values() for name in group]
    with running_upstreams(*names) as ups, start_router(
            stack, {d: [ups[n] for n in group] for d, group in layout.items()}, tmp_path) as url:
        yield url, ups


@contextlib.contextmanager
def start_router(stack: StackSpec, upstreams: dict[str, list[Upstream]], tmp_path: Path) -> Iterator[str]:
    port, stats = free_port(), free_port()
    addressing = {d: haproxy.BackendAddressing.static([haproxy.Server(u.name, "127.0.0.1", u.port) for u in ups])
                  for d, ups in upstreams.items()}
    options = haproxy.HaproxyOptions(bind_host="127.0.0.1", port=port, stats_port=stats, log=False,
                                     health_check_interval="100ms", health_check_fall=2, health_check_rise=1)
    config = haproxy.build_haproxy_config(stack, "gw", addressing, options)
    with running_haproxy(config, tmp_path, port) as url:
        yield url


def chat(client: httpx.Client, url: str, model: str | None, headers: dict[str, str] | None = None,
         **extra: object) -> httpx.Response:
    body: dict[str, object] = {"messages": [{"role": "user", "content": "hello"}], **extra}
    if model is not None:
        body["model"] = model
    return client.post(f"{url}/v1/chat/completions", json=body, headers=headers, timeout=10)


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def two_models(tmp_path: Path) -> Iterator[tuple[str, dict[str, Upstream]]]:
    stack = router_stack("round_robin", [
        {"model": "alpha", "backends": {"dep-a": 1}},
        {"model": "org/beta-1.5", "backends": {"dep-b": 1}},
    ], ["dep-a", "dep-b"])
    with serving(stack, {"dep-a": ["a1"], "dep-b": ["b1"]}, tmp_path) as (url, ups):
        yield url, ups


def test_request_routed_by_body_model(two_models: tuple[str, dict[str, Upstream]]) -> None:
    url, ups = two_models
    with httpx.Client() as client:
        for _ in range(5):
            assert chat(client, url, "alpha").json()["upstream"] == "a1"
            reply = chat(client, url, "org/beta-1.5")
            assert reply.json()["upstream"] == "b1"
            assert reply.headers["x-llmstack-backend"] == "be_dep-b"
    assert {s.model for s in ups["a1"].seen} == {"alpha"}
    assert {s.model for s in ups["b1"].seen} == {"org/beta-1.5"}


def test_request_routed_by_path_prefix_when_body_has_no_model(two_models: tuple[str, dict[str, Upstream]]) -> None:
    url, _ = two_models
    reply = httpx.post(f"{url}/org/beta-1.5/v1/chat/completions", json={"messages": []}, timeout=10)
    assert reply.status_code == 200
    assert reply.json()["upstream"] == "b1"
    assert reply.json()["path"] == "/v1/chat/completions"


def test_unknown_model_gets_404_json(two_models: tuple[str, dict[str, Upstream]]) -> None:
    url, ups = two_models
    with httpx.Client() as client:
        reply = chat(client, url, "gamma")
    assert reply.status_code == 404
    assert reply.headers["content-type"] == "application/json"
    assert reply.json() == {"error": {  # vLLM's own answer for an unknown model
        "message": "The model `gamma` does not exist. Valid aliases: alpha, org/beta-1.5.",
        "type": "NotFoundError", "param": "model", "code": 404}}
    assert not ups["a1"].seen and not ups["b1"].seen


def test_model_with_quote_is_escaped_in_404_body(two_models: tuple[str, dict[str, Upstream]]) -> None:
    url, _ = two_models
    with httpx.Client() as client:
        reply = chat(client, url, 'evil"}, "x": "')
    assert reply.status_code == 404
    assert reply.json()["error"]["message"].startswith('The model `evil"}')


def test_missing_model_gets_400_and_model_list_served(two_models: tuple[str, dict[str, Upstream]]) -> None:
    url, _ = two_models
    with httpx.Client() as client:
        reply = chat(client, url, None)
        assert reply.status_code == 400
        assert reply.json()["error"]["type"] == "invalid_request_error"
        models = client.get(f"{url}/v1/models").json()
    assert [m["id"] for m in models["data"]] == ["alpha", "org/beta-1.5"]


def test_canary_weights_respected_within_tolerance(tmp_path: Path) -> None:
    stack = router_stack("round_robin", [{"model": "m", "backends": {"stable": 75, "canary": 25}}],
                         ["stable", "canary"])
    with serving(stack, {"stable": ["s1"], "canary": ["c1"]}, tmp_path) as (url, _ups), httpx.Client() as client:
        served = Counter(chat(client, url, "m").json()["upstream"] for _ in range(400))
    assert served["s1"] + served["c1"] == 400
    assert abs(served["c1"] / 400 - 0.25) < 0.08


def test_canary_fails_over_when_its_deployment_is_down(tmp_path: Path) -> None:
    stack = router_stack("round_robin", [{"model": "m", "backends": {"stable": 50, "canary": 50}}],
                         ["stable", "canary"])
    with serving(stack, {"stable": ["s1"], "canary": ["c1"]}, tmp_path) as (url, ups):
        ups["c1"].stop()
        with httpx.Client() as client:
            assert wait_for(lambda: all(chat(client, url, "m").status_code == 200 for _ in range(10)))
            served = Counter(chat(client, url, "m").json()["upstream"] for _ in range(40))
    assert served == Counter({"s1": 40})


def test_least_request_prefers_idle_upstream(tmp_path: Path) -> None:
    stack = router_stack("least_request", [{"model": "m", "backends": {"dep": 1}}], ["dep"])
    with serving(stack, {"dep": ["u1", "u2"]}, tmp_path) as (url, ups):
        slow = threading.Thread(target=lambda: chat(httpx.Client(), url, "m", headers={"x-test-delay": "1.5"}))
        slow.start()
        try:
            assert wait_for(lambda: ups["u1"].in_flight + ups["u2"].in_flight == 1, timeout=2)
            busy = "u1" if ups["u1"].in_flight else "u2"
            with httpx.Client() as client:
                served = Counter(chat(client, url, "m").json()["upstream"] for _ in range(20))
        finally:
            slow.join(timeout=5)
    idle = "u2" if busy == "u1" else "u1"
    assert served == Counter({idle: 20})


def test_session_affinity_sticks_per_session(tmp_path: Path) -> None:
    stack = router_stack("session_affinity", [{"model": "m", "backends": {"dep": 1}}], ["dep"])
    with serving(stack, {"dep": ["u1", "u2", "u3"]}, tmp_path) as (url, _ups), httpx.Client() as client:
        per_session = {
            session: {chat(client, url, "m", headers={"x-session-id": session}).json()["upstream"]
                      for _ in range(5)}
            for session in (f"session-{i}" for i in range(12))
        }
    assert all(len(upstreams) == 1 for upstreams in per_session.values())
    assert len(set().union(*per_session.values())) > 1


def test_prefix_hash_sends_same_prompt_start_to_same_upstream(tmp_path: Path) -> None:
    stack = router_stack("prefix_hash", [{"model": "m", "backends": {"dep": 1}}], ["dep"])
    with serving(stack, {"dep": ["u1", "u2", "u3"]}, tmp_path) as (url, _ups), httpx.Client() as client:
        per_prefix = {}
        for i in range(12):
            system = f"You are assistant number {i}. " * 20
            per_prefix[i] = {
                chat(client, url, "m", messages=[{"role": "system", "content": system},
                                                 {"role": "user", "content": f"question {q}"}]
                     ).json()["upstream"]
                for q in range(4)
            }
    assert all(len(upstreams) == 1 for upstreams in per_prefix.values())
    assert len(set().union(*per_prefix.values())) > 1


def test_sse_chunks_arrive_incrementally(tmp_path: Path) -> None:
    stack = router_stack("least_request", [{"model": "m", "backends": {"dep": 1}}], ["dep"])
    with serving(stack, {"dep": ["u1"]}, tmp_path) as (url, _ups):
        arrivals = []
        body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
        with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=10) as reply:
            assert reply.headers["content-type"] == "text/event-stream"
            for line in reply.iter_lines():
                if line.startswith("data: "):
                    arrivals.append((time.monotonic(), line))
    assert arrivals[-1][1] == "data: [DONE]"
    assert len(arrivals) == 6
    # 5 gaps of 0.2 s upstream: the first event is seen long before the last one is sent
    assert arrivals[-1][0] - arrivals[0][0] > 0.7
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(arrivals)]
    assert min(gaps) > 0.1


def test_503_json_when_all_down_and_recovery(tmp_path: Path) -> None:
    stack = router_stack("round_robin", [{"model": "m", "backends": {"dep": 1}}], ["dep"])
    with serving(stack, {"dep": ["u1", "u2"]}, tmp_path) as (url, ups), httpx.Client() as client:
        assert chat(client, url, "m").status_code == 200
        ups["u1"].stop()
        ups["u2"].stop()
        assert wait_for(lambda: chat(client, url, "m").status_code == 503)
        down = chat(client, url, "m")
        assert down.headers["content-type"] == "application/json"
        assert down.json()["error"]["code"] == 503
        ups["u2"].start()
        assert wait_for(lambda: chat(client, url, "m").status_code == 200)
        assert chat(client, url, "m").json()["upstream"] == "u2"


def test_stats_port_serves_prometheus_metrics(tmp_path: Path) -> None:
    stack = router_stack("round_robin", [{"model": "m", "backends": {"dep": 1}}], ["dep"])
    port, stats = free_port(), free_port()
    with running_upstreams("u1") as ups:
        options = haproxy.HaproxyOptions(bind_host="127.0.0.1", port=port, stats_port=stats, log=False)
        addressing = {"dep": haproxy.BackendAddressing.static([haproxy.Server("u1", "127.0.0.1", ups["u1"].port)])}
        with running_haproxy(haproxy.build_haproxy_config(stack, "gw", addressing, options), tmp_path, port):
            metrics = httpx.get(f"http://127.0.0.1:{stats}/metrics", timeout=5).text
    assert 'haproxy_backend_active_servers{proxy="be_dep"}' in metrics


SHARED_SYSTEM = "You are a helpful assistant. Answer briefly and cite sources. " * 8


def test_prefix_hash_canary_gets_its_weight_with_a_shared_system_prompt(tmp_path: Path) -> None:
    """Before: the canary pick hashed the prompt start, so a shared system prompt sent 0 % to the canary."""
    stack = router_stack("prefix_hash", [{"model": "m", "backends": {"stable": 50, "canary": 50}}],
                         ["stable", "canary"])
    with serving(stack, {"stable": ["s1"], "canary": ["c1"]}, tmp_path) as (url, _ups), httpx.Client() as client:
        served = Counter(
            chat(client, url, "m", messages=[{"role": "system", "content": SHARED_SYSTEM},
                                             {"role": "user", "content": f"question {q}"}]).json()["upstream"]
            for q in range(400))
    assert abs(served["c1"] / 400 - 0.5) < 0.08


def test_prefix_hash_bounds_the_load_of_the_hashed_replica(tmp_path: Path) -> None:
    """Six concurrent slow requests with one prompt start: at most ceil(1.5 * 6 / 3) = 3 on one replica."""
    stack = router_stack("prefix_hash", [{"model": "m", "backends": {"dep": 1}}], ["dep"])
    with serving(stack, {"dep": ["u1", "u2", "u3"]}, tmp_path) as (url, ups):
        body = [{"role": "system", "content": SHARED_SYSTEM}, {"role": "user", "content": "q"}]

        def slow() -> None:
            with httpx.Client() as client:
                chat(client, url, "m", headers={"x-test-delay": "2"}, messages=body)

        threads = [threading.Thread(target=slow) for _ in range(6)]
        for thread in threads:
            thread.start()
            time.sleep(0.1)  # one at a time, so each sees the in-flight load of the ones before
        try:
            assert wait_for(lambda: sum(u.in_flight for u in ups.values()) == 6, timeout=3)
            loads = sorted(u.in_flight for u in ups.values())
        finally:
            for thread in threads:
                thread.join(timeout=5)
    assert max(loads) <= 3
    assert sum(1 for load in loads if load) >= 2
