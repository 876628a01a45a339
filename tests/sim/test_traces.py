"""Trace readers, slicing, rate scaling and synthetic generators; bad rows rejected with their line."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmstack.errors import LlmstackError
from llmstack.sim import traces

DATA = Path(__file__).resolve().parents[1] / "data" / "sim"
BURSTGPT_HEADER = "Timestamp,Session ID,Elapsed time,Model,Request tokens,Response tokens,Total tokens,Log Type\n"


def test_builtin_azure_conv_reads_every_row_sorted_from_zero() -> None:
    trace = traces.load_trace("azure-conv")
    assert len(trace.requests) == 19366
    assert trace.requests[0].arrival_s == 0.0
    assert 3400 < trace.duration_s < 3600
    assert trace.requests[0].prompt_tokens == 374 and trace.requests[0].output_tokens == 44
    assert all(a.arrival_s <= b.arrival_s for a, b in zip(trace.requests, trace.requests[1:], strict=False))


def test_mooncake_slice_keeps_hash_ids_and_converts_ms() -> None:
    trace = traces.load_trace(DATA / "mooncake_conversation_300.jsonl")
    assert len(trace.requests) == 300
    assert trace.requests[-1].arrival_s == pytest.approx(102.0)
    assert trace.requests[0].hash_ids is not None and trace.requests[0].hash_ids[0] == 0


def test_burstgpt_csv_read_from_its_readme_schema(tmp_path: Path) -> None:
    path = tmp_path / "burst.csv"
    path.write_text(BURSTGPT_HEADER + "5,1,2.0,ChatGPT,100,20,120,Conversation log\n"
                    "7.5,2,1.0,GPT-4,300,40,340,API log\n")
    trace = traces.load_trace(path)
    assert [(r.arrival_s, r.prompt_tokens, r.output_tokens) for r in trace.requests] == [(0.0, 100, 20),
                                                                                         (2.5, 300, 40)]


@pytest.mark.parametrize(("row", "why"), [
    pytest.param("2023-11-16 18:15:50.0,-5,10", "negative", id="negative-tokens"),
    pytest.param("2023-11-16 18:15:50.0,5", "columns", id="missing-column"),
    pytest.param("2023-11-16 18:15:40.0,5,10", "earlier", id="unsorted"),
    pytest.param("yesterday,5,10", "TIMESTAMP", id="bad-time"),
])
def test_bad_azure_row_rejected_with_line_number(tmp_path: Path, row: str, why: str) -> None:
    path = tmp_path / "t.csv"
    path.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,374,44\n"
                    f"{row}\n2023-11-16 18:15:59.0,1,1\n")
    with pytest.raises(LlmstackError, match=f"line 3: .*{why}"):
        traces.load_trace(path)
    skipped = traces.load_trace(path, skip_bad_rows=True)
    assert skipped.skipped_rows == 1
    assert len(skipped.requests) == 2


def test_bad_mooncake_line_skipped_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text('{"timestamp": 0, "input_length": 10, "output_length": 2, "hash_ids": [1]}\n'
                    '{"timestamp": 5, "input_length": 10}\n'
                    '{"timestamp": 9, "input_length": 10, "output_length": 3, "hash_ids": [1, 2]}\n')
    with pytest.raises(LlmstackError, match="line 2: missing 'output_length'"):
        traces.load_trace(path)
    assert traces.load_trace(path, skip_bad_rows=True).skipped_rows == 1


def test_slice_shifts_to_zero_and_keeps_only_the_window() -> None:
    trace = traces.load_trace("azure-conv")
    sliced = traces.slice_trace(trace, *traces.parse_slice("10m..40m"))
    assert sliced.requests[0].arrival_s >= 0
    assert sliced.duration_s < 1800
    assert len(sliced.requests) == sum(1 for r in trace.requests if 600 <= r.arrival_s < 2400)


@pytest.mark.parametrize("text", ["40m..10m", "10m", "abc..5m"])
def test_bad_slice_rejected(text: str) -> None:
    with pytest.raises(LlmstackError):
        traces.parse_slice(text)


@pytest.mark.parametrize("factor", [0.5, 2.0, 1.3])
def test_rate_scale_multiplies_requests_and_keeps_duration(factor: float) -> None:
    trace = traces.slice_trace(traces.load_trace("azure-conv"), 0, 600)
    scaled = traces.scale_rate(trace, factor, seed=1)
    assert len(scaled.requests) == pytest.approx(factor * len(trace.requests), rel=0.08)
    assert scaled.duration_s == pytest.approx(trace.duration_s, abs=10)
    assert traces.scale_rate(trace, factor, seed=1) == scaled


def test_synthetic_generators_are_seeded_and_shaped() -> None:
    a = traces.load_trace("poisson:rate=5,duration=10m,seed=3")
    assert a == traces.load_trace("poisson:rate=5,duration=10m,seed=3")
    assert len(a.requests) == pytest.approx(3000, rel=0.1)
    bursty = traces.bursts(1.0, 1200, burst=10, every_s=600, length_s=60, start_s=300, seed=1)
    in_burst = sum(1 for r in bursty.requests if 300 <= r.arrival_s < 360)
    before = sum(1 for r in bursty.requests if 200 <= r.arrival_s < 260)
    assert in_burst > 4 * before
    day = traces.diurnal(1.0, 3600, peak=4, period_s=3600, seed=1)
    middle = sum(1 for r in day.requests if 1500 <= r.arrival_s < 2100)
    edge = sum(1 for r in day.requests if r.arrival_s < 600)
    assert middle > 2 * edge


def test_unknown_trace_source_names_builtins() -> None:
    with pytest.raises(LlmstackError, match="azure-conv"):
        traces.load_trace("no-such-trace")
