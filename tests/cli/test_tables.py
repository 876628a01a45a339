"""Tables fit the terminal: ``plan`` in 100 columns keeps the columns that matter and says what it left out.

Design note: the CLI takes the terminal's width, or ``LLMSTACK_COLUMNS`` (set here); the test counts
characters (box-drawing ones are one each), not bytes.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from llmstack.cli.output import Column, fitted_table
from tests.conftest import EXAMPLE_SPEC


def _plan(columns: int) -> str:
    env = {**os.environ, "LLMSTACK_COLUMNS": str(columns)}
    result = subprocess.run([sys.executable, "-m", "llmstack", "plan", "--spec", str(EXAMPLE_SPEC), "--rps", "3"],
                            capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("columns", [80, 100, 120])
def test_plan_fits_the_terminal_width(columns: int) -> None:
    out = _plan(columns)
    assert max(len(line) for line in out.splitlines()) <= columns
    for header in ("deployment", "variant", "pool", "fits", "replicas", "$/h"):
        assert header in out
    assert "not shown at" in out and "--json" in out


def test_plan_shows_every_column_when_wide() -> None:
    out = _plan(260)
    assert "not shown at" not in out
    assert "GiB/GPU" in out and "out tok" in out and "why" in out


def test_fitted_table_drops_lowest_priority_first() -> None:
    columns = [Column("name", 3), Column("detail", 1), Column("cost $/h", 2)]
    _, dropped = fitted_table("t", columns, [["a" * 20, "b" * 30, "1.00"]], width=40)
    assert dropped == ["detail"]
