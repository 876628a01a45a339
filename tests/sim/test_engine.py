"""Engine model checks: batch-1 latency equals the capacity model, roofline saturation, preemption, conservation.

Design note: runs of decode steps are summed in closed form; the equality with
``throughput.single_request_latency`` (which sums ``step_time`` step by step) is to float rounding.
"""

from __future__ import annotations

import dataclasses
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmstack.capacity import throughput
from llmstack.capacity.throughput import EngineProfile
from llmstack.sim.engine import Engine, SimRequest, decode_line
from llmstack.spec.loading import load_spec
from llmstack.spec.models import StackSpec, WorkloadSpec
from llmstack.spec.resolving import resolve


def run(engine: Engine, requests: list[SimRequest]) -> float:
    """Drive one engine through arrivals in order; returns the time the last step ended."""
    end, _ = engine.run(requests)
    assert not engine.has_work, "work left but nothing scheduled"
    return end


@pytest.mark.parametrize("deployment", ["chat", "reasoning"])
@pytest.mark.parametrize(("prompt", "output"), [(1024, 256), (5000, 10), (3, 1), (100, 2), (8000, 100)])
def test_single_request_latency_equals_capacity_model_at_batch_one(
        example_stack: StackSpec, deployment: str, prompt: int, output: int) -> None:
    profile = throughput.profile(resolve(example_stack, example_stack.deployment(deployment)))
    request = SimRequest(0, 0.0, prompt, output)
    run(Engine(profile), [request])
    expected = throughput.single_request_latency(profile, prompt, output)
    assert request.ttft_s == pytest.approx(expected.ttft_s, rel=1e-9)
    assert request.tpot_s == pytest.approx(expected.tpot_s, rel=1e-9)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 512), s0=st.integers(0, 2_000_000), steps=st.integers(1, 400))
def test_decode_run_time_equals_summed_step_times(n: int, s0: int, steps: int) -> None:
    from tests.conftest import EXAMPLE_SPEC

    stack = load_spec(EXAMPLE_SPEC)
    profile = throughput.profile(resolve(stack, stack.deployment("chat")))
    line = decode_line(profile, n)
    direct = sum(throughput.step_time(profile, decode_seqs=n, decode_context_tokens=s0 + i * n)
                 for i in range(steps))
    assert line.run_time(s0, steps) == pytest.approx(direct, rel=1e-9)


def test_decode_line_matches_step_time_for_moe_and_tensor_parallel() -> None:
    from tests.conftest import make_stack

    stack = make_stack(tensor_parallel=2, model_spec={"name": "m", "architecture": "Mixtral-8x7B-v0.1", "variants": [
        {"name": "bf16", "weights": "mistralai/Mixtral-8x7B-Instruct-v0.1"}]})
    profile = throughput.profile(resolve(stack, stack.deployment("chat")))
    for n, context in [(1, 100), (7, 10_000), (300, 900_000)]:
        assert decode_line(profile, n).step(context) == pytest.approx(
            throughput.step_time(profile, decode_seqs=n, decode_context_tokens=context), rel=1e-12)


def test_throughput_saturates_at_roofline_when_overloaded(chat_profile: EngineProfile) -> None:
    workload = WorkloadSpec(prompt_tokens=512, output_tokens=128)
    ceiling = throughput.saturation_rps(chat_profile, workload)
    requests = [SimRequest(i, i / (3 * ceiling), 512, 128) for i in range(600)]
    end = run(Engine(chat_profile), requests)
    achieved = len(requests) / end
    assert achieved == pytest.approx(ceiling, rel=0.15)
    assert achieved <= ceiling * 1.15


def test_preemptions_appear_only_when_kv_cache_oversubscribed(chat_profile: EngineProfile) -> None:
    roomy = Engine(chat_profile)
    run(roomy, [SimRequest(i, 0.0, 500, 200) for i in range(64)])  # 64 x 700 tokens << 110k KV tokens
    assert roomy.preemptions == 0
    small = dataclasses.replace(chat_profile, kv_cache_tokens=20_000)
    tight = Engine(small)
    requests = [SimRequest(i, 0.0, 500, 600) for i in range(40)]  # 40 x 1100 tokens > 20k
    run(tight, requests)
    assert tight.preemptions > 0
    assert all(r.finish_s is not None for r in requests)
    assert tight.used_blocks == 0


def test_every_request_finishes_exactly_once_with_its_tokens(chat_profile: EngineProfile) -> None:
    rng = random.Random(7)
    small = dataclasses.replace(chat_profile, kv_cache_tokens=30_000, max_num_seqs=16)
    engine = Engine(small)
    requests = [SimRequest(i, rng.uniform(0, 60), rng.randint(1, 3000), rng.randint(1, 400)) for i in range(300)]
    _, finished = engine.run(requests)
    assert sorted(r.id for r in finished) == list(range(300))
    assert all(r.generated == r.output_tokens for r in requests)
    assert engine.generation_tokens >= sum(r.output_tokens for r in requests)
    assert engine.finished == 300
    assert engine.used_blocks == 0 and not engine.running and not engine.waiting
    assert all(r.arrival_s <= r.first_token_s <= r.finish_s for r in requests)  # type: ignore[operator]


def test_prefix_cache_hits_shorten_ttft_of_a_repeated_prefix(chat_profile: EngineProfile) -> None:
    engine = Engine(chat_profile, prefix_caching=True)
    first = SimRequest(0, 0.0, 4000, 2, hash_ids=tuple(range(8)))
    second = SimRequest(1, 10.0, 4000, 2, hash_ids=tuple(range(8)))
    run(engine, [first, second])
    assert engine.prefix_hits > 0
    assert second.ttft_s < first.ttft_s / 2
    uncached = Engine(chat_profile, prefix_caching=False)
    again = SimRequest(1, 10.0, 4000, 2, hash_ids=tuple(range(8)))
    run(uncached, [SimRequest(0, 0.0, 4000, 2, hash_ids=tuple(range(8))), again])
    assert uncached.prefix_hits == 0
    assert again.ttft_s == pytest.approx(first.ttft_s, rel=1e-9)


def test_advance_to_commits_steps_without_changing_the_outcome(chat_profile: EngineProfile) -> None:
    whole = SimRequest(0, 0.0, 300, 500)
    run(Engine(chat_profile), [whole])
    engine = Engine(chat_profile)
    split = SimRequest(0, 0.0, 300, 500)
    engine.submit(split)
    engine.start(0.0)
    while engine.has_work:
        assert engine.plan is not None
        end = engine.plan.end
        for t in (end * 0.3, end * 0.6):
            engine.advance_to(t)
        assert engine.plan.end == end
        engine.complete()
        engine.start(end)
    assert split.finish_s == pytest.approx(whole.finish_s, rel=1e-9)
