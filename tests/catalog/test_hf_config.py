"""config.json -> architecture entry, and the catalog CLI.

Design note: each catalog architecture is written back as the config.json fields transformers
uses, converted, and compared: the shape fields must come back exactly, and the parameter
count (which config.json lacks and the converter counts from the shapes) within 1.5 % of the
published ``params_b``. The entries were not used to fit the count (it has no free
parameters), so the catalog is an out-of-sample check of it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from llmstack.catalog import accelerators, architectures
from llmstack.catalog.entries import ArchitectureSpec
from llmstack.catalog.hf_config import architecture_from_hf_config
from llmstack.errors import LlmstackError

NEW_ARCHITECTURES = ["Qwen2.5-14B", "Qwen2.5-32B", "Qwen3-32B", "Qwen3-30B-A3B", "Llama-3.3-70B", "gpt-oss-20b",
                     "gpt-oss-120b"]
NEW_ACCELERATORS = ["A100-PCIe-80GB", "H100-NVL", "L40", "RTX-6000-Ada", "MI325X"]


def hf_config(entry: ArchitectureSpec) -> dict[str, Any]:
    config: dict[str, Any] = {
        "_name_or_path": entry.hf_repo or entry.name, "num_hidden_layers": entry.num_layers,
        "hidden_size": entry.hidden_size, "num_attention_heads": entry.num_attention_heads,
        "num_key_value_heads": entry.num_kv_heads, "head_dim": entry.head_dim, "vocab_size": entry.vocab_size,
        "max_position_embeddings": entry.max_position_embeddings, "tie_word_embeddings": entry.tie_word_embeddings,
        "intermediate_size": entry.intermediate_size,
    }
    if entry.moe is not None:
        config.update(num_local_experts=entry.moe.num_experts, num_experts_per_tok=entry.moe.experts_per_token)
    return config


@pytest.mark.parametrize("name", sorted(architectures.all_architectures()))
def test_catalog_architecture_round_trips_through_its_config(name: str) -> None:
    entry = architectures.get(name)
    made = architecture_from_hf_config(hf_config(entry), name=name)
    for field in ("num_layers", "hidden_size", "num_attention_heads", "num_kv_heads", "head_dim", "vocab_size",
                  "max_position_embeddings", "intermediate_size", "tie_word_embeddings"):
        assert getattr(made, field) == getattr(entry, field), field
    assert made.params_b == pytest.approx(entry.params_b, rel=0.015)
    assert (made.moe is None) == (entry.moe is None)


def test_moe_config_field_names_of_qwen3_are_read() -> None:
    config = {"_name_or_path": "Qwen/Qwen3-30B-A3B", "num_hidden_layers": 48, "hidden_size": 2048,
              "num_attention_heads": 32, "num_key_value_heads": 4, "head_dim": 128, "intermediate_size": 6144,
              "moe_intermediate_size": 768, "num_experts": 128, "num_experts_per_tok": 8, "vocab_size": 151936,
              "max_position_embeddings": 40960}
    made = architecture_from_hf_config(config)
    assert made.name == "Qwen3-30B-A3B" and made.intermediate_size == 768
    assert made.moe is not None and (made.moe.num_experts, made.moe.experts_per_token) == (128, 8)
    assert made.params_b == pytest.approx(30.5, rel=0.01) and made.moe.active_params_b == pytest.approx(3.3, rel=0.02)


def test_config_missing_a_field_names_it() -> None:
    with pytest.raises(LlmstackError, match=r"config\.json: hidden_size"):
        architecture_from_hf_config({"num_hidden_layers": 2, "num_attention_heads": 2}, name="x")


@pytest.mark.parametrize("name", NEW_ARCHITECTURES + NEW_ACCELERATORS)
def test_new_catalog_entries_have_sources(name: str) -> None:
    entry = (accelerators.all_accelerators() | architectures.all_architectures())[name]  # type: ignore[operator]
    assert entry.source


def test_new_accelerators_state_driver_memory_in_mib_with_its_source() -> None:
    for name in NEW_ACCELERATORS:
        entry = accelerators.get(name)
        assert entry.memory_mib > 16_000 and entry.memory_source, name


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "llmstack", "catalog", *args], capture_output=True, text=True,
                          timeout=60, cwd=cwd)


def test_catalog_list_json_holds_both_catalogs() -> None:
    result = _cli("list", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert {a["name"] for a in data["accelerators"]} >= set(NEW_ACCELERATORS)
    assert {a["name"] for a in data["architectures"]} >= set(NEW_ARCHITECTURES)


def test_catalog_show_from_hf_config_prints_an_entry_the_spec_accepts(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(hf_config(architectures.get("Qwen3-8B"))))
    result = _cli("show", "--from-hf-config", str(path), "--name", "my-qwen", "--json")
    assert result.returncode == 0, result.stderr
    entry = ArchitectureSpec.model_validate(json.loads(result.stdout))
    assert entry.name == "my-qwen" and entry.num_layers == 36


def test_catalog_show_unknown_name_is_one_line_exit_2() -> None:
    result = _cli("show", "H100-SXM-81GB")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["error: NAME: no catalog entry 'H100-SXM-81GB' (hint: see "
                                                  "`llmstack catalog list`)"]
