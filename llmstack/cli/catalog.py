"""``llmstack catalog``: the shipped accelerators and model architectures, and config.json -> entry.

``list`` prints both catalogs (or one), ``show NAME`` one entry with its sources, ``show
--from-hf-config config.json`` the architecture entry a Hugging Face config describes (paste
it into a spec's ``architecture:`` or the catalog). See docs/catalog.md for what each
accelerator family supports in vLLM (FPGAs: no vLLM backend).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from llmstack.catalog import accelerators, architectures
from llmstack.catalog.entries import AcceleratorSpec, ArchitectureSpec
from llmstack.catalog.hf_config import architecture_from_hf_config
from llmstack.cli.app import app
from llmstack.cli.output import console, print_json
from llmstack.errors import LlmstackError

catalog_app = typer.Typer(help="The accelerator and architecture catalogs (docs/catalog.md: vendors, vLLM backends).",
                          no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")
KINDS = ("accelerators", "architectures")


@catalog_app.command("list")
def list_entries(
    kind: str | None = typer.Argument(None, help="accelerators | architectures (default: both)"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Every catalog entry, one line each."""
    if kind is not None and kind not in KINDS:
        raise LlmstackError(f"unknown catalog {kind!r}", path="KIND", hint=f"use one of {list(KINDS)}")
    chosen = KINDS if kind is None else (kind,)
    if as_json:
        print_json({k: [e.model_dump(mode="json") for e in _entries(k)] for k in chosen})
        return
    for k in chosen:
        console.print(accelerator_table() if k == "accelerators" else architecture_table())


@catalog_app.command("show")
def show(
    name: str | None = typer.Argument(None, help="an accelerator or architecture name"),
    from_hf_config: Path | None = typer.Option(None, "--from-hf-config", help="a Hugging Face config.json"),
    entry_name: str | None = typer.Option(None, "--name", help="name of the entry made from --from-hf-config"),
    as_json: bool = typer.Option(False, "--json", help="print JSON only"),
) -> None:
    """One entry with its sources, or the architecture entry of a Hugging Face config.json."""
    entry = _from_hf_config(from_hf_config, entry_name) if from_hf_config is not None else _named(name)
    data = entry.model_dump(mode="json", exclude_none=True)
    if as_json:
        print_json(data)
        return
    console.print_json(json.dumps(data))


def _named(name: str | None) -> AcceleratorSpec | ArchitectureSpec:
    if name is None:
        raise LlmstackError("give a NAME or --from-hf-config FILE", path="NAME")
    if name in accelerators.all_accelerators():
        return accelerators.get(name)
    if name in architectures.all_architectures():
        return architectures.get(name)
    raise LlmstackError(f"no catalog entry {name!r}", path="NAME", hint="see `llmstack catalog list`")


def _from_hf_config(path: Path, name: str | None) -> ArchitectureSpec:
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise LlmstackError(f"cannot read {str(path)!r}: {exc.strerror}", path="--from-hf-config") from exc
    except json.JSONDecodeError as exc:
        raise LlmstackError(f"not JSON: {exc.msg} at line {exc.lineno}", path=str(path)) from exc
    if not isinstance(config, dict):
        raise LlmstackError("a config.json is a JSON object", path=str(path))
    return architecture_from_hf_config(config, name, source=f"llmstack catalog show --from-hf-config {path.name}")


def _entries(kind: str) -> list[Any]:
    catalog = accelerators.all_accelerators() if kind == "accelerators" else architectures.all_architectures()
    return list(catalog.values())


def accelerator_table() -> Table:
    table = Table(title="accelerators")
    for column in ("name", "vendor", "memory MiB", "mem GB/s", "BF16 TFLOPS", "FP8 TFLOPS", "link GB/s"):
        table.add_column(column, overflow="fold", justify="left" if column in ("name", "vendor") else "right")
    for a in accelerators.all_accelerators().values():
        table.add_row(a.name, a.vendor, str(a.memory_mib), f"{a.memory_bandwidth_gb_s:g}", f"{a.bf16_tflops:g}",
                      "-" if a.fp8_tflops is None else f"{a.fp8_tflops:g}", f"{a.interconnect_gb_s:g}")
    return table


def architecture_table() -> Table:
    table = Table(title="architectures")
    for column in ("name", "params B", "active B", "layers", "heads/KV", "context"):
        table.add_column(column, overflow="fold", justify="left" if column == "name" else "right")
    for m in architectures.all_architectures().values():
        table.add_row(m.name, f"{m.params_b:g}", f"{m.active_params_b:g}", str(m.num_layers),
                      f"{m.num_attention_heads}/{m.num_kv_heads}", str(m.max_position_embeddings))
    return table
