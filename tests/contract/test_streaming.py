"""Stream shapes as the official openai client sees them, the same for the stand-in and vLLM."""

from __future__ import annotations

import openai

from tests.contract.helpers import IGNORE_EOS, MESSAGES, tokenize
from tests.contract.targets import Target


def test_chat_stream_starts_with_role_and_finishes_on_last_content_chunk(client: openai.OpenAI,
                                                                         target: Target) -> None:
    chunks = list(client.chat.completions.create(model=target.model, messages=MESSAGES, max_tokens=8, stream=True,
                                                 extra_body=IGNORE_EOS))  # type: ignore[call-overload]
    first = chunks[0].choices[0]
    assert (first.delta.role, first.delta.content, first.finish_reason) == ("assistant", "", None)
    assert all(len(c.choices) == 1 and c.usage is None for c in chunks)
    finishes = [c.choices[0].finish_reason for c in chunks]
    assert finishes[-1] == "length"
    assert all(f is None for f in finishes[:-1])
    assert "".join(c.choices[0].delta.content or "" for c in chunks)
    assert {c.id for c in chunks} == {chunks[0].id} and chunks[0].object == "chat.completion.chunk"


def test_usage_only_with_include_usage_in_its_own_last_chunk(client: openai.OpenAI, target: Target) -> None:
    chunks = list(client.chat.completions.create(
        model=target.model, messages=MESSAGES, max_tokens=6, stream=True, stream_options={"include_usage": True},
        extra_body=IGNORE_EOS))  # type: ignore[call-overload]
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert last.usage.completion_tokens == 6
    assert last.usage.prompt_tokens == tokenize(target, messages=MESSAGES)
    assert last.usage.total_tokens == last.usage.prompt_tokens + 6
    assert all(c.usage is None for c in chunks[:-1])
    assert chunks[-2].choices[0].finish_reason == "length"


def test_completion_stream_has_no_role_chunk_and_same_finish_and_usage(client: openai.OpenAI,
                                                                       target: Target) -> None:
    chunks = list(client.completions.create(
        model=target.model, prompt="Routers and replicas", max_tokens=5, stream=True,
        stream_options={"include_usage": True}, extra_body=IGNORE_EOS))  # type: ignore[call-overload]
    content, last = chunks[:-1], chunks[-1]
    assert last.choices == [] and last.usage is not None and last.usage.completion_tokens == 5
    assert [c.choices[0].finish_reason for c in content][-1] == "length"
    assert all(c.choices[0].finish_reason is None for c in content[:-1])
    assert content[0].choices[0].text and content[0].object == "text_completion"


def test_n_streamed_choices_each_open_with_role_and_finish_once(client: openai.OpenAI, target: Target) -> None:
    chunks = list(client.chat.completions.create(model=target.model, messages=MESSAGES, max_tokens=4, n=2,
                                                 temperature=1.0, stream=True,
                                                 extra_body=IGNORE_EOS))  # type: ignore[call-overload]
    by_index: dict[int, list[openai.types.chat.chat_completion_chunk.Choice]] = {}
    for chunk in chunks:
        for choice in chunk.choices:
            by_index.setdefault(choice.index, []).append(choice)
    assert sorted(by_index) == [0, 1]
    for choices in by_index.values():
        assert choices[0].delta.role == "assistant"
        assert [c.finish_reason for c in choices if c.finish_reason] == ["length"]
        assert choices[-1].finish_reason == "length"
