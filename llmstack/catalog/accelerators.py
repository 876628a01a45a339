"""Accelerator catalog: memory, bandwidth, throughput and compute capability per GPU type."""

from __future__ import annotations

from functools import cache

from llmstack.catalog.entries import AcceleratorSpec
from llmstack.catalog.loading import data_file, unknown_name_error


@cache
def all_accelerators() -> dict[str, AcceleratorSpec]:
    return {e["name"]: AcceleratorSpec(**e) for e in data_file("accelerators.json")["accelerators"]}


def get(name: str, path: str | None = None) -> AcceleratorSpec:
    """The catalog entry ``name``; unknown names raise with the close matches."""
    catalog = all_accelerators()
    if name in catalog:
        return catalog[name]
    raise unknown_name_error("accelerator", name, list(catalog), path)
