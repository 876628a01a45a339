"""What the demo replays: a slice of a packaged Azure trace per deployment, with a burst in the middle (pure).

Each deployment gets the first ``duration_s`` simulated seconds of its trace, thinned or
thickened to a base rate (:func:`llmstack.sim.traces.scale_rate`); with ``burst`` > 1 the
second quarter of the chat trace arrives ``burst`` times as fast, which is what makes the
policy scale out and, once it passes, back in. Prompts can be clipped to
``max_prompt_tokens``: on the example's L4 chat deployment the prefill of a 4k-token prompt
alone (the Azure conversation trace's 95th percentile) takes longer than its 1 s TTFT SLO,
so without clipping the TTFT p95 stays above the SLO at any replica count. Requests go to the model name the router
routes to that deployment; requests longer than the deployment's ``max_model_len`` are left
out (the engine would refuse them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from llmstack.capacity import throughput
from llmstack.demo.replay_client import TraceRequest
from llmstack.errors import LlmstackError
from llmstack.sim import traces
from llmstack.sim.server import served_model_name
from llmstack.spec.models import StackSpec
from llmstack.spec.resolving import resolve

BURST_START = 1 / 4
BURST_END = 1 / 2
"""The burst takes the second quarter of the run, leaving the second half for scaling back in."""
IDLE_START = 0.2
IDLE_END = 0.65
"""A stream with an idle gap gets no request in this part of the run: long enough for its deployment
to idle to zero replicas, and for the requests after it to wake the deployment again."""


@dataclass(frozen=True)
class Stream:
    """The requests one deployment receives through the router."""

    deployment: str
    model: str
    trace: str
    base_rate: float
    burst: float
    max_prompt_tokens: int | None
    requests: tuple[TraceRequest, ...]

    def to_json(self) -> dict[str, object]:
        return {"deployment": self.deployment, "model": self.model,
                "requests": [[r.arrival_s, r.prompt_tokens, r.output_tokens] for r in self.requests]}


@dataclass(frozen=True)
class StreamSpec:
    deployment: str
    trace: str
    rate: float
    burst: float = 1.0
    max_prompt_tokens: int | None = None
    idle_gap: bool = False
    """No request from :data:`IDLE_START` to :data:`IDLE_END` of the run (a deployment that scales to zero)."""


def with_burst(trace: traces.Trace, factor: float, start_s: float, end_s: float, *, seed: int = 0) -> traces.Trace:
    """``trace`` with requests in [start, end) multiplied ``factor`` times (same shape, ``factor`` x rate)."""
    if factor <= 1 or end_s <= start_s:
        return trace
    before = [r for r in trace.requests if r.arrival_s < start_s]
    after = [r for r in trace.requests if r.arrival_s >= end_s]
    middle = traces.Trace(trace.name, tuple(replace(r, arrival_s=r.arrival_s - start_s)
                                            for r in trace.requests if start_s <= r.arrival_s < end_s))
    burst = traces.scale_rate(middle, factor, seed=seed).requests if middle.requests else ()
    shifted = [replace(r, arrival_s=min(end_s - 1e-6, r.arrival_s + start_s)) for r in burst]
    requests = tuple(sorted((*before, *shifted, *after), key=lambda r: r.arrival_s))
    return traces.Trace(f"{trace.name} burst x{factor:g}", requests, trace.skipped_rows)


def with_idle_gap(trace: traces.Trace, start_s: float, end_s: float) -> traces.Trace:
    """``trace`` without the requests that arrive in [start, end)."""
    kept = tuple(r for r in trace.requests if not start_s <= r.arrival_s < end_s)
    return traces.Trace(f"{trace.name} idle {start_s:g}-{end_s:g}s", kept, trace.skipped_rows)


def stream(stack: StackSpec, spec: StreamSpec, duration_s: float, *, seed: int = 0) -> Stream:
    """The requests of one deployment over ``duration_s`` simulated seconds."""
    if spec.rate <= 0:
        raise LlmstackError(f"rate for {spec.deployment} must be > 0, got {spec.rate}", path="--rate")
    source = traces.load_trace(spec.trace)
    sliced = traces.slice_trace(source, 0.0, min(duration_s, source.duration_s))
    base = traces.scale_rate(sliced, spec.rate / max(1e-9, len(sliced.requests) / duration_s), seed=seed)
    shaped = with_burst(base, spec.burst, duration_s * BURST_START, duration_s * BURST_END, seed=seed + 1)
    if spec.idle_gap:
        shaped = with_idle_gap(shaped, duration_s * IDLE_START, duration_s * IDLE_END)
    limit = throughput.profile(resolve(stack, stack.deployment(spec.deployment))).max_model_len
    clip = spec.max_prompt_tokens or limit
    requests = tuple(TraceRequest(r.arrival_s, min(r.prompt_tokens, clip), r.output_tokens) for r in shaped.requests
                     if r.arrival_s < duration_s and min(r.prompt_tokens, clip) + r.output_tokens <= limit)
    return Stream(spec.deployment, served_model_name(stack, spec.deployment), spec.trace, spec.rate, spec.burst,
                  spec.max_prompt_tokens, requests)


def streams(stack: StackSpec, specs: Sequence[StreamSpec], duration_s: float, *, seed: int = 0) -> list[Stream]:
    return [stream(stack, s, duration_s, seed=seed + 10 * i) for i, s in enumerate(specs)]
