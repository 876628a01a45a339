"""The demo's load: trace slices per deployment, the burst, prompt clipping."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from llmstack.demo import workload
from llmstack.errors import LlmstackError
from llmstack.sim import traces
from llmstack.spec.models import StackSpec


def _rate(requests: Sequence[object], span: float) -> float:
    return len(requests) / span


def test_burst_multiplies_rate_only_inside_its_window() -> None:
    base = traces.poisson(2.0, 400.0, seed=1)
    shaped = workload.with_burst(base, 4.0, 100.0, 200.0, seed=2)
    inside = [r for r in shaped.requests if 100 <= r.arrival_s < 200]
    outside = [r for r in shaped.requests if not 100 <= r.arrival_s < 200]
    base_inside = [r for r in base.requests if 100 <= r.arrival_s < 200]
    assert len(inside) == pytest.approx(4 * len(base_inside), rel=0.1)
    assert len(outside) == len(base.requests) - len(base_inside)
    assert list(shaped.requests) == sorted(shaped.requests, key=lambda r: r.arrival_s)


def test_no_burst_leaves_trace_unchanged() -> None:
    base = traces.poisson(2.0, 100.0, seed=1)
    assert workload.with_burst(base, 1.0, 10.0, 50.0) is base


def test_stream_has_base_rate_burst_and_routed_model(example_stack: StackSpec) -> None:
    spec = workload.StreamSpec("chat", "azure-conv", 0.6, 4.0, max_prompt_tokens=2048)
    s = workload.stream(example_stack, spec, 1200.0)
    assert s.model == "llama-3.1-8b"
    first = [r for r in s.requests if r.arrival_s < 300]
    burst = [r for r in s.requests if 300 <= r.arrival_s < 600]
    assert _rate(first, 300) == pytest.approx(0.6, rel=0.35)
    assert _rate(burst, 300) > 2.5 * _rate(first, 300)
    assert max(r.prompt_tokens for r in s.requests) <= 2048
    assert all(r.arrival_s < 1200 for r in s.requests)


def test_stream_drops_requests_longer_than_the_engine_allows(example_stack: StackSpec) -> None:
    s = workload.stream(example_stack, workload.StreamSpec("chat", "azure-conv", 5.0), 3500.0)
    assert all(r.prompt_tokens + r.output_tokens <= 8192 for r in s.requests)


def test_stream_rejects_nonpositive_rate(example_stack: StackSpec) -> None:
    with pytest.raises(LlmstackError, match="must be > 0"):
        workload.stream(example_stack, workload.StreamSpec("chat", "azure-conv", 0.0), 100.0)
