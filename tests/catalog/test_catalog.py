"""The shipped catalogs: complete entries, close-match errors, inline definitions win."""

from __future__ import annotations

import pytest

from llmstack.catalog import accelerators, architectures
from llmstack.errors import LlmstackError
from llmstack.spec import resolving
from tests.conftest import make_stack


def test_catalogs_have_sources_and_known_values() -> None:
    accel = accelerators.all_accelerators()
    arch = architectures.all_architectures()
    assert len(accel) >= 14 and len(arch) >= 14
    assert all(a.source for a in accel.values()) and all(m.source for m in arch.values())
    h100 = accel["H100-SXM-80GB"]
    assert (h100.memory_mib, h100.memory_bandwidth_gb_s, h100.compute_capability) == (81559, 3350, "9.0")
    llama = arch["Llama-3.1-8B"]
    assert (llama.num_layers, llama.num_kv_heads, llama.head_dim) == (32, 8, 128)
    assert arch["Mixtral-8x7B-v0.1"].moe is not None
    assert arch["Llama-3.2-3B"].tie_word_embeddings


def test_unknown_accelerator_suggests_close_matches() -> None:
    with pytest.raises(LlmstackError) as info:
        accelerators.get("H100-SXM", path="pools[gpu].accelerator")
    assert "H100-SXM-80GB" in (info.value.hint or "")
    assert info.value.path == "pools[gpu].accelerator"


def test_unknown_architecture_suggests_close_matches() -> None:
    with pytest.raises(LlmstackError) as info:
        architectures.get("llama-3.1-8b")
    assert "Llama-3.1-8B" in (info.value.hint or "")


def test_inline_accelerator_and_architecture_are_used() -> None:
    stack = make_stack(
        pool_spec={"name": "gpu", "gpus_per_node": 4, "cost_per_gpu_hour": 1.0,
                   "accelerator": {"name": "V100-SXM2-32GB", "memory_gb": 32, "memory_bandwidth_gb_s": 900,
                                   "bf16_tflops": 125, "compute_capability": "7.0"}},
        model_spec={"name": "m", "variants": [{"name": "bf16", "weights": "org/tiny"}],
                    "architecture": {"name": "Tiny", "params_b": 0.5, "num_layers": 4, "hidden_size": 512,
                                     "num_attention_heads": 8, "num_kv_heads": 8, "head_dim": 64,
                                     "vocab_size": 1000, "max_position_embeddings": 2048,
                                     "intermediate_size": 1024}},
    )
    r = resolving.resolve(stack, stack.deployments[0])
    assert r.accelerator.name == "V100-SXM2-32GB"
    assert r.architecture.name == "Tiny"
