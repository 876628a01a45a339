"""Shared output helpers: JSON for machines, rich tables for people."""

from __future__ import annotations

import json
import math
import sys
from typing import Any

from rich.console import Console

console = Console(width=None if sys.stdout.isatty() else 200)
"""People get their terminal's width; pipes and logs get wide tables instead of folded ones."""


def clean(value: Any) -> Any:
    """``value`` with NaN/Inf replaced by None, so it serialises as strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value


def print_json(data: Any) -> None:
    """Strict JSON on stdout (NaN/Inf become null), no rich markup."""
    print(json.dumps(clean(data), indent=2, sort_keys=False, allow_nan=False))
