"""The shared replay: a trace source prepared once, then scored under each named autoscaler."""

from __future__ import annotations

import pytest

from llmstack.errors import LlmstackError
from llmstack.experiments import replay
from llmstack.sim.fleet import FleetConfig
from llmstack.spec.models import StackSpec


def test_prepare_trace_slices_then_scales_the_rate() -> None:
    whole = replay.prepare_trace("azure-conv", time_slice="10m..20m")
    doubled = replay.prepare_trace("azure-conv", time_slice="10m..20m", rate_scale=2.0, seed=1)
    assert whole.duration_s == pytest.approx(600, abs=1) and doubled.duration_s == pytest.approx(600, abs=1)
    assert all(0 <= r.arrival_s <= 600 for r in whole.requests)
    assert len(doubled.requests) == pytest.approx(2 * len(whole.requests), rel=0.1)


def test_each_name_gets_its_own_scored_run(example_stack: StackSpec) -> None:
    trace = replay.prepare_trace("azure-conv", time_slice="0m..5m")
    seen: dict[str, int] = {}
    runs = replay.replay(example_stack, "chat", trace, ["static:1", "static:4"], config=FleetConfig(),
                         progress=lambda name, done, total: seen.__setitem__(name, total))
    assert [r.score.autoscaler for r in runs] == ["static:1", "static:4"]
    assert [r.score.max_replicas for r in runs] == [1, 4]
    for replicas, run in zip((1, 4), runs, strict=True):  # a fixed fleet is up from start to the last finish
        expected = replicas * run.result.gpus_per_replica * run.result.end_s / 3600
        assert run.score.gpu_hours == pytest.approx(expected, rel=1e-6)
    assert runs[1].score.slo_attainment >= runs[0].score.slo_attainment
    assert seen == {"static:1": len(trace.requests) - runs[0].score.rejected_over_context,
                    "static:4": len(trace.requests) - runs[1].score.rejected_over_context}


def test_no_names_and_unknown_deployment_refused(example_stack: StackSpec) -> None:
    trace = replay.prepare_trace("azure-conv", time_slice="0m..1m")
    with pytest.raises(LlmstackError, match="no autoscaler"):
        replay.replay(example_stack, "chat", trace, [])
    with pytest.raises((LlmstackError, KeyError)):
        replay.replay(example_stack, "nope", trace, ["static"])
