"""Reads the JSON catalogs from package data (cached: they never change at run time)."""

from __future__ import annotations

import difflib
import json
from functools import cache
from importlib import resources
from typing import Any

from llmstack.errors import LlmstackError


@cache
def data_file(name: str) -> Any:
    """Parsed JSON of ``llmstack/catalog/data/<name>``."""
    text = resources.files("llmstack.catalog").joinpath("data", name).read_text(encoding="utf-8")
    return json.loads(text)


def unknown_name_error(what: str, name: str, known: list[str], path: str | None) -> LlmstackError:
    """An error naming the close matches (case-insensitive) of an unknown catalog name."""
    lowered = {k.lower(): k for k in known}
    close = [lowered[m] for m in difflib.get_close_matches(name.lower(), list(lowered), n=3, cutoff=0.4)]
    hint = f"did you mean {', '.join(close)}?" if close else f"known: {', '.join(sorted(known))}"
    return LlmstackError(f"unknown {what} {name!r}", path=path, hint=hint + " Or define it inline.")
