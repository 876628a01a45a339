"""The codebase stays ruff-clean and mypy-clean (the standards are checked, not hoped for)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_clean() -> None:
    paths = ["llmstack", "tests", "infra", "policies", "examples", "benchmarks", "provider", "scripts"]
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


MAX_FUNCTION_LINES = 60

LONG_FUNCTIONS_ALLOWED = {
    # TEMPORARY: functions other engineers are rewriting in their own branches; the lead removes each
    # entry when its owner's branch lands (then the owner's version must fit in MAX_FUNCTION_LINES).
    "llmstack/sim/engine.py:Engine.start",  # issue-12 (engine step-time model)
    "llmstack/targets/kubernetes/observability.py:plain_prometheus",  # issue-16 (Kubernetes target)
}
"""``path:function`` allowed over :data:`MAX_FUNCTION_LINES` for now (see the comment inside)."""


def _function_lengths() -> dict[str, int]:
    """``path:qualified name`` -> lines (``def`` through the last line of the body) of every function in llmstack/."""
    lengths: dict[str, int] = {}
    for path in sorted((ROOT / "llmstack").rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()

        def visit(node: ast.AST, prefix: str, relative: str = relative) -> None:
            for child in ast.iter_child_nodes(node):
                name = prefix
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    name = f"{prefix}.{child.name}" if prefix else child.name
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    assert child.end_lineno is not None
                    lengths[f"{relative}:{name}"] = child.end_lineno - child.lineno + 1
                visit(child, name)

        visit(ast.parse(path.read_text(encoding="utf-8")), "")
    return lengths


def test_no_function_over_60_lines() -> None:
    lengths = _function_lengths()
    too_long = {name: n for name, n in lengths.items()
                if n > MAX_FUNCTION_LINES and name.rsplit(".", 1)[0] not in LONG_FUNCTIONS_ALLOWED
                and name not in LONG_FUNCTIONS_ALLOWED}
    assert not too_long, f"functions over {MAX_FUNCTION_LINES} lines (split them into named steps): {too_long}"
    stale = {name for name in LONG_FUNCTIONS_ALLOWED if lengths.get(name, 0) <= MAX_FUNCTION_LINES}
    assert not stale, f"allowlisted but now short enough (or gone): remove {sorted(stale)} from the allowlist"
