"""What llmstack writes does not depend on the process: two processes with different hash seeds agree byte for byte.

Set and dict iteration over strings follows ``PYTHONHASHSEED``; a renderer or simulator that
leaned on it would agree with itself inside one process and still differ between two runs.
So each check runs the CLI twice, in fresh interpreters with different seeds, and compares.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_SPEC, ROOT

SEEDS = ("1", "2")


def _run(args: list[str], seed: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    result = subprocess.run([sys.executable, "-m", "llmstack", *args], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_the_seeds_differ() -> None:
    """The check below means something: string hashes (and so set order) differ between the two seeds."""
    probe = ["-c", "print(hash('llmstack'))"]
    hashes = {subprocess.run([sys.executable, *probe], env={**os.environ, "PYTHONHASHSEED": seed},
                             capture_output=True, text=True, check=True).stdout for seed in SEEDS}
    assert len(hashes) == 2


@pytest.mark.parametrize("target", ["artifacts", "kubernetes"])
def test_render_is_byte_identical_across_processes(target: str, tmp_path: Path) -> None:
    trees = []
    for seed in SEEDS:
        out = tmp_path / seed
        _run(["render", "--spec", str(EXAMPLE_SPEC), "--target", target, "--out", str(out)], seed)
        trees.append(_tree(out))
    assert trees[0] and trees[0].keys() == trees[1].keys()
    assert [name for name in trees[0] if trees[0][name] != trees[1][name]] == []


def test_simulation_is_identical_across_processes() -> None:
    args = ["simulate", "--spec", str(EXAMPLE_SPEC), "--deployment", "chat", "--trace", "azure-conv",
            "--slice", "0m..8m", "--compare", "hpa,saturation,policy:policies/default.yaml", "--json"]
    outputs = [_run(args, seed).stdout for seed in SEEDS]
    assert '"slo_attainment"' in outputs[0] and outputs[0] == outputs[1]
