"""``llmstack watch --json``: one strict JSON object per cycle, warnings included."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import EXAMPLE_SPEC
from tests.servers import free_port


def test_watch_json_lines_report_refused_cycles(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "llmstack", "watch", "--prometheus", f"http://127.0.0.1:{free_port()}",
         "--spec", str(EXAMPLE_SPEC), "--cycles", "2", "--interval", "1", "--json",
         "--audit-log", str(tmp_path / "audit.jsonl"), "--state-file", str(tmp_path / "state.json")],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 2
    assert all(line["recommendations"] == [] and not line["applied"] for line in lines)
    assert any("unreachable" in w for w in lines[0]["warnings"])
    audit = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert {entry["outcome"] for entry in audit} == {"refused"}
