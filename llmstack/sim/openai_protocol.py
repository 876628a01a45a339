"""The OpenAI API as vLLM's server speaks it, for the simulated replicas (pure: no I/O, no clock).

Shapes and messages are copied from vLLM 0.32's OpenAI server (``vllm/entrypoints/openai/``
and ``vllm/entrypoints/serve/``: ``ErrorResponse``, ``create_error_response``,
``SamplingParams._verify_args``, the chat and completion stream generators) and checked
against a running CPU engine (tests/contract/):

- errors are ``{"error": {"message", "type", "param", "code"}}``; an unknown model is 404
  ``NotFoundError`` with ``param: "model"``; invalid sampling parameters are 400
  ``BadRequestError`` (``param`` names the field where vLLM names it);
- a chat stream starts with ``delta: {"role": "assistant", "content": ""}``; ``finish_reason``
  (``stop`` or ``length``) rides on the last content chunk; ``usage`` comes only with
  ``stream_options.include_usage``, in its own chunk with ``choices: []``;
- ``max_tokens`` is clipped to what the context leaves (finish ``length``); a prompt longer than
  the context is 400; without ``max_tokens`` a chat reply ends by itself (finish ``stop``) after
  a length drawn around ``NATURAL_REPLY_TOKENS`` tokens (the traces' spread), a completion
  after vLLM's default 16 (finish ``length``);
- prompt tokens are counted after the chat template (Llama 3's: a BOS, a header per message and
  the assistant header), at 4 characters per text token and 1 per special token;
- generated text is a deterministic word sequence (greedy: seeded by the prompt; sampled: by
  ``seed`` or at random), so ``stop`` strings can be honoured: the text ends before the first
  stop string, with ``finish_reason: "stop"`` and ``stop_reason`` the string.
"""

from __future__ import annotations

import math
import random
import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from llmstack.sim import lengths

COMPLETION_DEFAULT_MAX_TOKENS = 16
"""vLLM's ``CompletionRequest.max_tokens`` default."""
NATURAL_REPLY_TOKENS = 128
"""A chat reply without ``max_tokens`` ends by itself (the model's end-of-turn token) after a length drawn from
the traces' output-length spread (:mod:`llmstack.sim.lengths`) around this mean, seeded like its text."""
CHARS_PER_TOKEN = 4
MAX_N = 64
SPECIAL = ("<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>")
_SPECIAL_RE = re.compile("|".join(re.escape(s) for s in SPECIAL))
WORDS = ("the", "model", "serves", "tokens", "fast", "and", "a", "replica", "scales", "out", "when", "load",
         "grows", "then", "in", "again", "cache", "blocks", "fill", "up", "queue", "drains", "router", "picks")


class ApiError(Exception):
    """An OpenAI-shaped error reply."""

    def __init__(self, status: int, message: str, kind: str = "BadRequestError", param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.param = param

    def body(self) -> dict[str, object]:
        return error_body(self.status, self.message, self.kind, self.param)


def error_body(status: int, message: str, kind: str, param: str | None = None) -> dict[str, object]:
    return {"error": {"message": message, "type": kind, "param": param, "code": status}}


def validation_error(field: str, value: object, expected: str) -> ApiError:
    """What vLLM's request-validation handler answers for a field of the wrong type."""
    message = (f"1 validation error:\n  {{'type': '{expected}', 'loc': 'body.{field}', "
               f"'msg': 'Input should be a valid {expected.split('_')[0]}', 'input': {value!r}}}")
    return ApiError(400, message, "Bad Request", f"body.{field}")


def unknown_model(model: str, served: str) -> ApiError:
    return ApiError(404, f"The model `{model}` does not exist. Valid aliases: {served}.", "NotFoundError", "model")


# ---------------------------------------------------------------- requests


@dataclass(frozen=True)
class Generation:
    """One parsed, validated generation request."""

    chat: bool
    model: str | None
    prompt: str
    """The prompt text after the chat template (chat) or as given (completions)."""
    prompt_tokens: int
    max_tokens: int | None
    n: int
    temperature: float
    seed: int | None
    stop: tuple[str, ...]
    stream: bool
    include_usage: bool


def count_tokens(text: str) -> int:
    """Special tokens count 1 each, other text 1 per ``CHARS_PER_TOKEN`` characters (at least 1 per piece)."""
    specials = len(_SPECIAL_RE.findall(text))
    pieces = [p for p in _SPECIAL_RE.split(text) if p]
    return specials + sum(max(1, len(p) // CHARS_PER_TOKEN) for p in pieces)


def render_chat(messages: Sequence[Mapping[str, Any]]) -> str:
    """Llama 3's chat template with the assistant generation prompt."""
    parts = ["<|begin_of_text|>"]
    for message in messages:
        parts.append(f"<|start_header_id|>{message.get('role', 'user')}<|end_header_id|>\n\n"
                     f"{_content_text(message.get('content'))}<|eot_id|>")
    parts.append("<|start_header_id|>assistant<|end_header_id|>\n\n")
    return "".join(parts)


def _content_text(content: object) -> str:
    if isinstance(content, list):  # content parts: [{"type": "text", "text": ...}]
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


def parse_generation(chat: bool, payload: object) -> Generation:
    """Check a chat or completion body as vLLM does; raises :class:`ApiError`."""
    if not isinstance(payload, dict):
        raise ApiError(400, "1 validation error:\n  {'type': 'model_attributes_type', 'loc': 'body', "
                            "'msg': 'Input should be a valid dictionary or object to extract fields from'}",
                       "Bad Request", "body")
    prompt, prompt_tokens = _prompt(chat, payload)
    max_tokens = _optional_int(payload, "max_completion_tokens" if chat and "max_completion_tokens" in payload
                               else "max_tokens")
    n = _optional_int(payload, "n")
    temperature = _number(payload, "temperature", 1.0)
    seed = _optional_int(payload, "seed")
    options = payload.get("stream_options")
    generation = Generation(
        chat=chat, model=_optional_str(payload, "model"), prompt=prompt, prompt_tokens=prompt_tokens,
        max_tokens=max_tokens, n=1 if n is None else n, temperature=temperature, seed=seed, stop=_stop(payload),
        stream=bool(payload.get("stream")),
        include_usage=isinstance(options, dict) and bool(options.get("include_usage")))
    check_sampling(generation, payload)
    return generation


def _prompt(chat: bool, payload: Mapping[str, Any]) -> tuple[str, int]:
    if chat:
        messages = payload.get("messages")
        if messages is None:
            raise ApiError(400, "1 validation error:\n  {'type': 'missing', 'loc': 'body.messages', "
                                "'msg': 'Field required'}", "Bad Request", "body.messages")
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            raise validation_error("messages", messages, "list_type")
        text = render_chat(messages)
        return text, count_tokens(text)
    prompt = payload.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if isinstance(prompt, list) and prompt and all(isinstance(t, int) for t in prompt):
        return " ".join(map(str, prompt)), len(prompt)  # token ids
    if not isinstance(prompt, str):
        raise ApiError(400, "Either prompt or prompt_embeds must be provided and non-empty; the simulated "
                            "replica takes one string or one list of token ids.", "BadRequestError")
    return prompt, count_tokens(prompt) if prompt else 0


def check_sampling(g: Generation, payload: Mapping[str, Any]) -> None:
    """``SamplingParams._verify_args`` for the parameters the simulator honours or checks."""
    if g.n < 1:
        raise ApiError(400, f"n must be at least 1, got {g.n}.")
    if g.n > MAX_N:
        raise ApiError(400, f"n must be at most {MAX_N}, got {g.n}. To increase this limit, set the "
                            "VLLM_MAX_N_SEQUENCES environment variable.")
    for name in ("presence_penalty", "frequency_penalty"):
        value = _number(payload, name, 0.0)
        if not -2.0 <= value <= 2.0:
            raise ApiError(400, f"{name} must be in [-2, 2], got {value}.")
    t = g.temperature
    if not math.isfinite(t):
        raise _param_error(f"temperature must be a finite number, got {t}.", "temperature", t)
    if t < 0.0:
        raise _param_error(f"temperature must be non-negative, got {t}.", "temperature", t)
    if t > 2.0:
        raise _param_error(f"temperature must be in [0, 2], got {t}.", "temperature", t)
    top_p = _number(payload, "top_p", 1.0)
    if not 0.0 < top_p <= 1.0:
        raise _param_error(f"top_p must be in (0, 1], got {top_p}.", "top_p", top_p)
    if g.max_tokens is not None and g.max_tokens < 1:
        raise _param_error(f"max_tokens must be at least 1, got {g.max_tokens}.", "max_tokens", g.max_tokens)
    if g.n > 1 and t < 1e-5:
        raise ApiError(400, f"n must be 1 when using greedy sampling, got {g.n}.")


def _param_error(message: str, param: str, value: object) -> ApiError:
    return ApiError(400, f"{message} (parameter={param}, value={value})", "BadRequestError", param)


def _number(payload: Mapping[str, Any], name: str, default: float) -> float:
    value = payload.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise validation_error(name, value, "float_parsing")
    return float(value)


def _optional_int(payload: Mapping[str, Any], name: str) -> int | None:
    value = payload.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise validation_error(name, value, "int_parsing")
    return value


def _optional_str(payload: Mapping[str, Any], name: str) -> str | None:
    value = payload.get(name)
    if value is not None and not isinstance(value, str):
        raise validation_error(name, value, "string_type")
    return value


def _stop(payload: Mapping[str, Any]) -> tuple[str, ...]:
    stop = payload.get("stop")
    if stop is None:
        return ()
    if isinstance(stop, str):
        return (stop,) if stop else ()
    if isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        return tuple(s for s in stop if s)
    raise validation_error("stop", stop, "string_type")


def check_context(g: Generation, max_model_len: int) -> None:
    """A prompt longer than the context is refused; one that fills it leaves no token to generate."""
    if g.prompt_tokens > max_model_len:
        raise _param_error(
            f"This model's maximum context length is {max_model_len} tokens. However, your prompt contains "
            f"{g.prompt_tokens} input tokens, which exceeds this limit even without any output tokens. "
            "Please reduce the length of the input prompt.", "input_tokens", g.prompt_tokens)
    if g.prompt_tokens == max_model_len:
        raise _param_error("max_tokens must be at least 1, got 0.", "max_tokens", 0)


# ---------------------------------------------------------------- outputs


@dataclass(frozen=True)
class Choice:
    """What one choice will generate: its text, piece by piece (one piece per token)."""

    index: int
    pieces: tuple[str, ...]
    finish_reason: str
    stop_reason: str | None

    @property
    def tokens(self) -> int:
        return len(self.pieces)

    @property
    def text(self) -> str:
        return "".join(self.pieces)


def plan_choice(g: Generation, index: int, max_model_len: int, rng: random.Random | None = None) -> Choice:
    """The tokens of choice ``index``: up to the limit, the natural end or the first stop string."""
    room = max_model_len - g.prompt_tokens
    if g.max_tokens is not None:
        limit, natural = min(g.max_tokens, room), False
    elif g.chat:
        length = natural_reply_tokens(g, index, rng)
        limit, natural = min(length, room), room >= length
    else:
        limit, natural = min(COMPLETION_DEFAULT_MAX_TOKENS, room), False
    pieces = _words(g, index, limit, rng)
    stopped = _cut_at_stop(pieces, g.stop)
    if stopped is not None:
        return Choice(index, stopped[0], "stop", stopped[1])
    return Choice(index, tuple(pieces), "stop" if natural else "length", None)


def natural_reply_tokens(g: Generation, index: int, rng: random.Random | None = None) -> int:
    """Where a chat reply without ``max_tokens`` ends: deterministic for greedy and seeded requests."""
    if g.temperature < 1e-5:
        source = random.Random(f"reply-length:{zlib.crc32(g.prompt.encode())}")
    elif g.seed is not None:
        source = random.Random(f"reply-length:{g.seed}:{index}")
    else:
        source = rng or random.Random()
    return lengths.draw(source, NATURAL_REPLY_TOKENS, lengths.OUTPUT_SIGMA)


def _words(g: Generation, index: int, count: int, rng: random.Random | None) -> list[str]:
    if g.temperature < 1e-5:
        source = random.Random(zlib.crc32(g.prompt.encode()))
    elif g.seed is not None:
        source = random.Random(g.seed * 1000 + index)
    else:
        source = rng or random.Random()
    return [" " + source.choice(WORDS) for _ in range(count)]


def _cut_at_stop(pieces: Sequence[str], stop: Sequence[str]) -> tuple[tuple[str, ...], str] | None:
    """Pieces up to the token that completes the first stop string, the text ending before it."""
    if not stop:
        return None
    text = "".join(pieces)
    found = [(text.find(s), s) for s in stop if s in text]
    if not found:
        return None
    at, string = min(found)
    end = at + len(string)
    kept: list[str] = []
    length = 0
    for piece in pieces:
        if length >= end:
            break
        kept.append(piece[:max(0, at - length)])
        length += len(piece)
    return tuple(kept), string


def prefix_hashes(prompt: str, block_tokens: int) -> list[int]:
    """Chained hashes of the prompt's whole blocks (``block_tokens`` tokens each), for prefix caching."""
    size = block_tokens * CHARS_PER_TOKEN
    hashes: list[int] = []
    value = 0
    for start in range(0, len(prompt) - size + 1, size):
        value = zlib.crc32(prompt[start:start + size].encode(), value)
        hashes.append(value)
    return hashes


# ---------------------------------------------------------------- replies

VLLM_VERSION = "0.33.0"
SYSTEM_FINGERPRINT = f"vllm-{VLLM_VERSION}-llmstack-sim"


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens + completion_tokens,
            "completion_tokens": completion_tokens}


@dataclass(frozen=True)
class Reply:
    """The envelope of one reply: ``id``, ``object``, ``created`` and ``model`` as vLLM writes them."""

    id: str
    model: str
    created: int
    chat: bool

    def _head(self, stream: bool) -> dict[str, object]:
        kind = ("chat.completion.chunk" if stream else "chat.completion") if self.chat else "text_completion"
        return {"id": self.id, "object": kind, "created": self.created, "model": self.model}

    def response(self, choices: Sequence[Choice], prompt_tokens: int) -> dict[str, object]:
        """The whole (non-streamed) reply."""
        body = self._head(stream=False)
        body["choices"] = [self._final_choice(c) for c in choices]
        body["system_fingerprint"] = SYSTEM_FINGERPRINT
        body["usage"] = {**usage(prompt_tokens, sum(c.tokens for c in choices)), "prompt_tokens_details": None}
        return body

    def _final_choice(self, c: Choice) -> dict[str, object]:
        common = {"logprobs": None, "finish_reason": c.finish_reason, "stop_reason": c.stop_reason}
        if self.chat:
            return {"index": c.index, "message": {"role": "assistant", "content": c.text, "refusal": None,
                                                  "reasoning": None}, **common}
        return {"index": c.index, "text": c.text, **common}

    def role_chunk(self, index: int) -> dict[str, object]:
        """A chat stream's first chunk per choice."""
        return {**self._head(stream=True), "choices": [
            {"index": index, "delta": {"role": "assistant", "content": ""}, "logprobs": None,
             "finish_reason": None}]}

    def content_chunk(self, index: int, text: str, finished: Choice | None = None) -> dict[str, object]:
        """One chunk of new text; ``finished`` on the last one carries the finish reason."""
        choice: dict[str, object] = {"index": index}
        choice.update({"delta": {"content": text}} if self.chat else {"text": text})
        choice["logprobs"] = None
        choice["finish_reason"] = None if finished is None else finished.finish_reason
        if finished is not None or not self.chat:
            choice["stop_reason"] = None if finished is None else finished.stop_reason
        return {**self._head(stream=True), "choices": [choice]}

    def usage_chunk(self, prompt_tokens: int, completion_tokens: int) -> dict[str, object]:
        """The stream's last chunk with ``stream_options.include_usage``."""
        return {**self._head(stream=True), "choices": [], "usage": usage(prompt_tokens, completion_tokens),
                "system_fingerprint": SYSTEM_FINGERPRINT}
