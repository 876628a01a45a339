"""Replays trace requests through the router as OpenAI-style HTTP calls, on an accelerated clock.

A request that arrives at trace time ``t`` is sent at wall time ``t / speed`` after the
start. Each is a streamed ``/v1/completions`` call whose prompt has the trace's number of
prompt tokens (4 characters per token, as the simulator counts them) and ``max_tokens`` equal
to the trace's output tokens. Concurrency is bounded and every request has a timeout, so
the replay always ends.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx

MAX_IN_FLIGHT = 512
REQUEST_TIMEOUT_S = 120.0
MAX_PROMPT_WORDS = 32768


@dataclass(frozen=True)
class TraceRequest:
    arrival_s: float
    prompt_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class ClientResult:
    arrival_s: float
    status: int
    ttft_s: float | None
    latency_s: float
    error: str | None = None


def prompt_text(tokens: int) -> str:
    """A prompt of ``tokens`` tokens for both engines: the simulator counts one token per 4 characters, and
    the real engine's tiny model (:mod:`llmstack.engine.tiny_model`) tokenizes each ``"the "`` as one token."""
    return "the " * max(1, min(tokens, MAX_PROMPT_WORDS))


async def _one(client: httpx.AsyncClient, url: str, model: str, req: TraceRequest) -> ClientResult:
    body = {"model": model, "prompt": prompt_text(req.prompt_tokens), "max_tokens": req.output_tokens,
            "stream": True}
    started = time.monotonic()
    first: float | None = None
    try:
        async with client.stream("POST", url, json=body, timeout=REQUEST_TIMEOUT_S) as response:
            async for chunk in response.aiter_bytes():
                if first is None and chunk:
                    first = time.monotonic() - started
            return ClientResult(req.arrival_s, response.status_code, first, time.monotonic() - started)
    except httpx.HTTPError as exc:
        return ClientResult(req.arrival_s, 0, first, time.monotonic() - started, error=type(exc).__name__)


async def replay(base_url: str, model: str, requests: Sequence[TraceRequest], speed: float,
                 stop: Callable[[], bool] = lambda: False,
                 on_result: Callable[[ClientResult], None] | None = None) -> list[ClientResult]:
    """Send ``requests`` to ``base_url`` at ``speed`` x trace time; stop early when ``stop()`` is true."""
    url = base_url.rstrip("/") + "/v1/completions"
    limits = httpx.Limits(max_connections=MAX_IN_FLIGHT, max_keepalive_connections=64)
    gate = asyncio.Semaphore(MAX_IN_FLIGHT)
    results: list[ClientResult] = []
    tasks: list[asyncio.Task[None]] = []

    async def run(req: TraceRequest) -> None:
        async with gate:
            result = await _one(client, url, model, req)
        results.append(result)
        if on_result is not None:
            on_result(result)

    async with httpx.AsyncClient(limits=limits) as client:
        start = time.monotonic()
        for req in sorted(requests, key=lambda r: r.arrival_s):
            if stop():
                break
            delay = start + req.arrival_s / speed - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(run(req)))
        if tasks:
            await asyncio.wait(tasks, timeout=REQUEST_TIMEOUT_S)
        for task in tasks:
            if not task.done():
                task.cancel()
    return results
