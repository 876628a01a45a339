"""Kill ``llmstack apply`` at random points; the stack file must be as before or as approved.

Design note: each run is the real CLI (``python -m llmstack apply --approve-file``) in its own
process group, with the stand-in ``pulumi`` slowed down (preview and up each sleep) so that
kills land before Pulumi starts, during ``preview``, during ``up`` and around the final write.
The group gets SIGKILL or SIGTERM (Pulumi dies with the CLI, as on a crashed machine) after a
delay drawn uniformly over a whole run's length (seeded; the seed is in the test id). After
each kill: the stack file is byte-identical to before, or (``--yes`` only) to the approved
change; then an in-process apply must get the lock at once and leave no temporary file.
``LLMSTACK_KILL_CASES`` raises the number of kills per mode (default 6).
Two more runs kill the process exactly at the write: inside ``os.replace`` and just before it.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llmstack.policy import applying
from llmstack.policy.context import load_context
from llmstack.policy.recommendation import Recommendation
from tests.conftest import ROOT
from tests.policy.test_applying import FAKE, ORIGINAL, leftovers, lock_is_free

CASES = int(os.environ.get("LLMSTACK_KILL_CASES", "6"))
SEED = 15


@pytest.fixture
def project(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shutil.copy(FAKE, bin_dir / "pulumi")
    proj = tmp_path / "proj"
    (proj / "examples").mkdir(parents=True)
    shutil.copy(ROOT / "examples" / "stack.yaml", proj / "examples" / "stack.yaml")
    (proj / "Pulumi.yaml").write_text("name: llmstack\nruntime: python\n")
    (proj / "Pulumi.dev.yaml").write_text(ORIGINAL)
    ctx = load_context(None, "dev", proj)
    cur = ctx.current["chat"]
    approved = Recommendation("chat", "horizontal", cur, cur.with_(replicas=cur.replicas + 4), "ttft-slo", "slo",
                              {"ttft_p95": 2.4}, "1m", 1.0, "TTFT p95 2.4 s is 3x its target")
    (tmp_path / "approved.json").write_text(json.dumps([approved.to_json()]))
    return proj


def _env(project: Path) -> dict[str, str]:
    return {**os.environ, "PATH": f"{project.parent / 'bin'}{os.pathsep}{os.environ['PATH']}",
            "FAKE_PULUMI_LOG": str(project.parent / "calls.jsonl"), "FAKE_PULUMI_SLEEP": "0.5",
            "FAKE_PULUMI_UP_SLEEP": "0.5", "PYTHONPATH": str(ROOT)}


def _argv(project: Path, yes: bool, prelude: str = "") -> list[str]:
    args = ["apply", "--approve-file", str(project.parent / "approved.json"), "--project-dir", str(project),
            "--audit-log", str(project.parent / "audit.jsonl"), "--json", *(["--yes"] if yes else [])]
    code = f"{prelude}\nimport sys\nfrom llmstack.cli.app import main\nmain(sys.argv[1:])"
    return [sys.executable, "-c", code, *args]


def _start(project: Path, yes: bool, prelude: str = "") -> subprocess.Popen[bytes]:
    return subprocess.Popen(_argv(project, yes, prelude), env=_env(project), cwd=project, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _approved_text(project: Path, tmp_path: Path) -> tuple[bytes, float]:
    """A whole ``--yes`` run on a copy: the approved file, and how long a run takes."""
    copy = tmp_path / "proj"
    shutil.copytree(project, copy)
    shutil.copytree(project.parent / "bin", tmp_path / "bin")
    shutil.copy(project.parent / "approved.json", tmp_path / "approved.json")
    started = time.monotonic()
    proc = _start(copy, yes=True)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    return (copy / "Pulumi.dev.yaml").read_bytes(), time.monotonic() - started


def _check_after(project: Path, allowed: set[bytes], what: str) -> None:
    assert (project / "Pulumi.dev.yaml").read_bytes() in allowed, what
    assert lock_is_free(project / "Pulumi.dev.yaml"), what
    applying.apply([], project, "dev", mode="config-only")  # the next run recovers: lock free, temps gone
    assert not leftovers(project), what


@pytest.mark.parametrize("yes", [pytest.param(False, id="dry-run"), pytest.param(True, id="apply-yes")])
def test_kill_at_random_points_leaves_stack_file_before_or_approved(project: Path, tmp_path: Path,
                                                                    yes: bool) -> None:
    before = (project / "Pulumi.dev.yaml").read_bytes()
    approved, run_s = _approved_text(project, tmp_path / "reference")
    assert approved != before
    allowed = {before, approved} if yes else {before}
    rng = random.Random(SEED + yes)
    outcomes: list[str] = []
    for case in range(CASES):
        sig = signal.SIGKILL if case % 2 else signal.SIGTERM
        delay = rng.uniform(0.0, 1.2 * run_s)
        proc = _start(project, yes)
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, sig)
        proc.wait(timeout=60)
        state = "approved" if (project / "Pulumi.dev.yaml").read_bytes() == approved else "before"
        outcomes.append(f"{sig.name}@{delay:.2f}s rc={proc.returncode} -> {state}")
        _check_after(project, allowed, outcomes[-1])
        (project / "Pulumi.dev.yaml").write_bytes(before)
    print("\n".join(outcomes))
    assert len(outcomes) == CASES


@pytest.mark.parametrize("where", ["os.replace", "os.fsync"])
def test_kill_at_the_write_leaves_stack_file_before(project: Path, where: str) -> None:
    before = (project / "Pulumi.dev.yaml").read_bytes()
    prelude = (f"import os, signal\nmodule, name = {where!r}.split('.')\n"
               "setattr(os, name, lambda *a: os.kill(os.getpid(), signal.SIGKILL))")
    proc = _start(project, yes=True, prelude=prelude)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert (project / "Pulumi.dev.yaml").read_bytes() == before
    assert leftovers(project)  # a crashed run leaves its temporary files ...
    _check_after(project, {before}, where)  # ... and the next run removes them
