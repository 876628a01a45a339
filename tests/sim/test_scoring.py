"""Scores: attainment counts rejections as misses; percentiles; GPU-hours and cost; burst reaction."""

from __future__ import annotations

import pytest

from llmstack.sim import traces
from llmstack.sim.baselines import Saturation, Static
from llmstack.sim.fleet import FleetConfig, simulate
from llmstack.sim.scoring import percentile, score
from llmstack.sim.traces import Trace, TraceRequest
from llmstack.spec.models import StackSpec


def test_percentile_interpolates() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([5.0], 99) == 5.0


def test_score_counts_over_context_requests_as_misses(example_stack: StackSpec) -> None:
    trace = Trace("t", (TraceRequest(0.0, 100, 10), TraceRequest(1.0, 9000, 10)))
    s = score(simulate(example_stack, "chat", trace, Static(1)))
    assert s.requests == 2 and s.rejected_over_context == 1
    assert s.slo_attainment == pytest.approx(0.5)


def test_score_counts_ttft_and_tpot_attainment_separately(example_stack: StackSpec) -> None:
    # 6000-token prompt: over 1 s TTFT on an idle L4 (a TTFT miss) but its decode stays within 60 ms TPOT
    trace = Trace("t", (TraceRequest(0.0, 100, 10), TraceRequest(30.0, 6000, 10)))
    s = score(simulate(example_stack, "chat", trace, Static(1)))
    assert s.ttft_slo_attainment == pytest.approx(0.5)
    assert s.tpot_slo_attainment == pytest.approx(1.0)
    assert s.slo_attainment == pytest.approx(0.5)
    assert {"ttft_slo_attainment", "tpot_slo_attainment"} <= set(s.to_json())


def test_score_gpu_hours_and_cost_of_static_fleet(example_stack: StackSpec) -> None:
    trace = traces.slice_trace(traces.load_trace("azure-conv"), 0, 300)
    s = score(simulate(example_stack, "chat", trace, Static(3)))
    assert s.gpu_hours == pytest.approx(3 * s.duration_s / 3600)
    assert s.cost == pytest.approx(s.gpu_hours * 0.45)
    assert s.ttft_p50_s <= s.ttft_p95_s <= s.ttft_p99_s
    assert s.scale_events == 0 and s.max_replicas == 3


def test_burst_reaction_measured_for_reactive_scaler(example_stack: StackSpec) -> None:
    trace = traces.bursts(1.0, 1500, burst=6, every_s=3000, length_s=400, start_s=600, seed=4,
                          prompt_tokens=800, output_tokens=300)
    s = score(simulate(example_stack, "chat", trace, Saturation(), FleetConfig(startup_delay_s=30)))
    assert s.burst_reaction_s is not None and 0 < s.burst_reaction_s <= 600
