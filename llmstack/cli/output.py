"""Shared output helpers: JSON for machines, rich tables for people."""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text


def _width() -> int | None:
    override = os.environ.get("LLMSTACK_COLUMNS", "")
    if override.isdigit() and int(override) >= 40:
        return int(override)
    return None if sys.stdout.isatty() else 200


console = Console(width=_width())
"""People get their terminal's width; pipes and logs get wide tables instead of folded ones;
``LLMSTACK_COLUMNS`` sets the width explicitly (a narrow log, the tests)."""


@dataclass(frozen=True)
class Column:
    """A table column: the header (with its unit), how much it matters, and the narrowest it may fold to."""

    header: str
    priority: int
    """Higher stays longer when the terminal is narrow."""
    min_width: int = 0
    """0: the widest cell (never folded); text columns like reasons fold down to this."""
    justify: str = "left"


def fitted_table(title: str, columns: Sequence[Column], rows: Sequence[Sequence[str]],
                 width: int) -> tuple[Table, list[str]]:
    """A table of the columns that fit in ``width`` characters unfolded (measured by rich), dropping the
    least important first; also the headers left out (for a "--json shows all" note). Headers break
    where they hold a newline ("TTFT\\np95 ms"), so their width is their longest line."""
    natural = [max([_cell_width(c.header), *(_cell_width(r[i]) for r in rows)])
               for i, c in enumerate(columns)]
    kept = list(range(len(columns)))
    measurer = Console(width=10_000)  # measure unclamped: rich clamps a measurement to the console width
    while True:
        table = Table(title=title)
        for i in kept:
            column = columns[i]
            folds = column.min_width > 0  # a text column folds within twice its minimum
            table.add_column(column.header, overflow="fold", justify=column.justify,  # type: ignore[arg-type]
                             min_width=min(column.min_width or natural[i], natural[i]),
                             max_width=2 * column.min_width if folds else None)
        for row in rows:
            table.add_row(*(row[i] for i in kept))
        if len(kept) == 1 or Measurement.get(measurer, measurer.options, table).maximum <= width:
            break
        kept.remove(min(kept, key=lambda i: (columns[i].priority, -i)))
    return table, [columns[i].header.replace("\n", " ") for i in range(len(columns)) if i not in kept]


def _cell_width(text: str) -> int:
    plain = Text.from_markup(text).plain
    return max((len(line) for line in plain.splitlines()), default=0)


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
