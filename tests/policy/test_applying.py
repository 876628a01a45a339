"""Applying through a stand-in ``pulumi`` on PATH (tests/data/policy/pulumi) that records its calls.

Design note: the stand-in reports v3.200.0 so the Automation API uses the file event log
(``--event-log FILE``) rather than its gRPC stream (CLI > 3.205), and writes a summaryEvent
there the way the real CLI does. It fails on demand (FAKE_PULUMI_FAIL) and can be slowed down
(FAKE_PULUMI_SLEEP). The lock test holds the lock from another process with a handshake, not a timed window.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from llmstack.errors import LlmstackError
from llmstack.policy import applying
from llmstack.policy.recommendation import Recommendation, Setting
from tests.conftest import ROOT

FAKE = ROOT / "tests" / "data" / "policy" / "pulumi"
ORIGINAL = "config:\n  llmstack:spec: examples/stack.yaml\n  llmstack:target: kubernetes\n"


def rec(replicas: int = 4) -> Recommendation:
    cur = Setting(2, "awq", "l4", 1)
    return Recommendation("chat", "horizontal", cur, cur.with_(replicas=replicas), "ttft-slo", "slo",
                          {"ttft_p95": 2.4}, "1m", 1.0, "TTFT p95 2.4 s is 3x its target")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shutil.copy(FAKE, bin_dir / "pulumi")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_PULUMI_LOG", str(tmp_path / "calls.jsonl"))
    monkeypatch.delenv("FAKE_PULUMI_FAIL", raising=False)
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "Pulumi.yaml").write_text("name: llmstack\nruntime: python\n")
    (proj / "Pulumi.dev.yaml").write_text(ORIGINAL)
    return proj


def calls(project: Path) -> list[list[str]]:
    return [json.loads(line)["argv"] for line in (project.parent / "calls.jsonl").read_text().splitlines()]


def test_up_writes_structured_scaling_and_runs_preview_then_up(project: Path) -> None:
    result = applying.apply([rec()], project, "dev", mode="up")
    data = yaml.safe_load((project / "Pulumi.dev.yaml").read_text())
    assert data["config"]["llmstack:scaling"] == {"chat": {"replicas": 4}}
    assert data["config"]["llmstack:spec"] == "examples/stack.yaml"
    assert result.preview_changes == {"update": 1, "same": 7} and result.up_changes == {"update": 1, "same": 7}
    commands = [[a for a in argv if not a.startswith("-")][:2] for argv in calls(project)]
    firsts = [c[0] for c in commands]
    assert firsts.index("preview") < firsts.index("up")
    assert ["stack", "select"] in commands
    assert not list(project.glob(".*.lock"))


def test_previous_config_restored_when_pulumi_up_fails(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_PULUMI_FAIL", "up")
    with pytest.raises(LlmstackError, match="pulumi up failed"):
        applying.apply([rec()], project, "dev", mode="up")
    assert (project / "Pulumi.dev.yaml").read_text() == ORIGINAL
    assert not list(project.glob(".*.lock"))


def test_dry_run_previews_and_leaves_config_unchanged(project: Path) -> None:
    result = applying.apply([rec()], project, "dev", mode="preview")
    assert result.restored and result.preview_changes["update"] == 1
    assert (project / "Pulumi.dev.yaml").read_text() == ORIGINAL
    assert not any("up" in argv for argv in calls(project))


def test_config_only_works_without_pulumi(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    result = applying.apply([rec(3)], project, "dev", mode="config-only")
    assert result.changed
    assert yaml.safe_load((project / "Pulumi.dev.yaml").read_text())["config"]["llmstack:scaling"]["chat"] == {
        "replicas": 3}


def test_missing_pulumi_cli_gives_install_hint(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(LlmstackError, match="not on PATH") as info:
        applying.apply([rec()], project, "dev", mode="preview")
    assert "get.pulumi.com" in (info.value.hint or "")
    assert (project / "Pulumi.dev.yaml").read_text() == ORIGINAL


HOLD_LOCK = """
import sys
from pathlib import Path
from llmstack.policy import applying
with applying.locked(Path(sys.argv[1])):
    print("held", flush=True)
    sys.stdin.readline()
"""
"""Another process holding the stack file's lock until told (stdin) to let go: a handshake, no sleeps."""


def test_second_apply_refused_while_lock_held(project: Path) -> None:
    stack_file = project / "Pulumi.dev.yaml"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(stack_file)], cwd=ROOT, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(LlmstackError, match=f"pid {holder.pid}"):
            applying.apply([rec(5)], project, "dev", mode="config-only")
        assert stack_file.read_text() == ORIGINAL
    finally:
        holder.communicate("go\n", timeout=30)
    assert holder.returncode == 0
    applying.apply([rec(5)], project, "dev", mode="config-only")  # the lock is free again
    assert yaml.safe_load(stack_file.read_text())["config"]["llmstack:scaling"] == {"chat": {"replicas": 5}}


def test_stale_lock_of_dead_process_is_taken_over(project: Path) -> None:
    (project / ".Pulumi.dev.yaml.lock").write_text("999999999")
    applying.apply([rec(3)], project, "dev", mode="config-only")
    assert "llmstack:scaling" in (project / "Pulumi.dev.yaml").read_text()
