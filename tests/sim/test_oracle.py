"""The oracle: ahead of the load, meeting the SLO, never costlier than the smallest fixed fleet that meets it."""

from __future__ import annotations

import pytest

from llmstack.experiments import replay
from llmstack.experiments.registry import resolve_autoscaler
from llmstack.sim import traces
from llmstack.sim.fleet import FleetConfig
from llmstack.sim.oracle import CONSTANT_RUNS, Oracle, _smallest_constant, _Trial
from llmstack.spec.models import StackSpec


def test_oracle_follows_future_load(example_stack: StackSpec) -> None:
    trace = traces.bursts(1.0, 1200, burst=6, every_s=600, length_s=120, start_s=600, seed=2,
                          prompt_tokens=500, output_tokens=100)
    oracle = resolve_autoscaler("oracle", example_stack, "chat", trace=trace,
                                config=FleetConfig(startup_delay_s=60))
    assert isinstance(oracle, Oracle)
    quiet = oracle.desired_replicas(100, {}, 1)
    ahead = oracle.desired_replicas(600 - 60, {}, 1)  # a replica requested now is ready at the burst
    assert ahead > quiet >= 1


def test_oracle_meets_slo_on_bursts_where_static_at_its_mean_does_worse_or_costs_more(
        example_stack: StackSpec) -> None:
    trace = traces.bursts(1.0, 1500, burst=6, every_s=600, length_s=120, start_s=300, seed=3,
                          prompt_tokens=500, output_tokens=100)
    config = FleetConfig(startup_delay_s=60)
    oracle_run, = replay.replay(example_stack, "chat", trace, ["oracle"], config=config)
    mean = round(oracle_run.score.mean_replicas)
    static_run, = replay.replay(example_stack, "chat", trace, [f"static:{mean}"], config=config)
    assert oracle_run.score.slo_attainment >= 0.99
    assert (static_run.score.slo_attainment < oracle_run.score.slo_attainment
            or static_run.score.gpu_hours > oracle_run.score.gpu_hours)


def test_oracle_gpu_hours_at_most_smallest_static_fleet_meeting_target(example_stack: StackSpec) -> None:
    trace = traces.poisson(3.3, 900, prompt_tokens=500, output_tokens=100, seed=1)  # every request attainable
    config = FleetConfig(startup_delay_s=60)
    oracle_run, = replay.replay(example_stack, "chat", trace, ["oracle"], config=config)
    for k in range(1, example_stack.deployment("chat").replicas.max + 1):
        static_run, = replay.replay(example_stack, "chat", trace, [f"static:{k}"], config=config)
        if static_run.score.slo_attainment >= 0.99:
            break
    assert static_run.score.slo_attainment >= 0.99
    assert oracle_run.score.slo_attainment >= 0.99
    assert oracle_run.score.gpu_hours <= static_run.score.gpu_hours + 1e-9


@pytest.mark.parametrize(("hint", "smallest"), [(5, 4), (4, 4), (2, 4), (9, 7), (12, None)])
def test_smallest_constant_finds_threshold_from_hint(hint: int, smallest: int | None) -> None:
    tried: list[int] = []

    def fake(schedule: list[int]) -> tuple[_Trial, list[int]]:
        tried.append(schedule[0])
        met = smallest is not None and schedule[0] >= smallest
        return _Trial(schedule, met, 1.0 if met else 0.5, float(schedule[0])), []

    assert _smallest_constant(fake, hint, 1, 10, 3) == smallest
    assert len(tried) <= CONSTANT_RUNS


def test_a_held_oracle_keeps_each_count_for_the_hold_after_it_was_needed() -> None:
    """``hold_s`` is a scale-in stabilization window: a count is asked for until ``hold_s`` after its interval."""
    now = Oracle(needed=[1, 5, 1, 1, 1, 1], interval_s=15.0, lookahead_s=0.0, capacity_rps=1.0)
    held = Oracle(needed=[1, 5, 1, 1, 1, 1], interval_s=15.0, lookahead_s=0.0, capacity_rps=1.0, hold_s=30.0)
    assert [now.desired_replicas(t, {}, 1) for t in (20.0, 35.0, 50.0, 61.0)] == [5, 1, 1, 1]
    assert [held.desired_replicas(t, {}, 1) for t in (20.0, 35.0, 50.0, 61.0)] == [5, 5, 5, 1]
