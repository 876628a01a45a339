"""The audit log: one JSON line per entry, appended, NaN written as null, torn last lines tolerated on read."""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path

import pytest

from llmstack.errors import LlmstackError
from llmstack.policy import audit
from llmstack.policy.audit import AuditEntry, AuditLog


def test_entries_append_as_json_lines_in_order(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "logs" / "audit.jsonl")
    assert log.append([AuditEntry(1, "chat", "recommended", "r"), AuditEntry(2, "chat", "applied", "a")]) == 2
    assert log.append([]) == 0
    odd = {"values": {"ttft_p95": math.nan, "queue": [math.inf, 1]}}
    assert log.append([AuditEntry(3, "chat", "refused", "NaN", inputs=odd)]) == 1
    lines = (tmp_path / "logs" / "audit.jsonl").read_text().splitlines()
    assert [json.loads(line)["t"] for line in lines] == [1, 2, 3]
    assert json.loads(lines[2])["inputs"]["values"] == {"queue": [None, 1], "ttft_p95": None}
    assert [e["outcome"] for e in audit.read(log.path)] == ["recommended", "applied", "refused"]
    assert json.loads(lines[0])["time"] == "1970-01-01T00:00:01+00:00"
    assert set(json.loads(lines[0])) == {"time", "t", "deployment", "outcome", "reason", "rule", "mode",
                                         "recommendation", "inputs"}


def test_credentials_in_any_audited_text_are_redacted(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    log.append([AuditEntry(1, "chat", "refused", "Prometheus at http://alice:s3cr3t@prom:9090 is unreachable")])
    text = (tmp_path / "audit.jsonl").read_text()
    assert "s3cr3t" not in text and "alice" not in text and "http://***@prom:9090" in text


def test_concurrent_writers_never_interleave_inside_a_line(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    reason = "x" * 5000

    def write(worker: int) -> None:
        for i in range(50):
            log.append([AuditEntry(i, f"worker-{worker}", "skipped", reason)])

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    entries = list(audit.read(log.path))
    assert len(entries) == 200 and all(e["reason"] == reason for e in entries)


def test_read_skips_a_torn_last_line_but_not_a_broken_middle_one(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_text('{"t": 1}\n{"t": 2')  # a writer killed mid-line
    assert list(audit.read(path)) == [{"t": 1}]
    path.write_text('{"t": 1}\nnot json\n{"t": 3}\n')
    with pytest.raises(LlmstackError, match="line 2 is not JSON"):
        list(audit.read(path))
    with pytest.raises(LlmstackError, match="does not exist"):
        list(audit.read(tmp_path / "missing.jsonl"))
