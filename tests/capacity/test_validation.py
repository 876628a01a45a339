"""The validation table (benchmarks/validation) guards the capacity model against published vLLM numbers.

Design note: the committed results.json holds the medians of |predicted / measured - 1| per kind,
separately for tuning and held-out rows. Re-running the model must not make any of them worse;
improving one means re-running validate.py and committing the new table.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

VALIDATION = Path(__file__).resolve().parents[2] / "benchmarks" / "validation"


def _validate_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("validate", VALIDATION / "validate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["validate"] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def table() -> tuple[ModuleType, list, dict]:
    module = _validate_module()
    comparisons, summary = module.run()
    return module, comparisons, summary


def test_no_median_regressed_past_the_committed_table(table: tuple[ModuleType, list, dict]) -> None:
    module, _, summary = table
    committed = json.loads((VALIDATION / "results.json").read_text())
    assert module.regressions(summary, committed) == []


def test_table_covers_the_required_breadth(table: tuple[ModuleType, list, dict]) -> None:
    module, comparisons, _ = table
    rows, _ = module.load()
    assert len(rows) >= 15
    assert {r["set"] for r in rows} == {"tuning", "holdout"}
    assert all(r["url"].startswith("https://") for r in rows)
    vendors = {r["accelerator"] for r in rows}
    assert "MI300X" in vendors and "H100-SXM-80GB" in vendors and "RTX-4090" in vendors
    assert {int(r.get("tensor_parallel", 1)) for r in rows} >= {1, 2, 4, 8}
    assert {c.kind for c in comparisons} == set(module.KINDS)


def test_every_fit_verdict_is_right(table: tuple[ModuleType, list, dict]) -> None:
    _, comparisons, _ = table
    wrong = [c.row for c in comparisons if c.kind == "fits" and c.error != 0]
    assert wrong == []


def test_every_kv_row_names_the_vllm_release_line_of_its_start_up_profile(
        table: tuple[ModuleType, list, dict]) -> None:
    # KV sizes depend on what the version's profile counts (sampler path, logits rows, CUDA graphs): a row
    # without vllm_profile would silently be compared with today's vLLM
    from llmstack.capacity import memory

    module, _, _ = table
    rows, _ = module.load()
    kv_rows = [r for r in rows if {"kv_cache_tokens", "fits"} & set(r["measured"])]
    assert kv_rows and all(r.get("vllm_profile") in memory.VLLM_PROFILES for r in kv_rows), \
        [r["id"] for r in kv_rows if r.get("vllm_profile") not in memory.VLLM_PROFILES]
