"""The codebase stays ruff-clean and mypy-clean (the standards are checked, not hoped for)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_clean() -> None:
    paths = ["llmstack", "tests", "infra", "policies", "examples", "benchmarks"]
    result = subprocess.run([sys.executable, "-m", "ruff", "check", *paths],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_clean() -> None:
    result = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_layers_contract_kept() -> None:
    """``lint-imports`` (import-linter) checks the layers contract of pyproject.toml: nothing imports upward."""
    tool = Path(sys.executable).parent / "lint-imports"
    command = [str(tool)] if tool.exists() else [sys.executable, "-m", "importlinter.cli"]
    result = subprocess.run([*command, "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"Contracts: [1-9][0-9]* kept, 0 broken", result.stdout), result.stdout
