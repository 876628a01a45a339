"""A Hugging Face ``config.json`` -> an :class:`ArchitectureSpec` catalog entry.

Reads the field names transformers uses (``num_hidden_layers``, ``num_key_value_heads``,
``head_dim``, ``moe_intermediate_size``, ``num_experts`` / ``num_local_experts`` /
``n_routed_experts``, ``num_experts_per_tok`` / ``experts_per_token``), also under
``text_config`` for multimodal checkpoints. ``config.json`` has no parameter count, so
``params_b`` is counted from the shapes (embeddings, attention, MLP or experts, norms); the
tests hold it within 1.5 % of the published counts of catalog models.
"""

from __future__ import annotations

import re
from typing import Any

from llmstack.catalog.entries import ArchitectureSpec, MoeSpec
from llmstack.errors import LlmstackError

EXPERTS_KEYS = ("num_experts", "num_local_experts", "n_routed_experts")
EXPERTS_PER_TOKEN_KEYS = ("num_experts_per_tok", "experts_per_token", "num_experts_per_token")


def architecture_from_hf_config(config: dict[str, Any], name: str | None = None,
                                source: str | None = None) -> ArchitectureSpec:
    """The catalog entry of the model ``config`` describes (``name`` defaults to its ``_name_or_path``)."""
    nested = config.get("text_config")
    text: dict[str, Any] = nested if isinstance(nested, dict) else config
    layers = _int(text, "num_hidden_layers")
    hidden = _int(text, "hidden_size")
    heads = _int(text, "num_attention_heads")
    kv_heads = int(text.get("num_key_value_heads") or heads)
    head_dim = int(text.get("head_dim") or hidden // heads)
    experts = _first(text, EXPERTS_KEYS)
    ffn = int(text.get("moe_intermediate_size") or 0) if experts else 0
    ffn = ffn or _int(text, "intermediate_size")
    tie = bool(config.get("tie_word_embeddings", text.get("tie_word_embeddings", False)))
    shape = _Shape(layers, hidden, heads, kv_heads, head_dim, ffn, _int(text, "vocab_size"), tie)
    moe = None
    if experts:
        per_token = _first(text, EXPERTS_PER_TOKEN_KEYS)
        if not per_token:
            raise LlmstackError("a MoE config needs num_experts_per_tok", path="config.json")
        shared = int(text.get("n_shared_experts") or 0)
        moe = MoeSpec(num_experts=experts, experts_per_token=per_token,
                      active_params_b=round(shape.params(per_token + shared) / 1e9, 2))
    raw_name = name or str(config.get("_name_or_path") or "").rsplit("/", 1)[-1]
    if not raw_name:
        raise LlmstackError("config.json has no _name_or_path", path="--name", hint="pass --name")
    return ArchitectureSpec(
        name=re.sub(r"[^A-Za-z0-9._/:@+-]+", "-", raw_name),
        hf_repo=config.get("_name_or_path") or None,
        params_b=round(shape.params(experts + int(text.get("n_shared_experts") or 0) if experts else 0) / 1e9, 2),
        num_layers=layers, hidden_size=hidden, num_attention_heads=heads, num_kv_heads=kv_heads, head_dim=head_dim,
        vocab_size=shape.vocab, max_position_embeddings=_int(text, "max_position_embeddings"),
        intermediate_size=ffn, tie_word_embeddings=tie, moe=moe, source=source, verified=False,
    )


class _Shape:
    def __init__(self, layers: int, hidden: int, heads: int, kv_heads: int, head_dim: int, ffn: int, vocab: int,
                 tie: bool) -> None:
        self.layers, self.hidden, self.heads, self.kv_heads = layers, hidden, heads, kv_heads
        self.head_dim, self.ffn, self.vocab, self.tie = head_dim, ffn, vocab, tie

    def params(self, experts: int) -> float:
        """Parameters with ``experts`` expert MLPs per layer (0: one dense MLP, no router)."""
        attention = 2 * self.hidden * self.heads * self.head_dim + 2 * self.hidden * self.kv_heads * self.head_dim
        mlp = 3 * self.hidden * self.ffn * max(experts, 1) + (self.hidden * experts if experts else 0)
        per_layer = attention + mlp + 2 * self.hidden
        embeddings = self.vocab * self.hidden * (1 if self.tie else 2)
        return self.layers * per_layer + embeddings + self.hidden


def _int(config: dict[str, Any], key: str) -> int:
    value = config.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise LlmstackError(f"missing or not a positive integer: {value!r}", path=f"config.json: {key}")
    return value


def _first(config: dict[str, Any], keys: tuple[str, ...]) -> int:
    for key in keys:
        if isinstance(config.get(key), int) and config[key] > 0:
            return int(config[key])
    return 0
