"""Closed-loop clients whose number can change while they run, for the history-fit tests.

Each client sends a completion request, waits for the whole reply and sends the next, with
``max_tokens`` drawn from the simulator's output-length spread (:mod:`llmstack.sim.lengths`) and
``ignore_eos``, so every request generates exactly its drawn length; the clients' start times are
staggered, as live traffic is, not synchronised as a benchmark sweep's are.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time

import httpx

from llmstack.sim import lengths


class ClosedLoop:
    """``clients`` closed-loop clients against ``url`` from an asyncio loop in a thread."""

    def __init__(self, url: str, model: str, prompt_tokens: int, output_tokens: int, seed: int = 0) -> None:
        self.url = url.rstrip("/") + "/v1/completions"
        self.model = model
        self.prompt = "x" * (4 * prompt_tokens)  # the simulator counts 4 characters per token
        self.output_tokens = output_tokens
        self.rng = random.Random(seed)
        self.target = 0
        self.finished = 0
        self.in_flight = 0
        self.errors: list[str] = []
        self._workers: dict[int, asyncio.Task[None]] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._client: httpx.AsyncClient | None = None

    async def _worker(self, index: int) -> None:
        await asyncio.sleep(self.rng.uniform(0, 0.5))  # staggered, not synchronised
        assert self._client is not None
        while index < self.target:
            body = {"model": self.model, "prompt": self.prompt, "ignore_eos": True, "temperature": 0.0,
                    "max_tokens": lengths.draw(self.rng, self.output_tokens, lengths.OUTPUT_SIGMA)}
            self.in_flight += 1
            try:
                reply = await self._client.post(self.url, json=body)
                if reply.status_code != 200:
                    self.errors.append(f"{reply.status_code}: {reply.text[:200]}")
                self.finished += 1
            except httpx.HTTPError as exc:
                self.errors.append(repr(exc))
            finally:
                self.in_flight -= 1

    async def _set(self, clients: int) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=None))
        self.target = clients
        for index in range(clients):
            if index not in self._workers or self._workers[index].done():
                self._workers[index] = asyncio.create_task(self._worker(index))

    def hold(self, clients: int, seconds: float) -> None:
        """Run ``clients`` clients for ``seconds`` (clients above the new count stop after their request)."""
        asyncio.run_coroutine_threadsafe(self._set(clients), self._loop).result(10)
        time.sleep(seconds)

    def drain(self, timeout_s: float = 60.0) -> None:
        """No more requests; wait until every request in flight has finished."""
        asyncio.run_coroutine_threadsafe(self._set(0), self._loop).result(10)
        deadline = time.monotonic() + timeout_s
        while self.in_flight and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not self.in_flight, f"{self.in_flight} requests still in flight after {timeout_s} s"

    def stop(self) -> None:
        async def close() -> None:
            self.target = 0
            for w in self._workers.values():
                w.cancel()
            await asyncio.gather(*self._workers.values(), return_exceptions=True)
            if self._client is not None:
                await self._client.aclose()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
