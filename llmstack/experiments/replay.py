"""One call from a spec and a trace source to scored runs: what ``llmstack simulate`` and the benchmarks use."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from llmstack.errors import LlmstackError
from llmstack.experiments.registry import resolve_autoscaler
from llmstack.sim import scoring, traces
from llmstack.sim.fleet import FleetConfig, SimResult, simulate
from llmstack.sim.traces import Trace
from llmstack.spec.models import StackSpec


@dataclass(frozen=True)
class Run:
    result: SimResult
    score: scoring.Score


def prepare_trace(source: str, *, time_slice: str | None = None, rate_scale: float = 1.0,
                  skip_bad_rows: bool = False, seed: int = 0) -> Trace:
    """Load ``source`` (file, builtin or synthetic), then slice it and scale its rate."""
    trace = traces.load_trace(source, skip_bad_rows=skip_bad_rows)
    if time_slice:
        trace = traces.slice_trace(trace, *traces.parse_slice(time_slice))
    return traces.scale_rate(trace, rate_scale, seed=seed)


def replay(stack: StackSpec, deployment: str, trace: Trace, names: Sequence[str], *,
           config: FleetConfig | None = None,
           progress: Callable[[str, int, int], None] | None = None) -> list[Run]:
    """Simulate ``trace`` once per autoscaler name and score each run."""
    if not names:
        raise LlmstackError("no autoscaler given", path="--autoscaler")
    stack.deployment(deployment)
    config = config or FleetConfig()
    runs = []
    for name in names:
        scaler = resolve_autoscaler(name, stack, deployment, trace=trace, config=config)
        report = None if progress is None else (lambda done, total, n=name: progress(n, done, total))
        result = simulate(stack, deployment, trace, scaler, config, report)
        runs.append(Run(result, scoring.score(result)))
    return runs
