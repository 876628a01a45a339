"""The planner: options ranked cheapest first, rejected ones with reasons, demand sizing."""

from __future__ import annotations

from llmstack.capacity import planning
from llmstack.spec.models import StackSpec


def test_plan_ranks_fitting_options_by_cost(example_stack: StackSpec) -> None:
    options = planning.plan(example_stack)
    fitting = [o for o in options if o.fits]
    assert fitting, "expected fitting options"
    costs = [o.cost_per_hour for o in fitting]
    assert costs == sorted(costs)
    assert all(not o.fits for o in options[len(fitting):])


def test_declared_options_present_for_each_deployment(example_stack: StackSpec) -> None:
    options = planning.plan(example_stack)
    declared = {o.deployment for o in options if o.declared}
    assert declared == {d.name for d in example_stack.deployments}


def test_rejected_options_say_why(example_stack: StackSpec) -> None:
    options = planning.plan(example_stack, deployment="reasoning")
    single = [o for o in options if o.pool == "h100" and o.tensor_parallel == 1 and o.variant == "bf16"]
    assert single and not single[0].fits
    assert "does not fit" in single[0].reason


def test_more_demand_needs_more_replicas(example_stack: StackSpec) -> None:
    low = planning.plan(example_stack, planning.Demand(requests_per_s=1), deployment="chat", alternatives=False)
    high = planning.plan(example_stack, planning.Demand(requests_per_s=10), deployment="chat", alternatives=False)
    assert low[0].replicas_needed is not None and high[0].replicas_needed is not None
    assert high[0].replicas_needed > low[0].replicas_needed
    assert high[0].cost_per_hour is not None and low[0].cost_per_hour is not None
    assert high[0].cost_per_hour > low[0].cost_per_hour


def test_alternatives_keep_tp_within_a_node(example_stack: StackSpec) -> None:
    options = planning.plan(example_stack)
    assert all(o.tensor_parallel <= 1 for o in options if o.pool == "l4" and not o.declared)
