"""Error replies: status, the openai client's exception class and vLLM's exact JSON body."""

from __future__ import annotations

import openai
import pytest

from tests.contract.helpers import MESSAGES, long_prompt
from tests.contract.targets import Target


def test_unknown_model_is_404_not_found_with_param_model(client: openai.OpenAI, target: Target) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="no-such-model", messages=MESSAGES, max_tokens=2)
    assert caught.value.status_code == 404
    assert caught.value.response.json() == {"error": {
        "message": f"The model `no-such-model` does not exist. Valid aliases: {target.model}.",
        "type": "NotFoundError", "param": "model", "code": 404}}


@pytest.mark.parametrize(("field", "value", "message", "param"), [
    ("temperature", -5, "temperature must be non-negative, got -5.0. (parameter=temperature, value=-5.0)",
     "temperature"),
    ("temperature", 2.5, "temperature must be in [0, 2], got 2.5. (parameter=temperature, value=2.5)",
     "temperature"),
    ("top_p", 0, "top_p must be in (0, 1], got 0.0. (parameter=top_p, value=0.0)", "top_p"),
    ("max_tokens", 0, "max_tokens must be at least 1, got 0. (parameter=max_tokens, value=0)", "max_tokens"),
    ("n", 0, "n must be at least 1, got 0.", None),
    ("presence_penalty", 3, "presence_penalty must be in [-2, 2], got 3.0.", None),
])
def test_invalid_sampling_parameter_is_400(client: openai.OpenAI, target: Target, field: str, value: float,
                                           message: str, param: str | None) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=target.model, messages=MESSAGES,
                                       **{"max_tokens": 2, field: value})  # type: ignore[call-overload]
    assert caught.value.response.json() == {"error": {"message": message, "type": "BadRequestError",
                                                      "param": param, "code": 400}}


def test_n_over_1_with_greedy_sampling_is_400(client: openai.OpenAI, target: Target) -> None:
    with pytest.raises(openai.BadRequestError, match="n must be 1 when using greedy sampling, got 2"):
        client.chat.completions.create(model=target.model, messages=MESSAGES, max_tokens=2, n=2, temperature=0)


def test_prompt_over_the_context_is_400_input_tokens(client: openai.OpenAI, target: Target) -> None:
    prompt, _ = long_prompt(target, target.max_model_len)
    with pytest.raises(openai.BadRequestError) as caught:
        client.completions.create(model=target.model, prompt=prompt * 2, max_tokens=4)
    error = caught.value.response.json()["error"]
    assert error["param"] == "input_tokens" and error["type"] == "BadRequestError"
    assert error["message"].startswith(f"This model's maximum context length is {target.max_model_len} tokens.")
