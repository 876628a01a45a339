"""The demo's HAProxy: master-worker start, checked hot reloads that keep streams alive, stats read back."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from llmstack.demo import config
from llmstack.demo.processes import ProcessGroup, free_port
from llmstack.demo.router import Router, parse_stats_csv
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
