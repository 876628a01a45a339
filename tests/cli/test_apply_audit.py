"""``llmstack apply``'s audit: one typed entry per decision (with ``time``), written once, secrets redacted.

Design note: ``apply --config-only`` needs no Pulumi; signals come from the fake Prometheus of
test_recommend (a burst on chat), reached through a URL carrying basic-auth credentials, so the
same run checks that the password appears neither in the audit log nor in the output.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmstack.cli.app import main
from tests.cli.test_recommend import answer
from tests.conftest import EXAMPLE_SPEC, ROOT
from tests.policy.servers import FakePrometheus

KEYS = {"time", "t", "deployment", "outcome", "reason", "rule", "mode", "recommendation", "inputs"}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "Pulumi.yaml").write_text("name: llmstack\nruntime: python\n")
    (tmp_path / "Pulumi.dev.yaml").write_text(f"config:\n  llmstack:spec: {EXAMPLE_SPEC}\n")
    return tmp_path


def _entries(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_each_applied_change_is_audited_once_with_its_inputs(project: Path, capsys: pytest.CaptureFixture[str]
                                                             ) -> None:
    audit = project / "audit.jsonl"
    with FakePrometheus(answer) as fake:
        url = fake.url.replace("http://", "http://alice:s3cr3t@")
        main(["apply", "--prometheus", url, "--project-dir", str(project), "--config-only", "--json",
              "--policy", str(ROOT / "policies" / "default.yaml"), "--audit-log", str(audit)])
    printed = capsys.readouterr()
    applied = json.loads(printed.out)["recommendations"]
    entries = _entries(audit)
    assert all(set(e) == KEYS for e in entries)
    chat = [e for e in entries if e["deployment"] == "chat"]
    assert len(chat) == 1 and chat[0]["outcome"] == "applied" and chat[0]["mode"] == "config-only"
    assert chat[0]["inputs"] is not None and len(applied) == len([e for e in entries if e["outcome"] == "applied"])
    assert "s3cr3t" not in audit.read_text() + printed.out + printed.err


def test_approved_file_is_audited_once_per_recommendation(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with FakePrometheus(answer) as fake:
        main(["recommend", "--prometheus", fake.url, "--project-dir", str(project), "--json",
              "--policy", str(ROOT / "policies" / "default.yaml"), "--audit-log", str(project / "seen.jsonl")])
    approval = project / "approved.json"
    approval.write_text(capsys.readouterr().out)
    audit = project / "audit.jsonl"
    main(["apply", "--approve-file", str(approval), "--project-dir", str(project), "--config-only",
          "--audit-log", str(audit)])
    entries = _entries(audit)
    assert len(entries) == len(json.loads(approval.read_text())) >= 1
    assert all(set(e) == KEYS and e["outcome"] == "applied" and e["mode"] == "config-only" for e in entries)
