"""The tiny Llama-style model the real CPU vLLM engine serves in tests and the demo, built offline.

No weights are downloaded: vLLM serves it with ``--load-format dummy`` (random weights), so the
model directory holds only what vLLM and transformers read before loading weights:

- ``config.json``: ``LlamaForCausalLM``, hidden 256, intermediate 512, 2 layers, 4 heads, 4 KV
  heads, head_dim 64, vocabulary 2048, 2048 positions (:data:`MODEL_CONFIG`);
- ``tokenizer.json``: a byte-level BPE tokenizer trained with the ``tokenizers`` library on the
  text shipped in ``llmstack/engine/data/corpus.txt``, its vocabulary filled up to exactly
  :data:`VOCAB_SIZE` ids so every id the random weights can produce decodes;
- ``tokenizer_config.json`` with a Llama-3-style chat template, and ``generation_config.json``.

The directory is built once into a cache folder named by a hash of the definition and the
corpus (:func:`ensure_tiny_model`); a half-built directory is never visible (built aside, then
renamed). Called by :mod:`llmstack.engine.launcher`'s callers: the engine tests and
``llmstack demo --engine vllm``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

VOCAB_SIZE = 2048
BOS, EOS, START_HEADER, END_HEADER, EOT = ("<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
                                           "<|end_header_id|>", "<|eot_id|>")
SPECIAL_TOKENS = (BOS, EOS, START_HEADER, END_HEADER, EOT)
"""Ids 0-4, in this order."""
FORMAT_VERSION = 1
"""Bump when the files written change, so old cache entries are not reused."""

MODEL_CONFIG: dict[str, Any] = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 256,
    "intermediate_size": 512,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
    "head_dim": 64,
    "vocab_size": VOCAB_SIZE,
    "max_position_embeddings": 2048,
    "hidden_act": "silu",
    "rms_norm_eps": 1e-5,
    "rope_theta": 10000.0,
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
    "bos_token_id": SPECIAL_TOKENS.index(BOS),
    "eos_token_id": SPECIAL_TOKENS.index(EOT),
}

CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] + '<|eot_id|>' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)


def corpus_text() -> str:
    """The shipped training text (README and Apache-2.0 license; see the file's header)."""
    return resources.files("llmstack.engine").joinpath("data/corpus.txt").read_text(encoding="utf-8")


def default_cache_dir() -> Path:
    """``$LLMSTACK_CACHE_DIR``, else ``$XDG_CACHE_HOME/llmstack``, else ``~/.cache/llmstack``."""
    explicit = os.environ.get("LLMSTACK_CACHE_DIR")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "llmstack"


def definition_hash() -> str:
    """Names the cache entry: the config, the template, the special tokens and the corpus."""
    definition = json.dumps({"config": MODEL_CONFIG, "template": CHAT_TEMPLATE, "special": SPECIAL_TOKENS,
                             "format": FORMAT_VERSION}, sort_keys=True)
    return hashlib.sha256((definition + corpus_text()).encode()).hexdigest()[:12]


def train_tokenizer(text: str, vocab_size: int = VOCAB_SIZE) -> Any:
    """A byte-level BPE ``tokenizers.Tokenizer`` with exactly ``vocab_size`` ids."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator(text.splitlines(), trainer=trainer)
    missing = vocab_size - tokenizer.get_vocab_size()
    if missing > 0:  # a small corpus runs out of merges: reserved tokens fill the rest, as Llama 3's do
        tokenizer.add_tokens([f"<|reserved_{i}|>" for i in range(missing)])
    return tokenizer


def tokenizer_config() -> dict[str, Any]:
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": BOS,
        "eos_token": EOT,
        "pad_token": EOS,
        "model_max_length": MODEL_CONFIG["max_position_embeddings"],
        "clean_up_tokenization_spaces": False,
        "chat_template": CHAT_TEMPLATE,
    }


def generation_config() -> dict[str, Any]:
    return {"bos_token_id": MODEL_CONFIG["bos_token_id"], "eos_token_id": MODEL_CONFIG["eos_token_id"]}


def write_model(folder: Path) -> None:
    """Write the four files of the tiny model into ``folder`` (which exists)."""
    train_tokenizer(corpus_text()).save(str(folder / "tokenizer.json"))
    for name, data in (("config.json", MODEL_CONFIG), ("tokenizer_config.json", tokenizer_config()),
                       ("generation_config.json", generation_config())):
        (folder / name).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def ensure_tiny_model(cache_dir: Path | None = None) -> Path:
    """The tiny model's directory, built on first use (a few seconds) and reused after."""
    root = cache_dir or default_cache_dir()
    target = root / f"tiny-llama-{definition_hash()}"
    if (target / "tokenizer.json").is_file():
        return target
    root.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".tiny-llama-", dir=root))
    try:
        write_model(scratch)
        try:
            scratch.rename(target)
        except OSError:  # another process built it first: keep theirs
            if not (target / "tokenizer.json").is_file():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target
