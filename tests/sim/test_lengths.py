"""Output-length spread of generated workloads: fitted to the shipped traces, seeded, mean kept.

Design note: the sigma is checked against the traces themselves (not a copied number), so a
change of the shipped data or of the constant fails here; the spread tests draw thousands of
requests, where the sample mean of a lognormal with CV ~1 sits within ~3 % of its mean.
"""

from __future__ import annotations

import random
import statistics

import pytest

from llmstack.errors import LlmstackError
from llmstack.sim import lengths, traces
from llmstack.sim import openai_protocol as api


@pytest.mark.parametrize("name", ["azure-conv", "azure-code"])
def test_output_sigma_is_the_lognormal_fit_of_each_shipped_trace(name: str) -> None:
    trace = traces.load_trace(name)
    fitted = lengths.log_spread(r.output_tokens for r in trace.requests)
    assert fitted == pytest.approx(lengths.OUTPUT_SIGMA, abs=0.02)


def test_synthetic_outputs_spread_like_the_traces_and_keep_their_mean() -> None:
    trace = traces.load_trace("poisson:rate=20,duration=10m,output=256,seed=4")
    outputs = [r.output_tokens for r in trace.requests]
    assert len(outputs) > 10_000
    assert statistics.fmean(outputs) == pytest.approx(256, rel=0.03)
    cv = statistics.pstdev(outputs) / statistics.fmean(outputs)
    assert cv == pytest.approx(lengths.coefficient_of_variation(lengths.OUTPUT_SIGMA), rel=0.15)
    assert lengths.log_spread(outputs) == pytest.approx(lengths.OUTPUT_SIGMA, abs=0.03)
    assert {r.prompt_tokens for r in trace.requests} == {1024}  # prompts keep the mean unless sigma= is given


def test_output_spread_is_seeded_and_leaves_the_arrivals_of_a_seed_alone() -> None:
    spread = traces.poisson(5, 600, seed=7)
    assert spread == traces.poisson(5, 600, seed=7)
    assert spread != traces.poisson(5, 600, seed=8)
    fixed = traces.poisson(5, 600, seed=7, output_sigma=0)
    assert {r.output_tokens for r in fixed.requests} == {256}
    assert [r.arrival_s for r in fixed.requests] == [r.arrival_s for r in spread.requests]


def test_explicit_sigma_spreads_prompts_and_outputs_as_before() -> None:
    trace = traces.load_trace("poisson:rate=5,duration=10m,sigma=0,seed=3")
    assert {(r.prompt_tokens, r.output_tokens) for r in trace.requests} == {(1024, 256)}
    both = traces.load_trace("poisson:rate=5,duration=10m,sigma=1,seed=3")
    assert len({r.prompt_tokens for r in both.requests}) > 100
    assert len({r.output_tokens for r in both.requests}) > 100


def test_output_sigma_out_of_range_is_one_clear_error() -> None:
    with pytest.raises(LlmstackError, match="output_sigma=9 is not allowed"):
        traces.load_trace("poisson:rate=5,duration=1m,output_sigma=9")


def test_natural_chat_replies_spread_around_their_mean_and_are_deterministic_when_greedy() -> None:
    def generation(prompt: str, temperature: float) -> api.Generation:
        return api.parse_generation(True, {"messages": [{"role": "user", "content": prompt}],
                                           "temperature": temperature})

    greedy = generation("same prompt", 0.0)
    assert api.plan_choice(greedy, 0, 100_000) == api.plan_choice(greedy, 0, 100_000)
    rng = random.Random(1)
    replies = [api.plan_choice(generation(f"prompt {i}", 1.0), 0, 100_000, rng) for i in range(4000)]
    tokens = [c.tokens for c in replies]
    assert statistics.fmean(tokens) == pytest.approx(api.NATURAL_REPLY_TOKENS, rel=0.05)
    assert statistics.pstdev(tokens) / statistics.fmean(tokens) > 0.7
    assert {c.finish_reason for c in replies} == {"stop"}
