"""Scale to zero in the fleet: the router's hold queue, its timeout (dropped), cold starts, held TTFT, drain.

Design note: ``Scripted`` (tests/sim/test_fleet.py) plays replica counts by time, so each case
fixes exactly when replicas are asked for; the start-up delay and the hold timeout are set in
:class:`FleetConfig` so the arithmetic is visible in the test.
"""

from __future__ import annotations

import pytest

from llmstack.catalog import signals as catalog
from llmstack.sim import scoring, traces
from llmstack.sim.fleet import FleetConfig, simulate
from llmstack.sim.protocol import ROUTER_SIGNAL_NAMES
from llmstack.sim.traces import Trace, TraceRequest
from llmstack.spec.models import StackSpec
from tests.conftest import make_stack
from tests.sim.test_fleet import Scripted


def zero_stack(**replicas: object) -> StackSpec:
    return make_stack(replicas={"min": 0, "max": 4, "initial": 0, **replicas})


def test_router_signal_names_are_the_catalog_router_signals() -> None:
    assert tuple(s.name for s in catalog.router_signals()) == ROUTER_SIGNAL_NAMES


def test_held_request_served_after_cold_start_and_its_ttft_includes_the_hold() -> None:
    trace = Trace("t", (TraceRequest(1.0, 100, 10), TraceRequest(2.0, 100, 10)))
    result = simulate(zero_stack(), "chat", trace, Scripted([(0, 0), (15, 1)]),
                      FleetConfig(startup_delay_s=45, hold_timeout_s=120))
    assert result.cold_starts == 1 and result.dropped == 0
    assert result.held_s == pytest.approx({0: 59.0, 1: 58.0})  # ready at 15 + 45 = 60 s
    assert all(r.ttft_s > 58 for r in result.finished)
    score = scoring.score(result)
    assert score.held_requests == 2 and score.held_ttft_p95_s > 58 and score.held_max_s == pytest.approx(59.0)
    assert score.slo_attainment == 0.0  # held through a cold start: over the 1 s TTFT SLO


def test_request_held_past_the_hold_timeout_is_dropped_not_served() -> None:
    trace = Trace("t", (TraceRequest(0.0, 100, 10), TraceRequest(50.0, 100, 10)))
    result = simulate(zero_stack(), "chat", trace, Scripted([(0, 0), (15, 1)]),
                      FleetConfig(startup_delay_s=45, hold_timeout_s=30))
    assert result.dropped == 1  # the one at 0 s timed out at 30 s; the one at 50 s waited 10 s
    assert [r.id for r in result.finished] == [1]
    score = scoring.score(result)
    assert score.dropped == 1 and score.unfinished == 0 and score.finished == 1


def test_hold_timeout_defaults_to_the_spec_else_one_and_a_half_startups() -> None:
    trace = Trace("t", (TraceRequest(0.0, 100, 10),))
    default = simulate(zero_stack(), "chat", trace, Scripted([(0, 0), (15, 1)]), FleetConfig(startup_delay_s=40))
    assert default.hold_timeout_s == pytest.approx(60.0)
    spec = simulate(zero_stack(hold_timeout="20s"), "chat", trace, Scripted([(0, 0), (15, 1)]),
                    FleetConfig(startup_delay_s=40))
    assert spec.hold_timeout_s == 20.0 and spec.dropped == 1


def test_snapshot_at_zero_carries_the_router_queue_and_arrivals() -> None:
    scripted = Scripted([(0, 0), (60, 1)])
    trace = Trace("t", tuple(TraceRequest(float(t), 100, 10) for t in (1, 2, 3)))
    simulate(zero_stack(), "chat", trace, scripted, FleetConfig(startup_delay_s=30))
    first = scripted.seen[0]  # the 15 s tick: three requests held, no replica
    assert first["replicas_up"] == 0 and first["router_queue_length"] == 3
    assert first["router_request_rate"] == pytest.approx(3 / 15)
    assert "request_rate" not in first  # no engine series at zero


def test_cold_start_counted_only_from_zero() -> None:
    trace = Trace("t", (TraceRequest(1.0, 100, 10), TraceRequest(400.0, 100, 10)))
    result = simulate(zero_stack(), "chat", trace, Scripted([(0, 0), (15, 1), (90, 3), (200, 0), (300, 1)]),
                      FleetConfig(startup_delay_s=30))
    assert result.cold_starts == 2  # 0 -> 1 at 15 s and 0 -> 1 at 300 s; 1 -> 3 is not a cold start
    assert result.dropped == 0 and len(result.finished) == 2


def test_no_in_flight_request_fails_during_scale_in_and_gpu_time_runs_until_drained() -> None:
    trace = Trace("long", tuple(TraceRequest(i * 0.5, 200, 3000) for i in range(12)))
    result = simulate(make_stack(replicas={"min": 1, "max": 4}), "chat", trace, Scripted([(0, 3), (15, 1)]),
                      FleetConfig(balancer="round_robin"))
    assert len(result.finished) == 12 and result.dropped == 0
    for index in (1, 2):  # the two replicas drained at 15 s
        served = [r for r in result.requests if r.replica == index]
        assert served, index
        last = max(r.finish_s for r in served if r.finish_s is not None)
        assert last > 15 and result.replica_gpu_seconds[index] == pytest.approx(last, abs=0.5)
        assert result.replica_drain_seconds[index] == pytest.approx(last - 15, abs=0.5)
    assert result.replica_drain_seconds[0] == 0.0
    assert scoring.score(result).drain_gpu_hours == pytest.approx(sum(result.replica_drain_seconds) / 3600)


def test_gaps_trace_has_no_arrivals_in_its_off_periods() -> None:
    trace = traces.load_trace("gaps:rate=2,on=5m,off=10m,duration=45m,seed=3")
    assert trace.requests
    assert all((r.arrival_s % 900) < 300 for r in trace.requests)
