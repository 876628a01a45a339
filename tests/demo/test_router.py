"""The demo's HAProxy: master-worker start, checked hot reloads that keep streams alive, stats read back."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from llmstack.demo import config
from llmstack.demo.processes import ProcessGroup, free_port
from llmstack.demo.router import Router, parse_sessions_csv, parse_stats_csv, runtime_socket_path
from llmstack.errors import LlmstackError
from llmstack.sim.server import LiveFleet
from llmstack.spec.models import StackSpec


def test_stats_csv_parsed_into_backend_servers() -> None:
    text = ("# pxname,svname,qcur\nstats,FRONTEND,\nbe_chat,chat-1,0\nbe_chat,chat-2,0\nbe_chat,BACKEND,0\n"
            "be_reasoning,reasoning-3,0\n")
    assert parse_stats_csv(text) == {"be_chat": {"chat-1", "chat-2"}, "be_reasoning": {"reasoning-3"}}


@pytest.fixture
def served(example_stack: StackSpec, tmp_path: Path) -> Iterator[tuple[Router, LiveFleet, LiveFleet, config.DemoPorts]]:
    chat = LiveFleet(example_stack, "chat", replicas=1, time_factor=10)
    reasoning = LiveFleet(example_stack, "reasoning", replicas=1, time_factor=10)
    ports = config.DemoPorts(free_port(), free_port(), free_port())
    try:
        chat.start()
        reasoning.start()
        with ProcessGroup() as group:
            router = Router(tmp_path, ports.router_stats, group)
            router.start(config.haproxy_config(example_stack, "gateway", {"chat": chat.ports,
                                                                          "reasoning": reasoning.ports}, ports),
                         f"http://127.0.0.1:{ports.router}/healthz")
            yield router, chat, reasoning, ports
    finally:
        chat.stop()
        reasoning.stop()


@pytest.mark.slow
def test_reload_adds_server_without_dropping_a_stream(
        example_stack: StackSpec, served: tuple[Router, LiveFleet, LiveFleet, config.DemoPorts]) -> None:
    router, chat, reasoning, ports = served
    url = f"http://127.0.0.1:{ports.router}/v1/completions"
    chunks: list[bytes] = []

    def stream() -> None:
        body = {"model": "llama-3.1-8b", "prompt": "tok " * 50, "max_tokens": 400, "stream": True}
        with httpx.stream("POST", url, json=body, timeout=30) as response:
            chunks.extend(response.iter_bytes())

    client = threading.Thread(target=stream)
    client.start()
    new = chat.add_replica()
    router.reload(config.haproxy_config(example_stack, "gateway", {"chat": chat.ports,
                                                                   "reasoning": reasoning.ports}, ports))
    expected = {config.server_name("chat", p) for p in chat.ports}
    assert router.wait_servers("be_chat", expected) is not None
    client.join(timeout=30)
    text = b"".join(chunks).decode()
    assert text.count('data: {"id"') == 400 and text.rstrip().endswith("data: [DONE]")  # one chunk per token
    assert router.reloads == 1 and config.server_name("chat", new) in router.servers()["be_chat"]


@pytest.mark.slow
def test_bad_config_refused_before_reload(served: tuple[Router, LiveFleet, LiveFleet, config.DemoPorts]) -> None:
    router, *_ = served
    before = router.config_path.read_text()
    with pytest.raises(LlmstackError, match="haproxy rejected"):
        router.reload(before + "\nbackend broken\n    balance nonsense\n")
    assert router.config_path.read_text() == before and router.reloads == 0


def test_sessions_csv_counts_open_and_queued() -> None:
    text = "# pxname,svname,qcur,scur\nbe_chat,chat-1,1,2\nbe_chat,BACKEND,0,3\nbe_chat,chat-2,,\n"
    assert parse_sessions_csv(text) == {("be_chat", "chat-1"): 3, ("be_chat", "chat-2"): 0}


def test_long_workdir_gets_a_short_socket_path(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 120)
    assert len(str(runtime_socket_path(deep))) <= 100 and runtime_socket_path(deep) == runtime_socket_path(deep)


def _zero_stack(example_stack: StackSpec) -> StackSpec:
    chat = example_stack.deployment("chat")
    replicas = chat.replicas.model_copy(update={"min": 0, "initial": 0})
    deployments = [d.model_copy(update={"replicas": replicas}) if d.name == "chat" else d
                   for d in example_stack.deployments]
    return example_stack.model_copy(update={"deployments": deployments})


@pytest.mark.slow
def test_request_for_a_deployment_at_zero_is_held_until_a_server_is_added(
        example_stack: StackSpec, tmp_path: Path) -> None:
    stack = _zero_stack(example_stack)
    chat = LiveFleet(stack, "chat", replicas=0, time_factor=10)
    reasoning = LiveFleet(stack, "reasoning", replicas=1, time_factor=10)
    ports = config.DemoPorts(free_port(), free_port(), free_port())
    results: list[httpx.Response] = []

    def ask() -> None:
        body = {"model": "llama-3.1-8b", "prompt": "tok " * 5, "max_tokens": 3}
        results.append(httpx.post(f"http://127.0.0.1:{ports.router}/v1/completions", json=body, timeout=60))

    try:
        chat.start()
        reasoning.start()
        with ProcessGroup() as group:
            router = Router(tmp_path, ports.router_stats, group)
            options = config.router_options(stack, "gateway", ports, str(router.socket_path),
                                            str(router.hold_script_path))
            assert options.hold_timeout == config.HOLD_TIMEOUT
            router.start(config.haproxy_config(stack, "gateway", {"chat": [], "reasoning": reasoning.ports}, ports,
                                               str(router.socket_path), str(router.hold_script_path)),
                         f"http://127.0.0.1:{ports.router}/healthz")
            client = threading.Thread(target=ask)
            client.start()
            time.sleep(1.5)
            assert not results, "the router answered before any chat replica existed"
            held = httpx.get(f"http://127.0.0.1:{ports.router_stats}/held-metrics", timeout=5).text
            assert 'llmstack_router_held_requests{proxy="be_chat"} 1' in held
            port = chat.add_replica()
            router.add_server("be_chat", config.server_name("chat", port), f"127.0.0.1:{port}",
                              config.server_check(options))
            client.join(timeout=30)
            assert [r.status_code for r in results] == [200]
            assert results[0].headers["x-llmstack-server"] == config.server_name("chat", port)
            after = httpx.get(f"http://127.0.0.1:{ports.router_stats}/held-metrics", timeout=5).text
            assert 'llmstack_router_held_requests{proxy="be_chat"} 0' in after
            assert 'llmstack_router_held_requests_total{proxy="be_chat"} 1' in after
            router.drain_server("be_chat", config.server_name("chat", port))
            assert router.sessions("be_chat", config.server_name("chat", port)) == 0
            assert router.remove_server("be_chat", config.server_name("chat", port))
            assert "be_chat" not in router.servers() or not router.servers()["be_chat"]
    finally:
        chat.stop()
        reasoning.stop()
