"""A deployment's Prometheus history as load levels: what ``assess --write-profile`` fits (queries at the edge).

The history from ``start`` to ``end`` is cut into back-to-back windows of ``step`` seconds (one
range query per quantity, each ``increase(...[step])`` / ``avg_over_time(...[step])`` evaluated
every ``step``); per window and replica it holds the requests in flight (vLLM's
``num_requests_running`` + ``num_requests_waiting``), the generated tokens, the finished requests
with their prompt and output tokens (the ``request_prompt_tokens`` / ``request_generation_tokens``
histograms, so lengths and request counts describe the same requests), and the sums and counts
of vLLM's TTFT and inter-token-latency histograms
(``vllm:inter_token_latency_seconds``, or ``vllm:time_per_output_token_seconds`` from engines
before 0.11).

:func:`group_levels` puts windows with the same load level together (requests in flight,
rounded; quarter-octave bins above :data:`UNIT_BINS_UP_TO`) and sums their counters, so a level's
TTFT is the mean over every request whose first token fell in it, its output rate tokens over the
level's total time. Idle windows (under half a request in flight) and levels of fewer than
:data:`MIN_WINDOWS_PER_LEVEL` windows (mostly the windows where the load changed) are dropped.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from llmstack.capacity.fitting import Observation
from llmstack.metrics.reading import MetricsSource, RangeSource, Series

MIN_WINDOWS_PER_LEVEL = 2
"""A level seen in one window alone is mostly a load change caught mid-way: not a steady state."""
MIN_IN_FLIGHT = 0.5
"""Windows with fewer requests in flight per replica are idle, not a load level."""
UNIT_BINS_UP_TO = 8
"""Levels are whole requests in flight up to here, quarter octaves (8, 9.5, 11.3, 13.5, 16, ...) above."""

COUNTERS = ("generation_tokens", "prompt_tokens", "output_tokens", "requests", "ttft_sum", "ttft_count", "itl_sum",
            "itl_count")
"""Window quantities that are increases (summed over a level's windows)."""

ITL = "vllm:inter_token_latency_seconds"
OLD_ITL = "vllm:time_per_output_token_seconds"
TTFT = "vllm:time_to_first_token_seconds"


ENGINE_ROLE = 'llmstack_role="engine"'
"""The target label the generated scrape config puts on engines (DCGM exporters carry the deployment too)."""


def _selector(deployment: str, *extra: str) -> str:
    quoted = deployment.replace("\\", "\\\\").replace('"', '\\"')
    return "{" + ",".join([f'deployment="{quoted}"', *extra]) + "}"


def window_queries(deployment: str, step_s: float) -> dict[str, str]:
    """PromQL per window quantity of ``deployment`` (totals over its replicas)."""
    sel, w = _selector(deployment), f"[{step_s:g}s]"
    engine = _selector(deployment, ENGINE_ROLE)

    def inc(metric: str) -> str:
        return f"sum(increase({metric}{sel}{w}))"

    return {
        "replicas": f"sum(avg_over_time(up{engine}{w}))",
        "running": f"sum(avg_over_time(vllm:num_requests_running{sel}{w}))",
        "waiting": f"sum(avg_over_time(vllm:num_requests_waiting{sel}{w}))",
        "generation_tokens": inc("vllm:generation_tokens_total"),
        "prompt_tokens": inc("vllm:request_prompt_tokens_sum"),
        "output_tokens": inc("vllm:request_generation_tokens_sum"),
        "requests": inc("vllm:request_generation_tokens_count"),
        "ttft_sum": inc(f"{TTFT}_sum"),
        "ttft_count": inc(f"{TTFT}_count"),
        "itl_sum": f"{inc(f'{ITL}_sum')} or {inc(f'{OLD_ITL}_sum')}",
        "itl_count": f"{inc(f'{ITL}_count')} or {inc(f'{OLD_ITL}_count')}",
    }


@dataclass(frozen=True)
class Window:
    """One window of the history, per replica (counters are increases over the window)."""

    end_s: float
    seconds: float
    in_flight: float
    running: float
    generation_tokens: float
    prompt_tokens: float
    output_tokens: float
    requests: float
    ttft_sum: float
    ttft_count: float
    itl_sum: float
    itl_count: float


@dataclass(frozen=True)
class Level:
    """Windows at one load level; :meth:`observation` is what the fit compares the model with."""

    concurrency: int
    windows: int
    total: Window
    """The level's windows summed: counters and seconds added, requests in flight and running
    time-weighted, ``end_s`` the last window's."""

    @property
    def usable(self) -> bool:
        """Every measure has data: requests finished, first tokens and token gaps observed."""
        t = self.total
        return t.requests >= 1 and t.ttft_count > 0 and t.itl_count > 0 and t.generation_tokens > 0

    def observation(self) -> Observation:
        t = self.total
        return Observation(
            concurrency=self.concurrency, requests=max(1, round(t.requests)),
            prompt_tokens=t.prompt_tokens / t.requests, output_tokens=t.output_tokens / t.requests,
            output_tokens_per_s=t.generation_tokens / t.seconds, ttft_mean_s=t.ttft_sum / t.ttft_count,
            tpot_mean_s=t.itl_sum / t.itl_count)


def _by_time(series: Sequence[Series]) -> dict[float, float]:
    """One summed series as {timestamp: value} (finite values only; none when the query matched nothing)."""
    if not series:
        return {}
    return {round(ts, 3): v for ts, v in series[0].points if math.isfinite(v)}


def assemble_windows(answers: Mapping[str, Sequence[Series]], step_s: float) -> list[Window]:
    """Windows from the range answers of :func:`window_queries` (pure); a window missing a quantity is left out."""
    columns = {name: _by_time(series) for name, series in answers.items()}
    times = sorted(set.intersection(*(set(c) for c in columns.values()))) if columns else []
    windows = []
    for t in times:
        replicas = columns["replicas"][t]
        if replicas <= 0:
            continue
        v = {name: column[t] / replicas for name, column in columns.items() if name != "replicas"}
        windows.append(Window(end_s=t, seconds=step_s, in_flight=v["running"] + v["waiting"], running=v["running"],
                              **{k: v[k] for k in COUNTERS}))
    return windows


def read_windows(source: RangeSource, deployment: str, start_s: float, end_s: float, step_s: float) -> list[Window]:
    """The windows of ``deployment`` between ``start_s`` and ``end_s`` (Unix seconds), one range query per quantity."""
    answers = {name: source.query_range(expr, start_s + step_s, end_s, step_s)
               for name, expr in window_queries(deployment, step_s).items()}
    return assemble_windows(answers, step_s)


def level_of(in_flight: float) -> int:
    """The load level a window with ``in_flight`` requests per replica belongs to."""
    if in_flight < UNIT_BINS_UP_TO + 0.5:
        return max(1, round(in_flight))
    return round(UNIT_BINS_UP_TO * 2 ** (round(4 * math.log2(in_flight / UNIT_BINS_UP_TO)) / 4))


def _sum_level(key: int, members: Sequence[Window]) -> Level:
    seconds = sum(w.seconds for w in members)
    totals = {f: sum(getattr(w, f) for w in members) for f in COUNTERS}
    in_flight = sum(w.in_flight * w.seconds for w in members) / seconds
    running = sum(w.running * w.seconds for w in members) / seconds
    total = Window(end_s=max(w.end_s for w in members), seconds=seconds, in_flight=in_flight, running=running,
                   **totals)
    return Level(concurrency=max(1, round(in_flight)) if key <= UNIT_BINS_UP_TO else key, windows=len(members),
                 total=total)


@dataclass(frozen=True)
class Grouping:
    """The levels the history supports and what was dropped on the way (for the thin-history message)."""

    levels: list[Level]
    busy_windows: int
    idle_windows: int
    thin_levels: list[int]


def group_levels(windows: Iterable[Window]) -> Grouping:
    """Busy windows grouped by load level; levels with too few windows or missing measures are dropped."""
    groups: dict[int, list[Window]] = defaultdict(list)
    idle = 0
    for w in windows:
        if w.in_flight < MIN_IN_FLIGHT or w.generation_tokens <= 0:
            idle += 1
            continue
        groups[level_of(w.in_flight)].append(w)
    levels, thin = [], []
    for key in sorted(groups):
        level = _sum_level(key, groups[key])
        if level.windows >= MIN_WINDOWS_PER_LEVEL and level.usable:
            levels.append(level)
        else:
            thin.append(key)
    return Grouping(levels, sum(len(g) for g in groups.values()), idle, thin)


def cache_labels(source: MetricsSource, deployment: str) -> tuple[int | None, int | None, str | None]:
    """``num_gpu_blocks``, ``block_size`` and ``model_name`` from ``vllm:cache_config_info`` and the engine gauges."""
    blocks = size = None
    for sample in source.query(f"vllm:cache_config_info{_selector(deployment)}"):
        b, s = sample.labels.get("num_gpu_blocks", ""), sample.labels.get("block_size", "")
        if b.isdigit() and s.isdigit():
            blocks, size = int(b), int(s)
            break
    names = [s.labels.get("model_name") for s in
             source.query(f"group by (model_name) (vllm:num_requests_running{_selector(deployment)})")]
    return blocks, size, next((n for n in names if n), None)
