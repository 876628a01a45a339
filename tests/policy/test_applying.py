"""Applying through a stand-in ``pulumi`` on PATH (tests/data/policy/pulumi) that records its calls.

Design note: the stand-in reports v3.200.0 so the Automation API uses the file event log
(``--event-log FILE``) rather than its gRPC stream (CLI > 3.205), and writes a summaryEvent
there the way the real CLI does. It fails on demand (FAKE_PULUMI_FAIL) and can be slowed down
(FAKE_PULUMI_SLEEP, FAKE_PULUMI_UP_SLEEP); every call logs the text of its ``--config-file``, so
the tests see which configuration Pulumi was shown. The lock is an OS lock: tests hold it with
``stack_file.locked`` (in this process or a child) instead of racing a thread against a sleep.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from llmstack.errors import LlmstackError
from llmstack.policy import applying, stack_file
from llmstack.policy.recommendation import Recommendation, Setting
from tests.conftest import ROOT

FAKE = ROOT / "tests" / "data" / "policy" / "pulumi"
ORIGINAL = ("# the dev stack: edited by hand and by llmstack\n"
            "config:\n  llmstack:spec: examples/stack.yaml   # relative to this folder\n"
            "  llmstack:target: kubernetes\n")


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


def logged(project: Path) -> list[dict[str, object]]:
    path = project.parent / "calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def calls(project: Path) -> list[list[str]]:
    return [entry["argv"] for entry in logged(project)]  # type: ignore[misc]


def command(argv: list[str]) -> str:
    return next(a for a in argv if not a.startswith("-"))


def lock_is_free(path: Path) -> bool:
    try:
        with stack_file.locked(path):
            return True
    except LlmstackError:
        return False


def leftovers(project: Path) -> list[Path]:
    return [p for p in project.iterdir() if p.name.endswith((".tmp", ".tmp.yaml"))]


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
    assert lock_is_free(project / "Pulumi.dev.yaml") and not leftovers(project)


def test_preview_and_up_run_on_a_candidate_not_the_stack_file(project: Path) -> None:
    applying.apply([rec()], project, "dev", mode="up")
    runs = [e for e in logged(project) if command(e["argv"]) in ("preview", "up")]  # type: ignore[arg-type]
    assert [command(e["argv"]) for e in runs] == ["preview", "up"]  # type: ignore[arg-type]
    for entry in runs:
        argv = entry["argv"]
        shown = Path(argv[argv.index("--config-file") + 1])  # type: ignore[union-attr, index]
        assert shown.parent == project and shown.name != "Pulumi.dev.yaml" and shown.suffix == ".yaml"
        assert "replicas: 4" in str(entry["config"])
    assert (project / "Pulumi.dev.yaml").read_text() == str(runs[-1]["config"])


def test_stack_file_keeps_comments_and_layout(project: Path) -> None:
    applying.apply([rec(3)], project, "dev", mode="config-only")
    text = (project / "Pulumi.dev.yaml").read_text()
    assert text.startswith(ORIGINAL)
    assert text[len(ORIGINAL):] == "  llmstack:scaling:\n    chat:\n      replicas: 3\n"
    applying.apply([rec(5)], project, "dev", mode="config-only")
    assert (project / "Pulumi.dev.yaml").read_text() == text.replace("replicas: 3", "replicas: 5")


def test_previous_config_kept_when_pulumi_up_fails(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_PULUMI_FAIL", "up")
    with pytest.raises(LlmstackError, match="pulumi up failed"):
        applying.apply([rec()], project, "dev", mode="up")
    assert (project / "Pulumi.dev.yaml").read_text() == ORIGINAL
    assert lock_is_free(project / "Pulumi.dev.yaml") and not leftovers(project)


def test_dry_run_previews_and_leaves_config_unchanged(project: Path) -> None:
    result = applying.apply([rec()], project, "dev", mode="preview")
    assert result.restored and result.preview_changes["update"] == 1
    assert (project / "Pulumi.dev.yaml").read_text() == ORIGINAL
    assert not any("up" in argv for argv in calls(project))
    assert not leftovers(project)


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


def test_second_apply_refused_while_lock_held(project: Path) -> None:
    with stack_file.locked(project / "Pulumi.dev.yaml"), pytest.raises(LlmstackError, match="another apply holds"):
        applying.apply([rec(5)], project, "dev", mode="config-only")
    assert (project / "Pulumi.dev.yaml").read_text() == ORIGINAL
    applying.apply([rec(5)], project, "dev", mode="config-only")
    assert "replicas: 5" in (project / "Pulumi.dev.yaml").read_text()


def test_lock_of_a_killed_process_is_released(project: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; from llmstack.policy import stack_file\n"
         "with stack_file.locked(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(60)",
         str(project / "Pulumi.dev.yaml")], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(LlmstackError, match="another apply holds"):
            applying.apply([rec(3)], project, "dev", mode="config-only")
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    applying.apply([rec(3)], project, "dev", mode="config-only")
    assert "replicas: 3" in (project / "Pulumi.dev.yaml").read_text()


def test_leftover_temp_files_of_a_crashed_run_are_removed(project: Path) -> None:
    (project / ".Pulumi.dev.yaml.k3j4h5.tmp").write_text("x" * 2_000_000)
    (project / ".Pulumi.dev.yaml.a1b2c3.tmp.yaml").write_text("config: {llmstack:scaling: {chat: {replicas: 6}}}")
    (project / "notes.tmp").write_text("not ours")
    applying.apply([rec(3)], project, "dev", mode="config-only")
    assert [p.name for p in leftovers(project)] == ["notes.tmp"]


def test_crash_while_writing_leaves_the_stack_file_and_no_temp(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(LlmstackError, match="cannot write the stack file: No space left"):
        applying.apply([rec(3)], project, "dev", mode="config-only")
    monkeypatch.undo()
    assert (project / "Pulumi.dev.yaml").read_text() == ORIGINAL and not leftovers(project)


def test_read_only_stack_file_is_a_clear_error(project: Path) -> None:
    (project / "Pulumi.dev.yaml").chmod(0o444)
    with pytest.raises(LlmstackError, match="read-only"):
        applying.apply([rec(3)], project, "dev", mode="up")
    assert calls(project) == []


def test_immutable_stack_file_refused_before_pulumi_runs(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_open = Path.open
    monkeypatch.setattr(Path, "open", lambda self, *a, **k: (_ for _ in ()).throw(PermissionError(1, "immutable"))
                        if self.name == "Pulumi.dev.yaml" and a[:1] == ("ab",) else real_open(self, *a, **k))
    with pytest.raises(LlmstackError, match=r"Pulumi\.dev\.yaml: the stack file is read-only"):
        applying.apply([rec(3)], project, "dev", mode="up")
    assert calls(project) == [] and (project / "Pulumi.dev.yaml").read_text() == ORIGINAL


@pytest.mark.parametrize(("text", "message"), [
    pytest.param("config:\n  a: 1\n  a: 2\n", "duplicate key", id="duplicate-key"),
    pytest.param(b"config:\n  a: \xff\xfe\n", "not UTF-8", id="invalid-utf8"),
    pytest.param("config:\n  llmstack:scaling:\n    chat: {replicas: -1}\n",
                 "config.llmstack:scaling.chat.replicas", id="negative-replicas"),
    pytest.param("config:\n  llmstack:scaling:\n    chat: {replica: 3}\n", "unknown field", id="unknown-key"),
    pytest.param("- a list\n", "a mapping with a `config:` mapping", id="not-a-mapping"),
])
def test_bad_stack_file_is_one_line_naming_file_and_key(project: Path, text: str | bytes, message: str) -> None:
    path = project / "Pulumi.dev.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    before = path.read_bytes()
    with pytest.raises(LlmstackError, match=message) as info:
        applying.apply([rec(3)], project, "dev", mode="config-only")
    assert info.value.render().startswith(str(path)) and "\n" not in info.value.render()
    assert path.read_bytes() == before


def test_utf8_bom_stack_file_is_read(project: Path) -> None:
    path = project / "Pulumi.dev.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + ORIGINAL.encode())
    applying.apply([rec(3)], project, "dev", mode="config-only")
    data = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    assert data["config"]["llmstack:scaling"] == {"chat": {"replicas": 3}}
