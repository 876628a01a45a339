"""The loop against a real Prometheus (Debian package) scraping the simulator's live mode.

The chat deployment of examples/stack.yaml runs as two :class:`~llmstack.sim.server.LiveFleet`
replicas (engine model in real time, sped up 4x); Prometheus scrapes their ``/metrics`` every
second with the ``deployment`` label of the generated config. A burst of concurrent streamed
requests fills both engines past ``max_num_seqs`` so requests wait; one policy cycle then reads
the signals from Prometheus and must propose a horizontal scale-out driven by them.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from llmstack.metrics.reading import PrometheusReader
from llmstack.policy import loop
from llmstack.policy.rules import load_policy
from llmstack.policy.state import ScalingState
from llmstack.sim.server import LiveFleet
from llmstack.spec.loading import load_spec
from llmstack.spec.models import StackSpec
from tests.conftest import EXAMPLE_SPEC, ROOT
from tests.policy.servers import PrometheusProcess, prometheus_config, query, running_prometheus

pytestmark = pytest.mark.slow

PER_REPLICA = 160
"""Concurrent requests per replica: 96 more than chat's max_num_seqs (64) wait, for two batches."""
MAX_TOKENS = 150
"""With TIME_FACTOR, requests wait for about 8 real seconds and all finish in about 10."""
TIME_FACTOR = 4.0


@pytest.fixture
def stack() -> StackSpec:
    return load_spec(EXAMPLE_SPEC)


@pytest.fixture
def live(stack: StackSpec, tmp_path: Path) -> Iterator[tuple[LiveFleet, PrometheusProcess]]:
    fleet = LiveFleet(stack, "chat", replicas=2, time_factor=TIME_FACTOR)
    try:
        ports = fleet.start()
        with running_prometheus(tmp_path, prometheus_config({"chat": ports})) as prom:
            yield fleet, prom
    finally:
        fleet.stop()


class Burst:
    """Concurrent streamed chat requests from an asyncio loop in a thread; :meth:`finish` waits, then cancels."""

    def __init__(self, ports: list[int], per_replica: int, prompt: str, max_tokens: int) -> None:
        self.jobs = [ports[i % len(ports)] for i in range(per_replica * len(ports))]
        self.body = {"model": "llama-3.1-8b", "messages": [{"role": "user", "content": prompt}],
                     "max_tokens": max_tokens, "stream": True}
        self.completed = 0
        self._loop = asyncio.new_event_loop()
        self._tasks: list[asyncio.Task[None]] = []
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    async def _one(self, client: httpx.AsyncClient, port: int) -> None:
        async with client.stream("POST", f"http://127.0.0.1:{port}/v1/chat/completions", json=self.body) as r:
            async for line in r.aiter_lines():
                if line == "data: [DONE]":
                    self.completed += 1

    async def _all(self) -> None:
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=0)
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:
            await asyncio.gather(*(self._one(client, p) for p in self.jobs), return_exceptions=True)

    def start(self) -> None:
        self._thread.start()
        self._tasks.append(asyncio.run_coroutine_threadsafe(self._start_task(), self._loop).result(5))

    async def _start_task(self) -> asyncio.Task[None]:
        return asyncio.get_running_loop().create_task(self._all())

    def finish(self, timeout: float) -> None:
        async def wait() -> None:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.gather(*self._tasks), timeout)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(wait(), self._loop).result(timeout + 5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()


def _total(prom: PrometheusProcess, expr: str) -> float:
    result = query(prom.url, expr)
    return sum(float(r["value"][1]) for r in result)


def test_load_burst_against_live_simulator_gives_scale_out_with_its_signals(
        live: tuple[LiveFleet, PrometheusProcess], stack: StackSpec) -> None:
    fleet, prom = live
    ports = fleet.ports
    # Prometheus stores the vLLM names with their colon (the simulator serves the classic text format)
    prom.wait_for('count_over_time(vllm:num_requests_waiting{deployment="chat"}[1m])',
                  lambda r: len(r) == len(ports) and all(float(x["value"][1]) >= 2 for x in r))
    assert not query(prom.url, '{__name__=~"vllm_.*", deployment="chat"}')
    assert query(prom.url, 'vllm:request_success_total{deployment="chat"}')

    burst = Burst(ports, PER_REPLICA, "word " * 400, MAX_TOKENS)  # 500 prompt tokens each
    burst.start()
    try:
        prom.wait_for('sum(vllm:num_requests_waiting{deployment="chat"})', lambda r: bool(r) and float(
            r[0]["value"][1]) >= 8 * len(ports))
        prom.wait_for('sum(rate(vllm:time_to_first_token_seconds_count{deployment="chat"}[1m]))',
                      lambda r: bool(r) and float(r[0]["value"][1]) > 1)
        waiting = _total(prom, 'sum(vllm:num_requests_waiting{deployment="chat"})')
        policy = load_policy(ROOT / "policies" / "default.yaml")
        result, _ = loop.run_once(PrometheusReader(prom.url), stack, policy, ScalingState(), time.time())
    finally:
        burst.finish(timeout=20)  # the burst drains on its own; cancelled after 20 s
    assert burst.completed == len(burst.jobs), f"{burst.completed} of {len(burst.jobs)} finished"

    chat = [r for r in result.recommendations if r.deployment == "chat"]
    assert len(chat) == 1, [s.reason for s in result.skips if s.deployment == "chat"]
    rec = chat[0]
    assert rec.kind == "horizontal" and rec.priority == "slo"
    assert rec.current.replicas == 2 and rec.proposed.replicas > 2
    assert rec.rule in {"queue-per-replica", "ttft-slo", "model-based"}
    # the signals that drove it: the queue Prometheus holds (both replicas' waiting requests) and TTFT p95
    assert rec.signals["queue_length"] >= 8 * len(ports)
    assert rec.signals["queue_length"] == pytest.approx(waiting, abs=64)  # moves by at most one batch
    assert rec.signals["running_requests"] > 0
    assert rec.signals["ttft_p95"] > 0
    # whichever rule proposed the most replicas, the queue per replica is above its target, and the
    # reason names what the winning rule measured
    queue_target = next(t.target for t in policy.horizontal.target_tracking if t.name == "queue-per-replica")
    assert queue_target is not None and rec.signals["queue_length"] / len(ports) > queue_target
    measured = {"queue-per-replica": "queue_length", "ttft-slo": "ttft_p95", "model-based": "demand"}
    assert measured[rec.rule] in rec.reason
