"""Simulated vertical and variant moves: in-flight requests kept, the new shape's speed, GPU-hours per shape."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from llmstack.capacity import throughput
from llmstack.capacity.startup import startup_delay_s
from llmstack.errors import LlmstackError
from llmstack.sim.fleet import FleetConfig, SimResult, simulate
from llmstack.sim.moves import Rollout
from llmstack.sim.scoring import score
from llmstack.sim.traces import Trace, TraceRequest
from llmstack.spec.models import StackSpec
from llmstack.spec.resolving import resolve
from llmstack.spec.scaling import Shape, ShapeChange

AWQ_L4 = Shape("awq", "l4", 1)
FP8_L4 = Shape("fp8", "l4", 1)
AWQ_H100_TP2 = Shape("awq", "h100", 2)


class Mover:
    """A fixed replica count and scripted moves: to ``to`` at ``at_s``, then to each of ``later`` (time, shape)."""

    name = "mover"
    respect_limits = True

    def __init__(self, replicas: int, at_s: float, to: Shape, later: tuple[tuple[float, Shape], ...] = ()) -> None:
        self.replicas = replicas
        self.plan = ((at_s, to), *later)

    def initial_replicas(self) -> int:
        return self.replicas

    def desired_replicas(self, now_s: float, signals: Mapping[str, float], current: int) -> int:
        return self.replicas

    def desired_shape(self, now_s: float, current: Shape) -> ShapeChange | None:
        due = [(t, shape) for t, shape in self.plan if t <= now_s]
        if due and due[-1][1] != current:
            return ShapeChange(due[-1][1], "scripted", f"scripted move at {due[-1][0]:.0f} s")
        return None


def steady(rate_s: float, duration_s: float, prompt: int = 512, output: int = 200) -> Trace:
    n = int(duration_s / rate_s)
    return Trace("steady", tuple(TraceRequest(i * rate_s, prompt, output) for i in range(n)))


def startup(stack: StackSpec, shape: Shape) -> float:
    d = stack.deployment("chat")
    return startup_delay_s(throughput.profile(resolve(stack, d, pool=shape.pool, variant=shape.variant,
                                                      tensor_parallel=shape.tensor_parallel)))


def run(stack: StackSpec, trace: Trace, mover: Mover, hold_timeout_s: float | None = None) -> SimResult:
    return simulate(stack, "chat", trace, mover, FleetConfig(startup_delay_s=30, hold_timeout_s=hold_timeout_s))


def test_variant_move_mid_trace_keeps_every_in_flight_request(example_stack: StackSpec) -> None:
    trace = steady(0.25, 600.0, output=400)  # 4 req/s of long answers: requests are in flight at the move
    result = run(example_stack, trace, Mover(3, 120.0, FP8_L4))
    assert len(result.finished) == len(result.requests) == len(trace.requests)
    assert result.dropped == 0 and len({r.id for r in result.finished}) == len(trace.requests)
    old = [i for i, s in enumerate(result.replica_shapes) if s == AWQ_L4]
    new = [i for i, s in enumerate(result.replica_shapes) if s == FP8_L4]
    assert len(old) == 3 and len(new) == 3
    move = result.moves[0]
    assert (move.t, move.from_shape, move.to_shape, move.rule) == (120.0, AWQ_L4, FP8_L4, "scripted")
    # requests taken by the old replicas after the move were still served there (drained, not dropped)
    after = [r for r in result.finished if r.replica in old and r.arrival_s > move.t]
    assert after and all(r.finish_s is not None for r in after)
    # and the old replicas stopped only once their last request was done
    for i in old:
        last = max(r.finish_s for r in result.finished if r.replica == i and r.finish_s is not None)
        stopped = result.replica_gpu_seconds[i]  # requested at 0: seconds alive = its stop time
        assert stopped >= last - result.profile.api_server_s - 1e-6  # its last step ended, then the API server
    assert move.done_s is not None and move.done_s > move.t + startup(example_stack, FP8_L4)


def test_rolling_update_starts_one_new_replica_at_a_time_and_never_serves_fewer(example_stack: StackSpec) -> None:
    trace = steady(0.5, 900.0)
    result = run(example_stack, trace, Mover(3, 60.0, FP8_L4))
    delay = startup(example_stack, FP8_L4)
    points = {p.t: p for p in result.timeline}
    assert all(p.replicas_up >= 3 for p in result.timeline)  # maxUnavailable 0
    assert all(p.replicas_total <= 4 for p in result.timeline)  # maxSurge 1
    # the three new replicas become ready one start-up after another
    assert result.moves[0].done_s is not None
    assert 60.0 + 3 * delay - 1e-6 <= result.moves[0].done_s <= 60.0 + 3 * delay + 30.0
    assert points[60.0 + 3 * delay // 15 * 15 + 15].replicas_up == 3


def test_recreate_drains_every_old_replica_at_once(example_stack: StackSpec) -> None:
    chat = example_stack.deployment("chat").model_copy(update={"update_strategy": "Recreate"})
    stack = example_stack.model_copy(update={"deployments": [chat]})
    trace = steady(0.5, 600.0)
    delay = startup(stack, FP8_L4)
    result = run(stack, trace, Mover(2, 60.0, FP8_L4), hold_timeout_s=2 * delay)
    assert result.moves[0].done_s is not None and result.moves[0].done_s < 60.0 + delay
    assert len(result.finished) == len(trace.requests)  # held at the router meanwhile
    held = [result.held_s[r.id] for r in result.finished if r.id in result.held_s]
    assert held and max(held) > delay - 30  # requests waited for the new shape's start-up
    # with the router's hold sized for the declared shape's 30 s start-up, the wait drops requests
    assert run(stack, trace, Mover(2, 60.0, FP8_L4)).dropped > 0


def test_new_shape_step_times_are_used_after_the_move(example_stack: StackSpec) -> None:
    # one request at a time on one replica: each sees its replica's single-request latency
    trace = steady(20.0, 1200.0, prompt=512, output=100)
    result = run(example_stack, trace, Mover(1, 100.0, AWQ_H100_TP2))
    d = example_stack.deployment("chat")
    expected = {}
    for shape in (AWQ_L4, AWQ_H100_TP2):
        profile = throughput.profile(resolve(example_stack, d, pool=shape.pool, variant=shape.variant,
                                             tensor_parallel=shape.tensor_parallel))
        expected[shape] = throughput.single_request_latency(profile, 512, 100).tpot_s
    assert expected[AWQ_H100_TP2] < 0.8 * expected[AWQ_L4]
    served = {shape: [r.tpot_s for r in result.finished if result.replica_shapes[r.replica] == shape]
              for shape in expected}
    assert served[AWQ_L4] and served[AWQ_H100_TP2]
    for shape, tpots in served.items():
        assert tpots == pytest.approx([expected[shape]] * len(tpots), rel=1e-6)
    late = [r for r in result.finished if r.arrival_s > 100.0 + startup(example_stack, AWQ_H100_TP2) + 30]
    assert late and all(result.replica_shapes[r.replica] == AWQ_H100_TP2 for r in late)


def test_gpu_hours_and_cost_follow_the_shape(example_stack: StackSpec) -> None:
    trace = steady(1.0, 900.0)
    result = run(example_stack, trace, Mover(2, 300.0, AWQ_H100_TP2))
    by_shape = result.gpu_hours_by_shape
    seconds = {shape: sum(s for s, sh in zip(result.replica_gpu_seconds, result.replica_shapes, strict=True)
                          if sh == shape) for shape in (AWQ_L4, AWQ_H100_TP2)}
    assert by_shape[AWQ_L4] == pytest.approx(seconds[AWQ_L4] * 1 / 3600)
    assert by_shape[AWQ_H100_TP2] == pytest.approx(seconds[AWQ_H100_TP2] * 2 / 3600)  # TP 2: two GPUs each
    assert result.gpu_hours == pytest.approx(by_shape[AWQ_L4] + by_shape[AWQ_H100_TP2])
    assert result.cost == pytest.approx(0.45 * by_shape[AWQ_L4] + 2.50 * by_shape[AWQ_H100_TP2])
    # the new replicas are paid from their request (the move) on, start-up included
    assert min(s for s, sh in zip(result.replica_gpu_seconds, result.replica_shapes, strict=True)
               if sh == AWQ_H100_TP2) <= result.end_s - 300.0
    scored = score(result)
    assert scored.gpu_hours_by_shape == {"awq@l4 TP1": by_shape[AWQ_L4], "awq@h100 TP2": by_shape[AWQ_H100_TP2]}
    assert scored.moves == [{"t": 300.0, "from": "awq@l4 TP1", "to": "awq@h100 TP2", "rule": "scripted",
                             "why": "scripted move at 300 s", "done_s": result.moves[0].done_s}]


def test_a_move_to_a_shape_that_cannot_run_is_one_clear_error(example_stack: StackSpec) -> None:
    # TP 2 on a pool of 1-GPU nodes: TP does not cross nodes, the planner never offers it
    with pytest.raises(LlmstackError, match=r"cannot move chat to awq@l4 TP2: not a shape the planner generates"):
        run(example_stack, steady(1.0, 120.0), Mover(1, 30.0, Shape("awq", "l4", 2)))


def test_moving_back_before_the_new_shape_is_ready_cancels_its_starting_replicas(example_stack: StackSpec) -> None:
    trace = steady(0.5, 600.0)
    result = run(example_stack, trace, Mover(2, 60.0, FP8_L4, later=((90.0, AWQ_L4),)))
    assert [(m.from_shape, m.to_shape) for m in result.moves] == [(AWQ_L4, FP8_L4), (FP8_L4, AWQ_L4)]
    new = [i for i, shape in enumerate(result.replica_shapes) if shape == FP8_L4]
    assert len(new) == 1 and result.replica_gpu_seconds[new[0]] == pytest.approx(30.0)  # cancelled while starting
    assert all(r.replica not in new for r in result.finished)
    assert len(result.finished) == len(trace.requests)
    assert result.replica_shapes.count(AWQ_L4) == 2  # the old replicas served on: they are the shape again
    assert all(p.replicas_up == 2 for p in result.timeline)


@pytest.mark.parametrize(("desired", "old", "new_up", "expected"), [
    (3, 3, 0, (1, 0)),   # start one new replica, drain nothing yet
    (3, 3, 1, (1, 1)),   # one new is ready: one old drains
    (3, 2, 1, (2, 0)),   # and the next new one starts
    (3, 0, 3, (3, 0)),
    (2, 3, 1, (1, 2)),   # desired dropped during the move: old replicas go first
])
def test_rolling_step(desired: int, old: int, new_up: int, expected: tuple[int, int]) -> None:
    assert Rollout(1, 0).step(desired, old, new_up) == expected
    assert Rollout(0, 8).step(desired, old, 0) == (max(0, desired - old), old)  # Recreate: every old one drains
