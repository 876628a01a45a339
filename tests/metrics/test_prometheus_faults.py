"""Prometheus fault injection: every malformed or failed answer refuses the cycle, never kills ``watch``.

Design note: a fake Prometheus on 127.0.0.1 (:class:`tests.policy.servers.FakePrometheus`)
answers every query with one fault mode: HTTP errors, bodies that are not the documented JSON,
vectors with broken items, timeouts, dropped connections. For each mode the reader must raise
:class:`MetricsError` with one line naming the (redacted) URL, and ``loop.watch`` must run all
its cycles, each refused and audited (``refused``, reason ``metrics unavailable: ...``), with no
recommendation. The modes include the three that killed ``watch`` before (success without
``data``, 200 with ``status: error``, ``result: null``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmstack.metrics.reading import MetricsError, PrometheusReader
from llmstack.policy import loop
from llmstack.policy.audit import AuditLog
from llmstack.policy.rules import load_policy
from llmstack.policy.state import ScalingState
from llmstack.spec.loading import load_spec
from tests.conftest import EXAMPLE_SPEC, ROOT
from tests.policy.servers import FakePrometheus, Reply, free_port

NOW = time.time()


def _vector(result: Any) -> dict[str, Any]:
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


def _item(value: Any = None, metric: Any = None, **extra: Any) -> dict[str, Any]:
    out = {"metric": {"deployment": "chat"} if metric is None else metric, "value": value or [NOW, "1"]}
    out.update(extra)
    return out


FAULTS: dict[str, Reply] = {
    "success-without-data": Reply({"status": "success"}),
    "200-status-error": Reply({"status": "error", "errorType": "bad_data", "error": "parse error at char 3"}),
    "result-null": Reply(_vector(None)),
    "data-null": Reply({"status": "success", "data": None}),
    "data-list": Reply({"status": "success", "data": []}),
    "result-type-matrix": Reply({"status": "success", "data": {"resultType": "matrix", "result": []}}),
    "result-type-scalar": Reply({"status": "success", "data": {"resultType": "scalar", "result": [NOW, "1"]}}),
    "result-a-dict": Reply(_vector({"a": 1})),
    "status-missing": Reply({"data": {"resultType": "vector", "result": []}}),
    "body-a-list": Reply([1, 2]),
    "body-a-string": Reply("ok"),
    "body-null": Reply(None),
    "non-json-html": Reply(b"<html>502 Bad Gateway</html>", content_type="text/html"),
    "empty-body": Reply(b""),
    "truncated-json": Reply(b'{"status": "success", "data": {"resultT'),
    "invalid-utf8": Reply(b'{"status": "\xff\xfe"}'),
    "deeply-nested-json": Reply(b"[" * 100_000 + b"]" * 100_000),
    "http-500-text": Reply(b"internal error", status=500, content_type="text/plain"),
    "http-503-json": Reply({"status": "error", "errorType": "unavailable", "error": "TSDB not ready"}, status=503),
    "http-422-json": Reply({"status": "error", "errorType": "execution", "error": "too many samples"}, status=422),
    "http-400": Reply({"status": "error", "errorType": "bad_data", "error": "invalid parameter"}, status=400),
    "http-404": Reply(b"404 page not found", status=404, content_type="text/plain"),
    "http-302-redirect": Reply(b"", status=302),
    "item-without-value": Reply(_vector([{"metric": {"deployment": "chat"}}])),
    "item-value-not-a-pair": Reply(_vector([_item(value=[NOW])])),
    "item-value-three": Reply(_vector([_item(value=[NOW, "1", "2"])])),
    "item-value-a-string": Reply(_vector([_item(value="1")])),
    "item-value-not-a-number": Reply(_vector([_item(value=[NOW, "abc"])])),
    "item-value-a-json-number": Reply(_vector([_item(value=[NOW, 1.5])])),
    "item-timestamp-nan": Reply(_vector([_item(value=["NaN", "1"])])),
    "item-timestamp-null": Reply(_vector([_item(value=[None, "1"])])),
    "item-metric-a-list": Reply(_vector([_item(metric=["chat"])])),
    "item-label-not-a-string": Reply(_vector([_item(metric={"deployment": 3})])),
    "item-a-string": Reply(_vector(["chat"])),
    "item-null": Reply(_vector([None])),
    "connection-dropped": Reply(None, drop=True),
}


@pytest.fixture(scope="module")
def faulty() -> Iterator[tuple[FakePrometheus, dict[str, str]]]:
    """One fake Prometheus for the module; ``mode["now"]`` picks the fault it answers with."""
    mode = {"now": "success-without-data"}
    with FakePrometheus(lambda expr: FAULTS[mode["now"]]) as fake:
        yield fake, mode


@pytest.mark.parametrize("mode", list(FAULTS))
def test_fault_refuses_the_cycle_and_watch_goes_on(mode: str, faulty: tuple[FakePrometheus, dict[str, str]],
                                                   tmp_path: Path) -> None:
    fake, current = faulty
    current["now"] = mode
    stack = load_spec(EXAMPLE_SPEC)
    policy = load_policy(ROOT / "policies" / "default.yaml")
    audit = AuditLog(tmp_path / "audit.jsonl")
    cycles: list[loop.CycleResult] = []
    with pytest.raises(MetricsError) as info:
        PrometheusReader(fake.url, timeout_s=2).query("up")
    assert "\n" not in info.value.render() and fake.url in info.value.render()
    loop.watch(PrometheusReader(fake.url, timeout_s=2), stack, policy, interval_s=0.0, cycles=3,
               audit=audit, on_cycle=cycles.append, sleep=lambda s: None)
    assert len(cycles) == 3
    assert all(not c.recommendations and not c.applied for c in cycles)
    assert all(any("metrics read failed" in w for w in c.warnings) for c in cycles)
    entries = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert len(entries) == 3 * len(stack.deployments)
    assert all(e["outcome"] == "refused" and "metrics unavailable" in e["reason"] for e in entries)


def test_timeout_refuses_the_cycle(tmp_path: Path) -> None:
    with FakePrometheus(lambda expr: [], delay_s=1.0) as fake:
        with pytest.raises(MetricsError, match=r"did not answer within 0\.3 s"):
            PrometheusReader(fake.url, timeout_s=0.3).query("up")
        result, _ = loop.run_once(PrometheusReader(fake.url, timeout_s=0.3), load_spec(EXAMPLE_SPEC),
                                  load_policy(ROOT / "policies" / "default.yaml"), ScalingState(), NOW)
    assert not result.recommendations and "did not answer" in result.warnings[0]


def test_unreachable_refuses_the_cycle() -> None:
    with pytest.raises(MetricsError, match="unreachable"):
        PrometheusReader(f"http://127.0.0.1:{free_port()}", timeout_s=1).query("up")


def test_credentials_in_the_url_are_sent_but_never_shown(tmp_path: Path) -> None:
    with FakePrometheus(lambda expr: FAULTS["http-503-json"]) as fake:
        url = fake.url.replace("http://", "http://alice:s3cr3t@")
        reader = PrometheusReader(url, timeout_s=2)
        with pytest.raises(MetricsError) as info:
            reader.query("up")
        loop.run_once(reader, load_spec(EXAMPLE_SPEC), load_policy(ROOT / "policies" / "default.yaml"),
                      ScalingState(), NOW, audit=AuditLog(tmp_path / "audit.jsonl"))
    assert fake.requests[0][1]["Authorization"].startswith("Basic ")
    assert "s3cr3t" not in info.value.render() and "alice" not in info.value.render()
    assert "***@127.0.0.1" in info.value.render()
    assert "s3cr3t" not in (tmp_path / "audit.jsonl").read_text()
