"""The fleet: balancing, start-up delay, drain on scale-in, GPU-seconds, over-context requests, conservation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import pytest

from llmstack.sim import traces
from llmstack.sim.baselines import Static
from llmstack.sim.engine import SimRequest
from llmstack.sim.fleet import Fleet, FleetConfig, simulate
from llmstack.sim.traces import Trace, TraceRequest
from llmstack.spec.models import StackSpec
from llmstack.spec.scaling import Shape, ShapeChange


class Scripted:
    """Returns scripted replica counts by time: [(from_s, replicas), ...]."""

    name = "scripted"
    respect_limits = True

    def __init__(self, plan: list[tuple[float, int]]) -> None:
        self.plan = plan
        self.seen: list[Mapping[str, float]] = []

    def initial_replicas(self) -> int:
        return self.plan[0][1]

    def desired_replicas(self, now_s: float, signals: Mapping[str, float], current: int) -> int:
        self.seen.append(dict(signals))
        return [n for t, n in self.plan if t <= now_s][-1]

    def desired_shape(self, now_s: float, current: Shape) -> ShapeChange | None:
        return None


def short_trace() -> Trace:
    return traces.slice_trace(traces.load_trace("azure-conv"), 600, 900)


def test_every_request_finishes_once_under_scaling(example_stack: StackSpec) -> None:
    trace = short_trace()
    result = simulate(example_stack, "chat", trace, Scripted([(0, 2), (60, 6), (200, 3)]),
                      FleetConfig(startup_delay_s=30))
    assert len(result.finished) == len(result.requests) == len(trace.requests)
    assert len({r.id for r in result.finished}) == len(result.finished)
    assert [(e.before, e.after) for e in result.scale_events] == [(2, 6), (6, 3)]


def test_gpu_seconds_count_from_request_to_stop_including_startup(example_stack: StackSpec) -> None:
    trace = Trace("two", (TraceRequest(0.0, 100, 10), TraceRequest(400.0, 100, 10)))
    result = simulate(example_stack, "chat", trace, Scripted([(0, 1), (30, 2), (200, 1)]),
                      FleetConfig(startup_delay_s=60))
    # replica 0 lives the whole run; replica 1 from its request at 30 s to its drain at 210 s (idle)
    assert result.replica_gpu_seconds[1] == pytest.approx(180.0)
    assert result.replica_gpu_seconds[0] == pytest.approx(result.end_s)
    up_at = {p.t: p.replicas_up for p in result.timeline}
    assert up_at[75.0] == 1 and up_at[90.0] == 2  # ready 60 s after the request


def test_draining_replica_finishes_its_requests(example_stack: StackSpec) -> None:
    trace = Trace("long", tuple(TraceRequest(i * 0.5, 200, 2000) for i in range(8)))
    result = simulate(example_stack, "chat", trace, Scripted([(0, 2), (15, 1)]), FleetConfig(balancer="round_robin"))
    assert len(result.finished) == 8
    assert {r.replica for r in result.requests} == {0, 1}
    assert result.replica_gpu_seconds[1] > 15  # stopped only once its requests were done


def test_least_request_picks_the_replica_with_fewest_requests(example_stack: StackSpec) -> None:
    fleet = Fleet(example_stack, "chat", Static(3))
    replicas = [fleet.add_replica(0.0, ready=True) for _ in range(3)]
    for replica, load in zip(replicas, [3, 1, 2], strict=True):
        for i in range(load):
            replica.engine.submit(SimRequest(i, 0.0, 10, 10))
    assert {fleet._pick(SimRequest(99, 0.0, 10, 10)) for _ in range(6)} == {replicas[1]}


def test_round_robin_cycles_through_up_replicas(example_stack: StackSpec) -> None:
    trace = traces.slice_trace(traces.load_trace("azure-conv"), 600, 700)
    rr = simulate(example_stack, "chat", trace, Static(5), FleetConfig(balancer="round_robin"))
    counts = [sum(1 for r in rr.requests if r.replica == i) for i in range(5)]
    assert max(counts) - min(counts) <= 1


def test_requests_over_context_counted_not_simulated(example_stack: StackSpec) -> None:
    trace = Trace("mixed", (TraceRequest(0.0, 100, 10), TraceRequest(1.0, 8000, 500), TraceRequest(2.0, 50, 5)))
    result = simulate(example_stack, "chat", trace, Static(1))
    assert result.rejected_over_context == 1
    assert len(result.finished) == 2


def test_signals_carry_catalog_names_and_plausible_values(example_stack: StackSpec) -> None:
    scripted = Scripted([(0, 3)])
    simulate(example_stack, "chat", short_trace(), scripted)
    busy = scripted.seen[len(scripted.seen) // 2]
    assert busy["replicas_up"] == 3
    assert 3 < busy["request_rate"] < 10
    assert 0 < busy["kv_cache_usage"] <= busy["kv_cache_usage_max"] <= 1
    assert 0 < busy["gpu_utilization"] <= 1
    assert busy["generation_tokens_rate"] > busy["request_rate"]
    assert 0 < busy["ttft_p50"] <= busy["ttft_p95"]


def test_requests_wait_at_balancer_until_a_replica_is_ready(example_stack: StackSpec) -> None:
    from tests.conftest import make_stack

    stack = make_stack(replicas={"min": 0, "max": 2, "initial": 0})
    trace = Trace("t", (TraceRequest(0.0, 100, 10),))
    result = simulate(stack, "chat", trace, Scripted([(0, 0), (15, 1)]), FleetConfig(startup_delay_s=45))
    assert result.finished[0].first_token_s is not None and result.finished[0].first_token_s > 60


class Fixed(Scripted):
    """Scripted, with the fleet told whether to clamp it."""

    def __init__(self, replicas: int, respect_limits: bool) -> None:
        super().__init__([(0, replicas)])
        self.respect_limits = respect_limits


@pytest.mark.parametrize(("respect_limits", "replicas_up"), [(True, 8), (False, 10)])
def test_fleet_clamps_to_the_replica_range_only_when_the_autoscaler_asks(
        example_stack: StackSpec, respect_limits: bool, replicas_up: int) -> None:
    assert example_stack.deployment("chat").replicas.max == 8
    trace = traces.slice_trace(traces.load_trace("azure-conv"), 0, 120)
    result = simulate(example_stack, "chat", trace, Fixed(10, respect_limits), FleetConfig())
    assert {p.replicas_up for p in result.timeline} == {replicas_up}


@pytest.mark.parametrize("balancer", ["least_request", "round_robin"])
def test_a_replica_that_starts_takes_the_requests_waiting_at_the_router(balancer: str) -> None:
    """The router sends a replica at most max_num_seqs requests (HAProxy maxconn); the rest wait at the
    router, so the replica started for them serves them. Without the router queue they stay on replica 0."""
    from tests.conftest import make_stack

    stack = make_stack(replicas={"min": 1, "max": 2}, engine={"max_num_seqs": 4})
    trace = Trace("burst", tuple(TraceRequest(i * 0.02, 200, 2000) for i in range(40)))
    plan = [(0.0, 1), (15.0, 2)]
    config = FleetConfig(startup_delay_s=30, balancer=balancer, hold_timeout_s=600)
    queued = simulate(stack, "chat", trace, Scripted(plan), config)
    sent = simulate(stack, "chat", trace, Scripted(plan), replace(config, router_queue=False))
    assert len(queued.finished) == len(sent.finished) == 40
    assert {r.replica for r in sent.requests} == {0}
    served_by_new = [r for r in queued.requests if r.replica == 1]
    assert served_by_new and all(r.arrival_s < 1.0 for r in served_by_new)  # arrived 44 s before it was ready
    assert min(r.first_scheduled_s or 0.0 for r in served_by_new) >= 45.0
    first_tick = queued.timeline[0].signals
    assert first_tick["router_queue_length"] > 0 and first_tick["running_requests"] <= 4
    assert max(r.finish_s or 0.0 for r in queued.requests) < max(r.finish_s or 0.0 for r in sent.requests)


def test_a_request_waiting_at_the_router_past_the_queue_timeout_is_dropped() -> None:
    """HAProxy answers 503 once a request has waited ``timeout queue`` (the hold timeout) for a slot."""
    from tests.conftest import make_stack

    stack = make_stack(replicas={"min": 1, "max": 1}, engine={"max_num_seqs": 4})
    trace = Trace("burst", tuple(TraceRequest(i * 0.02, 200, 2000) for i in range(12)))
    result = simulate(stack, "chat", trace, Scripted([(0.0, 1)]), FleetConfig(hold_timeout_s=5))
    assert result.dropped == 8 and len(result.finished) == 4
