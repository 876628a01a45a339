"""What gets generated: n, stop, finish reasons, the context limit and prompt tokens after the chat template."""

from __future__ import annotations

import openai

from tests.contract.helpers import IGNORE_EOS, MESSAGES, long_prompt, tokenize
from tests.contract.targets import Target


def test_n_choices_each_get_max_tokens(client: openai.OpenAI, target: Target) -> None:
    reply = client.chat.completions.create(model=target.model, messages=MESSAGES, max_tokens=5, n=3,
                                           temperature=1.0, extra_body=IGNORE_EOS)
    assert [c.index for c in reply.choices] == [0, 1, 2]
    assert all(c.finish_reason == "length" and c.message.role == "assistant" for c in reply.choices)
    assert reply.usage is not None and reply.usage.completion_tokens == 15


def test_stop_string_ends_the_text_before_it_with_finish_stop(client: openai.OpenAI, target: Target) -> None:
    def complete(**extra: object) -> openai.types.Completion:
        return client.completions.create(model=target.model, prompt="Routers pick replicas", max_tokens=24,
                                         temperature=0, extra_body={**IGNORE_EOS, **extra})

    free = complete()
    text = free.choices[0].text
    assert free.choices[0].finish_reason == "length" and len(text) > 8
    stop = text[len(text) // 2:len(text) // 2 + 3]
    stopped = complete(stop=[stop]).choices[0]
    assert stopped.finish_reason == "stop"
    assert stopped.text == text[:text.find(stop)]
    assert stopped.model_extra is not None and stopped.model_extra.get("stop_reason") == stop


def test_max_tokens_is_clipped_to_the_context_left(client: openai.OpenAI, target: Target) -> None:
    prompt, prompt_tokens = long_prompt(target, target.max_model_len - 6)
    reply = client.completions.create(model=target.model, prompt=prompt, max_tokens=100, extra_body=IGNORE_EOS)
    assert reply.usage is not None and reply.usage.prompt_tokens == prompt_tokens
    assert reply.usage.completion_tokens == target.max_model_len - prompt_tokens
    assert reply.choices[0].finish_reason == "length"


def test_prompt_tokens_are_counted_after_the_chat_template(client: openai.OpenAI, target: Target) -> None:
    content = str(MESSAGES[0]["content"])
    chat = client.chat.completions.create(model=target.model, messages=MESSAGES, max_tokens=1)
    plain = client.completions.create(model=target.model, prompt=content, max_tokens=1)
    assert chat.usage is not None and plain.usage is not None
    assert chat.usage.prompt_tokens == tokenize(target, messages=MESSAGES)
    assert plain.usage.prompt_tokens == tokenize(target, prompt=content)
    assert chat.usage.prompt_tokens >= plain.usage.prompt_tokens + 4  # role headers, end of turn, reply header


def test_whole_reply_shape(client: openai.OpenAI, target: Target) -> None:
    reply = client.chat.completions.create(model=target.model, messages=MESSAGES, max_tokens=3,
                                           extra_body=IGNORE_EOS)
    assert reply.object == "chat.completion" and reply.model == target.model and reply.id.startswith("chatcmpl-")
    assert reply.choices[0].message.content and reply.choices[0].finish_reason == "length"
    assert reply.usage is not None and reply.usage.completion_tokens == 3
