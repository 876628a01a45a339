"""Closed-loop load sweep against an OpenAI-compatible endpoint, measured on the client (edge).

For each concurrency level C, C clients send streaming ``/v1/completions`` requests back to back
(``max_tokens`` = the output length, ``ignore_eos`` so every request generates exactly that many;
every prompt unique, so vLLM's prefix cache does not skip its prefill) until the level's request
count is done. Each client first sends one untimed request together with the others: that opens
its connection (on the 2-core CPU engine the first wave's TTFT was about 10 ms longer than the
next waves', the API server accepting C connections) and starts the level in step, as the model's
synchronised closed loop assumes. Per request the client records TTFT (first content chunk) and
TPOT ((end - first token) / (tokens - 1)), as ``vllm bench serve`` does; the engine's
``/metrics`` supply the KV-cache facts (``vllm:cache_config_info``). Unreachable endpoints and
endpoints that are not OpenAI-compatible raise one :class:`LlmstackError` each.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families

from llmstack.capacity.fitting import Observation
from llmstack.errors import LlmstackError

REQUEST_TIMEOUT_S = 600.0
PROMPT_WORD = "hello "
"""The prompt is this word repeated after a tag unique to the request (:func:`unique_prompt`); its
token count is taken from the server's usage report."""

_TAGS = (f"{secrets.token_hex(4)}-{n}" for n in itertools.count())

Progress = Callable[[int], None]
"""Called with 1 after every finished request."""


@dataclass(frozen=True)
class Timing:
    ttft_s: float
    tpot_s: float
    prompt_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class CacheFacts:
    num_gpu_blocks: int | None
    block_size: int | None

    @property
    def kv_cache_tokens(self) -> int | None:
        if self.num_gpu_blocks is None or self.block_size is None:
            return None
        return self.num_gpu_blocks * self.block_size


def probe(endpoint: str, model: str) -> list[str]:
    """The endpoint's served model names; errors when unreachable, not OpenAI-compatible, or lacking ``model``."""
    url = endpoint.rstrip("/") + "/v1/models"
    try:
        reply = httpx.get(url, timeout=10.0)
    except httpx.HTTPError as exc:
        raise LlmstackError(f"endpoint {endpoint} is unreachable: {type(exc).__name__}: {exc}",
                            path="--endpoint", hint="start the server or check host and port") from exc
    try:
        names = [str(m["id"]) for m in reply.json()["data"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise LlmstackError(f"endpoint {endpoint} is not OpenAI-compatible: GET /v1/models answered "
                            f"{reply.status_code} without a model list", path="--endpoint",
                            hint="point --endpoint at a vLLM (or other OpenAI-compatible) server") from exc
    if model not in names:
        raise LlmstackError(f"endpoint {endpoint} does not serve model {model!r}; it serves {names}",
                            path="--model")
    return names


def parse_cache_facts(text: str) -> CacheFacts:
    """``num_gpu_blocks`` and ``block_size`` from vLLM's ``vllm:cache_config_info`` labels (pure); none
    when ``text`` is not a Prometheus exposition (an endpoint without ``/metrics`` may answer anything)."""
    try:
        for family in text_string_to_metric_families(text):
            if family.name != "vllm:cache_config_info":
                continue
            for sample in family.samples:
                labels = sample.labels
                blocks, size = labels.get("num_gpu_blocks"), labels.get("block_size")
                if blocks and size and blocks.isdigit() and size.isdigit():
                    return CacheFacts(int(blocks), int(size))
    except ValueError:
        pass
    return CacheFacts(None, None)


def cache_facts(endpoint: str) -> CacheFacts:
    try:
        reply = httpx.get(endpoint.rstrip("/") + "/metrics", timeout=30.0)
    except httpx.HTTPError:
        return CacheFacts(None, None)
    return parse_cache_facts(reply.text) if reply.status_code == 200 else CacheFacts(None, None)


def _payload(model: str, prompt_tokens: int, output_tokens: int) -> dict[str, object]:
    return {"model": model, "prompt": PROMPT_WORD * prompt_tokens, "max_tokens": output_tokens, "stream": True,
            "stream_options": {"include_usage": True}, "ignore_eos": True, "temperature": 0.0}


def unique_prompt(prompt: str) -> str:
    """``prompt`` led by a tag no other request of this process (or an earlier run) sent: with equal
    prompts vLLM's prefix cache skipped the first block's prefill (128 of the CPU engine's 193 prompt
    tokens, its hit rate 66 %), which a production workload of different prompts does not get."""
    return f"{next(_TAGS)} {prompt}"


async def _one(client: httpx.AsyncClient, url: str, payload: dict[str, object]) -> Timing:
    payload = {**payload, "prompt": unique_prompt(str(payload["prompt"]))}
    start = time.perf_counter()
    first: float | None = None
    chunks = 0
    usage: dict[str, int] = {}
    async with client.stream("POST", url, json=payload) as reply:
        if reply.status_code != 200:
            body = " ".join((await reply.aread()).decode(errors="replace").split())[:200]
            raise LlmstackError(f"{url} answered {reply.status_code}: {body}", path="--endpoint",
                                hint="point --endpoint at a vLLM (or other OpenAI-compatible) server")
        async for line in reply.aiter_lines():
            if not line.startswith("data:") or line.strip() == "data: [DONE]":
                continue
            event = json.loads(line[5:])
            usage = event.get("usage") or usage
            if event.get("choices"):
                # like vllm bench serve: the first chunk with a choice is the first token, empty text or not
                chunks += 1
                if first is None:
                    first = time.perf_counter()
    end = time.perf_counter()
    if chunks == 0:
        raise LlmstackError(f"{url} answered 200 without a stream of completion chunks (server-sent 'data:' "
                            "events with choices): not an OpenAI-compatible streaming endpoint", path="--endpoint")
    out = int(usage.get("completion_tokens") or chunks)
    ttft = (first or end) - start
    return Timing(ttft, (end - (first or end)) / max(1, out - 1), int(usage.get("prompt_tokens") or 0), out)


async def _level(endpoint: str, payload: dict[str, object], clients: int, requests: int,
                 progress: Progress) -> tuple[list[Timing], float]:
    url = endpoint.rstrip("/") + "/v1/completions"
    left = [requests]
    timings: list[Timing] = []

    async def worker(client: httpx.AsyncClient) -> None:
        while left[0] > 0:
            left[0] -= 1
            timings.append(await _one(client, url, payload))
            progress(1)

    limits = httpx.Limits(max_connections=clients + 4)
    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S, limits=limits) as client:
        # one untimed request per client first: opening C connections is not the engine's time
        await asyncio.gather(*(_one(client, url, payload) for _ in range(clients)))
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(clients)))
        return timings, time.perf_counter() - started


def measure_level(endpoint: str, model: str, clients: int, requests: int, prompt_tokens: int, output_tokens: int,
                  progress: Progress = lambda _: None) -> Observation:
    """Run one closed-loop level and summarise it the way ``vllm bench serve`` reports it."""
    payload = _payload(model, prompt_tokens, output_tokens)
    try:
        timings, duration = asyncio.run(_level(endpoint, payload, clients, requests, progress))
    except httpx.HTTPError as exc:
        raise LlmstackError(f"endpoint {endpoint} failed during the sweep: {type(exc).__name__}: {exc}",
                            path="--endpoint") from exc
    return Observation(
        concurrency=clients, requests=requests,
        prompt_tokens=statistics.fmean(t.prompt_tokens or prompt_tokens for t in timings),
        output_tokens=statistics.fmean(t.output_tokens for t in timings),
        output_tokens_per_s=sum(t.output_tokens for t in timings) / duration,
        ttft_mean_s=statistics.fmean(t.ttft_s for t in timings),
        tpot_mean_s=statistics.fmean(t.tpot_s for t in timings),
    )


def sweep(endpoint: str, model: str, levels: Sequence[int], requests_per_level: int, prompt_tokens: int,
          output_tokens: int, progress: Progress = lambda _: None, rounds: int = 1) -> list[Observation]:
    """One :class:`Observation` per concurrency level (each run has max(level, requests_per_level) requests).

    With ``rounds`` > 1 the whole sweep repeats, levels interleaved, and each level keeps the median
    of its rounds per measure: load on a shared host drifts over minutes, and interleaving spreads
    the drift over all levels instead of biasing the late ones.
    """
    runs: dict[int, list[Observation]] = {c: [] for c in levels}
    for _ in range(rounds):
        for c in levels:
            runs[c].append(measure_level(endpoint, model, c, max(c, requests_per_level), prompt_tokens,
                                         output_tokens, progress))
    return [_median(runs[c]) for c in levels]


def _median(observations: Sequence[Observation]) -> Observation:
    first = observations[0]
    return Observation(
        concurrency=first.concurrency, requests=first.requests,
        prompt_tokens=statistics.median(o.prompt_tokens for o in observations),
        output_tokens=statistics.median(o.output_tokens for o in observations),
        output_tokens_per_s=statistics.median(o.output_tokens_per_s for o in observations),
        ttft_mean_s=statistics.median(o.ttft_mean_s for o in observations),
        tpot_mean_s=statistics.median(o.tpot_mean_s for o in observations),
    )
