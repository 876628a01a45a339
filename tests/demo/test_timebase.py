"""The simulated clock and the source that answers the policy engine in simulated units."""

from __future__ import annotations

import pytest

from llmstack.catalog import signals as catalog
from llmstack.demo.timebase import ScaledSource, SimClock
from llmstack.metrics import queries
from llmstack.metrics.reading import Sample, read_snapshots


class FakeSource:
    """Answers each expression with a fixed value for deployment ``chat``; records what it was asked."""

    def __init__(self, values: dict[str, float]) -> None:
        self.values = values
        self.asked: list[str] = []

    def query(self, expr: str) -> list[Sample]:
        self.asked.append(expr)
        return [Sample({"deployment": "chat"}, self.values.get(expr, 1.0), 0.0)]


def test_clock_runs_speed_times_faster_from_its_origin() -> None:
    clock = SimClock(speed=10, wall_origin=1000.0, sim_origin=5000.0)
    assert clock.to_sim(1002.5) == pytest.approx(5025.0)
    assert clock.elapsed(1002.5) == pytest.approx(25.0)


def test_rates_divided_by_speed_and_latencies_kept() -> None:
    demo = catalog.by_name("10s")
    fake = FakeSource({demo["request_rate"].expr: 20.0, demo["ttft_p95"].expr: 0.7,
                       demo["queue_length"].expr: 3.0})
    source = ScaledSource(fake, SimClock(10, 0.0, 0.0), "10s")
    default = catalog.by_name()
    assert source.query(default["request_rate"].expr)[0].value == pytest.approx(2.0)
    assert source.query(default["ttft_p95"].expr)[0].value == pytest.approx(0.7)
    assert source.query(default["queue_length"].expr)[0].value == pytest.approx(3.0)
    assert all("[1m]" not in expr for expr in fake.asked)


def test_sample_age_measured_on_the_simulated_clock() -> None:
    clock = SimClock(10, wall_origin=1000.0, sim_origin=1000.0)
    oldest = next(q for q in queries.meta_queries() if q.name == queries.OLDEST_SAMPLE)
    source = ScaledSource(FakeSource({oldest.expr: 1011.0}), clock, "10s")
    snaps = read_snapshots(source, {"chat": 1}, now=clock.to_sim(1012.0))
    assert snaps["chat"].oldest_sample_age_s == pytest.approx(10.0)  # 1 wall second at x10


def test_unknown_expression_passes_through_unchanged() -> None:
    fake = FakeSource({"up": 1.0})
    assert ScaledSource(fake, SimClock(10, 0.0, 0.0), "10s").query("up")[0].value == 1.0
    assert fake.asked == ["up"]
