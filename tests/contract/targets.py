"""The servers the contract suite talks to: the simulated replica, the same behind the generated router
(real HAProxy, one route, so the router is as transparent as the engine), and a real vLLM engine.

The real engine is the engine tier's session-shared ``vllm_engine`` (tests/conftest.py: the tiny
offline model, 1024-token context, served as ``tiny-a``); it skips where no engine is installed and
fails in CI (``CI=true``). ``LLMSTACK_CONTRACT_ENGINE=http://127.0.0.1:PORT`` points the suite at an
engine already running instead (for development).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from llmstack.artifacts import haproxy
from llmstack.sim.server import LiveFleet
from llmstack.spec.models import StackSpec
from tests.artifacts.upstreams import free_port, running_haproxy

STANDIN_MODEL = "tiny"
STANDIN_MAX_MODEL_LEN = 1024
STANDIN_TIME_FACTOR = 4.0
"""Sped up 4x: a 1000-token decode takes a few real seconds, long enough to disconnect in the middle."""


@dataclass(frozen=True)
class Target:
    name: str
    base_url: str
    """``http://127.0.0.1:PORT``, without ``/v1``."""
    model: str
    max_model_len: int
    metrics_path: str = "/metrics"
    """Where the engine's own ``/metrics`` is (through the router: ``/<model>/metrics``)."""
    direct: bool = True
    """False behind the router (its ``/v1/models`` is its own)."""


def standin_stack() -> StackSpec:
    """One L4 deployment of Llama 3.1 8B, served as ``tiny`` with the real test engine's context (1024)."""
    return StackSpec.model_validate({
        "name": "contract",
        "pools": [{"name": "l4", "accelerator": "L4", "gpus_per_node": 1, "cost_per_gpu_hour": 0.45}],
        "models": [{"name": "m", "architecture": "Llama-3.1-8B", "variants": [
            {"name": "awq", "weights": "hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4",
             "quantization": "awq_marlin"}]}],
        "deployments": [{"name": "chat", "model": "m", "variant": "awq", "pool": "l4",
                         "engine": {"max_model_len": STANDIN_MAX_MODEL_LEN, "max_num_seqs": 8}}],
        "routers": [{"name": "gw", "strategy": "round_robin",
                     "routes": [{"model": STANDIN_MODEL, "backends": {"chat": 1}}]}],
    })


@contextlib.contextmanager
def standin() -> Iterator[Target]:
    with LiveFleet(standin_stack(), "chat", replicas=1, time_factor=STANDIN_TIME_FACTOR) as fleet:
        yield Target("stand-in", f"http://127.0.0.1:{fleet.ports[0]}", STANDIN_MODEL, STANDIN_MAX_MODEL_LEN)


@contextlib.contextmanager
def behind_router(folder: Path) -> Iterator[Target]:
    """The stand-in behind the router that ``haproxy.build_haproxy_config`` generates for it."""
    stack = standin_stack()
    with LiveFleet(stack, "chat", replicas=1, time_factor=STANDIN_TIME_FACTOR) as fleet:
        port = free_port()
        options = haproxy.HaproxyOptions(bind_host="127.0.0.1", port=port, stats_port=free_port(), log=False,
                                         health_check_interval="200ms", health_check_rise=1)
        addressing = {"chat": haproxy.BackendAddressing.static([haproxy.Server("chat-0", "127.0.0.1",
                                                                               fleet.ports[0])])}
        config = haproxy.build_haproxy_config(stack, "gw", addressing, options)
        with running_haproxy(config, folder, port) as url:
            deadline = time.monotonic() + 10
            while httpx.get(f"{url}/health", timeout=5).status_code != 200 and time.monotonic() < deadline:
                time.sleep(0.05)
            yield Target("router", url, STANDIN_MODEL, STANDIN_MAX_MODEL_LEN, f"/{STANDIN_MODEL}/metrics",
                         direct=False)


def describe(name: str, base_url: str) -> Target:
    """A target from a running server's ``/v1/models``."""
    base_url = base_url.rstrip("/").removesuffix("/v1")
    card = httpx.get(f"{base_url}/v1/models", timeout=30).json()["data"][0]
    return Target(name, base_url, card["id"], int(card["max_model_len"]))


def real_engine(request: pytest.FixtureRequest) -> Target:
    url = os.environ.get("LLMSTACK_CONTRACT_ENGINE")
    if url:
        return describe("vllm", url)
    engine = request.getfixturevalue("vllm_engine")
    return describe("vllm", str(engine.url))
