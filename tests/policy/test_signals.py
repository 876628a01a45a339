"""TPOT, queue growth, the forecast and start-up awareness as first-class inputs of the decision."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from llmstack.experiments import scenarios as sc
from llmstack.experiments.registry import resolve_autoscaler
from llmstack.metrics.reading import SignalSnapshot
from llmstack.policy import deciding, forecasting
from llmstack.policy.predicting import CapacityView, workload
from llmstack.policy.recommendation import Recommendation, Setting
from llmstack.policy.rules import Policy, load_policy
from llmstack.policy.state import ScalingState
from llmstack.sim import scoring
from llmstack.sim.fleet import simulate
from llmstack.spec.loading import load_spec
from llmstack.spec.models import StackSpec
from tests.conftest import EXAMPLE_SPEC, ROOT


def snap(replicas: int, **values: float) -> dict[str, SignalSnapshot]:
    base = {"request_rate": 1.0, "queue_length": 0.0, "running_requests": 4.0, "kv_cache_usage": 0.3,
            "kv_cache_usage_max": 0.3, "ttft_p95": 0.3, "tpot_p95": 0.03, "prompt_tokens_rate": 1000.0,
            "generation_tokens_rate": 250.0, "preemption_rate": 0.0, "replicas_up": float(replicas)}
    base.update(values)
    reasoning = SignalSnapshot("reasoning", 0.0, "1m", {**base, "request_rate": 0.2}, 1, 1, 1.0)
    return {"chat": SignalSnapshot("chat", 0.0, "1m", base, replicas, replicas, 1.0), "reasoning": reasoning}


@pytest.fixture
def stack() -> StackSpec:
    return load_spec(EXAMPLE_SPEC)


@pytest.fixture
def policy() -> Policy:
    return load_policy(ROOT / "policies" / "default.yaml")


def chat(ev: deciding.Evaluation) -> list[Recommendation]:
    return [r for r in ev.recommendations if r.deployment == "chat"]


def test_tpot_over_its_slo_scales_out_and_says_tpot(stack: StackSpec, policy: Policy) -> None:
    ev = deciding.evaluate(snap(2, tpot_p95=0.12), ScalingState(), policy, stack, 0.0,
                           {"chat": Setting(2, "awq", "l4", 1)})
    (rec,) = chat(ev)
    assert rec.rule == "tpot-slo" and rec.proposed.replicas > 2
    assert "tpot_p95" in rec.reason and "tpot_p95" in rec.signals


def test_no_second_doubling_while_the_first_replicas_start(stack: StackSpec, policy: Policy) -> None:
    """Latency seen by 2 serving replicas while 4 are asked for: double the serving count, not the 4."""
    current = {"chat": Setting(4, "awq", "l4", 1)}
    ev = deciding.evaluate(snap(4, replicas_up=2, ttft_p95=3.0, queue_length=4.0, request_rate=0.5,
                                prompt_tokens_rate=500, generation_tokens_rate=125),
                           ScalingState(), policy, stack, 0.0, current)
    assert all(r.proposed.replicas <= 4 for r in chat(ev))


def test_latency_over_the_window_scales_the_fleet_that_served_it_not_the_one_just_up(
        stack: StackSpec, policy: Policy) -> None:
    """2 replicas served the last minute's requests; 4 came up a cycle ago. The TTFT quantile still holds the
    2's queueing: doubling the 2 is what it asks (4, already there), not doubling the 4. A minute on, the
    window holds only the 4's requests, and the same reading doubles them."""
    current = {"chat": Setting(4, "awq", "l4", 1)}
    slow = {"ttft_p95": 3.0, "queue_length": 4.0, "request_rate": 0.5, "prompt_tokens_rate": 500.0,
            "generation_tokens_rate": 125.0}
    state = ScalingState().with_serving("chat", 0.0, 2, 60.0)
    ev = deciding.evaluate(snap(4, **slow), state, policy, stack, 15.0, current)
    assert not [r for r in chat(ev) if r.rule == "ttft-slo"]
    assert ev.state.fewest_serving("chat", 0.0) == 2
    later = deciding.evaluate(snap(4, **slow), ev.state, policy, stack, 90.0, current)
    (rec,) = chat(later)
    assert rec.rule == "ttft-slo" and rec.proposed.replicas == 8


def test_prompt_tokens_over_completions_are_held_to_twice_those_over_admitted_requests(stack: StackSpec) -> None:
    """A scaled-in fleet meeting returning traffic: 30 prompts of 1,000 tokens prefilled in the last minute, 3
    of them finished. Over completions that reads 10,000 tokens a request; over the 30 admitted, 1,000; the
    bound lets the estimate stand at 2,000 and no higher. With no growth of the batch it does not bind."""
    chat_spec = stack.deployment("chat")
    values = {"request_rate": 0.05, "prompt_tokens_rate": 500.0, "generation_tokens_rate": 10.0}
    assert workload(chat_spec, values).prompt_tokens == 10000
    assert workload(chat_spec, values, admitted_rps=0.5, max_overstatement=2.0).prompt_tokens == 2000
    assert workload(chat_spec, values, admitted_rps=0.05, max_overstatement=2.0).prompt_tokens == 10000
    state = ScalingState().with_serving("chat", 0.0, 1, 660.0, running=0.0)
    assert deciding._admitted_rps({**values, "running_requests": 27.0}, state, "chat", 60.0, 60.0) == 0.5


def test_ttft_over_with_nothing_waiting_neither_scales_nor_holds(stack: StackSpec, policy: Policy) -> None:
    """Long prompts alone over the TTFT SLO: more replicas do not help, and the fleet may still scale in."""
    current = {"chat": Setting(6, "awq", "l4", 1)}
    state = ScalingState()
    for t in range(0, 600, 15):
        ev = deciding.evaluate(snap(6, ttft_p95=4.0, queue_length=0.0, request_rate=0.3, prompt_tokens_rate=300,
                                    generation_tokens_rate=75), state, policy, stack, float(t), current)
        state = ev.state
        assert all(r.proposed.replicas <= 6 for r in chat(ev))
        if chat(ev):
            break
    assert chat(ev) and chat(ev)[0].proposed.replicas < 6


def test_arrivals_count_the_queue_growth() -> None:
    state = ScalingState().with_observed("chat", 0.0, 5.0, 10.0, 120.0)
    values = {"request_rate": 5.0, "queue_length": 300.0, "running_requests": 10.0}
    assert forecasting.arrivals_rps(values, state, "chat", 30.0) == pytest.approx(5.0 + 300.0 / 30.0)
    shrinking = {"request_rate": 5.0, "queue_length": 0.0, "running_requests": 2.0}
    assert forecasting.arrivals_rps(shrinking, state, "chat", 30.0) == 5.0


def test_the_routers_queue_is_waiting_and_its_request_rate_is_the_arrivals() -> None:
    """Requests waiting at the router (every server at maxconn) count as waiting; its arrival rate, when
    scraped, is the arrivals (completions are capped by a saturated fleet)."""
    state = ScalingState().with_observed("chat", 0.0, 5.0, 10.0, 120.0)
    values = {"request_rate": 5.0, "queue_length": 0.0, "router_queue_length": 300.0, "running_requests": 10.0}
    assert forecasting.waiting(values) == 300.0
    assert forecasting.arrivals_rps(values, state, "chat", 30.0) == pytest.approx(5.0 + 300.0 / 30.0)
    routed = {**values, "router_request_rate": 22.0}
    assert forecasting.arrivals_rps(routed, state, "chat", 30.0) == 22.0
    assert forecasting.arrivals_rps({**values, "router_request_rate": float("nan")}, state, "chat", 30.0) == 15.0


def test_a_surge_at_the_router_is_sized_by_the_last_scrape_not_the_minutes_rate() -> None:
    """Requests waiting at the router and the last 15 s's arrivals 3 sigma over the minute's rate: those
    arrivals stand; a noisy interval, or one with nothing waiting, keeps the minute's rate."""
    state = ScalingState()
    surge = {"request_rate": 3.0, "router_request_rate": 3.0, "router_request_irate": 20.0,
             "router_queue_length": 50.0, "running_requests": 64.0}
    assert forecasting.arrivals_rps(surge, state, "chat", 30.0, surge_sigma=3.0) == 20.0
    assert forecasting.arrivals_rps(surge, state, "chat", 30.0) == 3.0  # sigma 0: off
    assert forecasting.arrivals_rps({**surge, "router_queue_length": 0.0}, state, "chat", 30.0, surge_sigma=3.0) == 3.0
    # 45 expected in 15 s, 60 counted: under 45 + 3 sqrt(45) = 65, noise
    assert forecasting.arrivals_rps({**surge, "router_request_irate": 4.0}, state, "chat", 30.0,
                                    surge_sigma=3.0) == 3.0
    assert forecasting.arrivals_rps({**surge, "router_request_irate": 4.5}, state, "chat", 30.0,
                                    surge_sigma=3.0) == 4.5


def test_the_shipped_policy_serves_more_of_a_flash_crowd_with_the_surge_rule(tmp_path: Path) -> None:
    """l40s-8b-fp8 x flash-crowd (a tuning cell): with ``surge_sigma`` the fleet asks for its peak sooner
    and serves more of the crowd within the SLO than the same policy without it."""
    stack = load_spec(ROOT / "benchmarks" / "scenarios" / "stacks.yaml")
    case = next(c for c in sc.TRACES if c.name == "flash-crowd")
    trace = sc.scaled_trace(stack, "l40s-8b-fp8", case, ROOT / "benchmarks" / "scenarios" / "data")
    config = replace(sc.fleet_config(stack, "l40s-8b-fp8"), initial_replicas=2)
    shipped = ROOT / "policies" / "default.yaml"
    off = tmp_path / "no-surge.yaml"
    off.write_text("horizontal:\n  model_based:\n    surge_sigma: 0\n")
    results = {}
    for name, files in (("with", f"{shipped}"), ("without", f"{shipped},{off}")):
        scaler = resolve_autoscaler(f"policy:{files}", stack, "l40s-8b-fp8", trace=trace, config=config)
        results[name] = scoring.score(simulate(stack, "l40s-8b-fp8", trace, scaler, config))
    assert load_policy(shipped).horizontal.model_based.surge_sigma == 3.0
    assert results["with"].slo_attainment > results["without"].slo_attainment + 0.03, results


def test_forecast_extrapolates_a_rise_one_start_up_ahead_and_never_a_fall() -> None:
    state = ScalingState()
    for t, rate in ((0.0, 2.0), (15.0, 3.0), (30.0, 4.0)):
        state = state.with_observed("chat", t, rate, 0.0, 120.0)
    assert forecasting.forecast_rps(state, "chat", 45.0, 5.0, 120.0, 150.0) == pytest.approx(5.0 + 150.0 / 15.0)
    falling = ScalingState()
    for t, rate in ((0.0, 6.0), (15.0, 5.0), (30.0, 4.0)):
        falling = falling.with_observed("chat", t, rate, 0.0, 120.0)
    assert forecasting.forecast_rps(falling, "chat", 45.0, 3.0, 120.0, 150.0) == 3.0


def _first_scale_in(stack: StackSpec, policy: Policy) -> float:
    """Seconds until 6 replicas serving a trickle (0.3 req/s) are first scaled in."""
    current = {"chat": Setting(6, "awq", "l4", 1)}
    state = ScalingState()
    for t in range(0, 1200, 15):
        ev = deciding.evaluate(snap(6, queue_length=0.0, request_rate=0.3, prompt_tokens_rate=300,
                                    generation_tokens_rate=75), state, policy, stack, float(t), current)
        state = ev.state
        if any(r.proposed.replicas < 6 for r in chat(ev)):
            return float(t)
    raise AssertionError("never scaled in")


def test_scale_in_waits_at_least_the_given_number_of_start_ups(stack: StackSpec, policy: Policy) -> None:
    """Capacity given back takes a start-up to come back: the window grows to 2 start-ups when that is
    longer than scale_in_stabilization, and the skip says how long."""
    short = policy.model_copy(update={"guards": policy.guards.model_copy(
        update={"scale_in_stabilization": 60.0, "stabilization_startups": 0.0})})
    startup_bound = short.model_copy(update={"guards": short.guards.model_copy(
        update={"stabilization_startups": 2.0})})
    view = CapacityView(stack)
    startup = view.startup_s(stack.deployment("chat"), Setting(8, "awq", "l4", 1))
    assert startup > 60
    assert _first_scale_in(stack, short) < 2 * startup
    assert _first_scale_in(stack, startup_bound) >= 2 * startup


def test_a_replica_is_planned_at_no_less_than_its_saturation_share(stack: StackSpec, policy: Policy) -> None:
    """Requests so long that the SLO rate is a sliver of the saturation rate: the model-based rule plans at
    the floor and says so, instead of a replica per fraction of a request per second."""
    floored = policy.model_copy(update={"horizontal": policy.horizontal.model_copy(update={
        "model_based": policy.horizontal.model_based.model_copy(update={"min_saturation_share": 0.5})})})
    values = {"request_rate": 2.0, "prompt_tokens_rate": 2.0 * 2000, "generation_tokens_rate": 2.0 * 300,
              "ttft_p95": 0.5, "running_requests": 12.0}
    current = {"chat": Setting(2, "awq", "l4", 1)}
    plain = chat(deciding.evaluate(snap(2, **values), ScalingState(), policy, stack, 0.0, current))
    ev = chat(deciding.evaluate(snap(2, **values), ScalingState(), floored, stack, 0.0, current))
    view = CapacityView(stack)
    load = workload(stack.deployment("chat"), snap(2, **values)["chat"].values)
    saturation = view.saturation_rps(stack.deployment("chat"), current["chat"], load)
    within = view.sustainable_rps(stack.deployment("chat"), current["chat"], load)
    assert within < 0.5 * saturation  # the case the floor is for
    assert plain and plain[0].rule == "model-based" and plain[0].proposed.replicas > 2
    assert not ev or ev[0].proposed.replicas < plain[0].proposed.replicas
    assert all("saturation rate" in r.reason for r in ev if r.rule == "model-based")
