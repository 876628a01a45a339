"""Model architecture catalog: layers, heads, head dim, vocab, parameters, MoE."""

from __future__ import annotations

from functools import cache

from llmstack.catalog.entries import ArchitectureSpec
from llmstack.catalog.loading import data_file, unknown_name_error


@cache
def all_architectures() -> dict[str, ArchitectureSpec]:
    return {e["name"]: ArchitectureSpec(**e) for e in data_file("architectures.json")["architectures"]}


def get(name: str, path: str | None = None) -> ArchitectureSpec:
    """The catalog entry ``name``; unknown names raise with the close matches."""
    catalog = all_architectures()
    if name in catalog:
        return catalog[name]
    raise unknown_name_error("architecture", name, list(catalog), path)
