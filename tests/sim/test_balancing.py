"""Hash balancing in the simulator: every router strategy, consistent keys, bounded load.

Design note: a trace whose requests all share their first prefix block is the case the
router's old canary pick got wrong; with ``hash_balance_factor`` no replica holds more than
``ceil(factor * (in_flight + 1) / replicas)`` requests when one arrives, and without the
bound (factor None) every such request lands on one replica.
"""

from __future__ import annotations

import math
import typing

from llmstack.sim import balancing
from llmstack.sim.baselines import Static
from llmstack.sim.fleet import Balancer, FleetConfig, simulate
from llmstack.sim.traces import Trace, TraceRequest
from llmstack.spec.models import RouterStrategy, StackSpec


def test_simulator_offers_every_strategy_a_router_can_declare() -> None:
    assert set(typing.get_args(Balancer)) == set(typing.get_args(RouterStrategy))


def test_same_key_same_replica_and_few_keys_move_when_one_joins() -> None:
    four, five = [0, 1, 2, 3], [0, 1, 2, 3, 4]
    before = {key: four[balancing.pick(key, four, [0] * 4, None)] for key in range(1000)}
    after = {key: five[balancing.pick(key, five, [0] * 5, None)] for key in range(1000)}
    moved = [key for key in before if before[key] != after[key]]
    assert all(after[key] == 4 for key in moved)  # only to the new replica
    assert 100 < len(moved) < 300  # about a fifth


def test_bounded_pick_never_exceeds_the_cap() -> None:
    replicas, loads = [0, 1, 2], [0, 0, 0]
    for _ in range(30):
        cap = math.ceil(1.5 * (sum(loads) + 1) / 3)
        position = balancing.pick(7, replicas, loads, 1.5)
        loads[position] += 1
        assert loads[position] <= cap
    assert max(loads) == math.ceil(1.5 * 30 / 3)  # the key's replica is used up to the bound, no further


def test_shared_prefix_trace_spreads_only_with_the_balance_factor(example_stack: StackSpec) -> None:
    trace = Trace("shared", tuple(TraceRequest(i * 0.05, 500, 200, (42, 1000 + i)) for i in range(200)))
    bounded = simulate(example_stack, "chat", trace, Static(4), FleetConfig(balancer="prefix_hash"))
    used = {r.replica for r in bounded.requests}
    assert len(used) >= 3
    share = max(sum(1 for r in bounded.requests if r.replica == i) for i in used) / len(bounded.requests)
    assert share < 0.6
    unbounded = simulate(example_stack, "chat", trace, Static(4),
                         FleetConfig(balancer="prefix_hash", hash_balance_factor=1e9))
    assert len({r.replica for r in unbounded.requests}) == 1
