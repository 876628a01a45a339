"""The demo's summary numbers and plot, from a hand-made timeline."""

from __future__ import annotations

import pytest

from llmstack.demo import report
from llmstack.demo.load_process import Outcome
from llmstack.demo.timeline import Point, ReplicaChange, Timeline
from llmstack.spec.models import StackSpec


def test_replica_seconds_integrates_steps() -> None:
    assert report.replica_seconds(2, [(10.0, 4), (30.0, 1)], 40.0) == pytest.approx(2 * 10 + 4 * 20 + 1 * 10)
    assert report.replica_seconds(3, [], 5.0) == pytest.approx(15.0)


def test_quantile_nearest_rank() -> None:
    assert report.quantile([5.0, 1.0, 3.0, 2.0, 4.0], 0.5) == 3.0
    assert report.quantile([1.0, 2.0], 0.95) == 2.0
    assert report.quantile([], 0.5) is None


def _timeline() -> Timeline:
    t = Timeline({"chat": 2})
    t.add_change(ReplicaChange(100.0, "chat", 2, 4, (1, 2), (), 0.1))
    t.add_change(ReplicaChange(300.0, "chat", 4, 3, (), (2,), 0.1))
    # client TTFT in wall seconds; x10 speed: 0.05 -> 0.5 s, 0.2 -> 2 s (over the 1 s SLO)
    t.add_outcomes([Outcome("chat", float(i), 200, 0.05, 1.0, None) for i in range(8)]
                   + [Outcome("chat", 9.0, 200, 0.2, 1.0, None), Outcome("chat", 10.0, 0, None, 1.0, "ConnectError")])
    t.points.extend(Point(float(s), "chat", 2, 0.5, 0.4, 0.1, 0.0, 0.9) for s in range(0, 400, 20))
    return t


def test_summary_counts_slo_scaling_and_cost(example_stack: StackSpec) -> None:
    [chat] = report.summarize(example_stack, _timeline(), speed=10.0, end_s=400.0)
    assert (chat.requests_sent, chat.requests_ok) == (10, 9)
    assert chat.slo_attainment == pytest.approx(0.8)  # 8 within 1 s of 10 sent (the failure counts against)
    assert chat.ttft_p50_s == pytest.approx(0.5)
    assert (chat.scale_outs, chat.scale_ins, chat.replicas_peak, chat.replicas_final) == (1, 1, 4, 3)
    assert chat.replica_seconds == pytest.approx(2 * 100 + 4 * 200 + 3 * 100)
    assert chat.cost == pytest.approx(chat.replica_seconds / 3600 * 0.45)  # one L4 GPU per replica


def test_targets_followed_reports_each_added_replica() -> None:
    t = _timeline()
    t.saw_targets(104.0, {"chat": {1: "unknown"}})
    t.saw_targets(106.0, {"chat": {1: "up"}})
    followed = report.targets_followed(t)
    assert followed["chat:1"] == {"added_t_s": 100.0, "seen": True, "healthy": True, "seen_after_s": 4.0}
    assert followed["chat:2"]["seen"] is False


def test_plot_written_as_png(example_stack: StackSpec, tmp_path: object) -> None:
    from pathlib import Path

    path = report.plot(example_stack, _timeline(), Path(str(tmp_path)) / "demo.png")
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_summary_table_has_total_row(example_stack: StackSpec) -> None:
    t = _timeline()
    t.initial = {"chat": 2, "reasoning": 1}
    rows = report.summarize(example_stack, t, 10.0, 400.0)
    table = report.summary_table(rows, "x")
    assert table.row_count == 3


def test_live_view_renders_rows_and_decisions(example_stack: StackSpec) -> None:
    from rich.console import Console

    from llmstack.demo import view
    from llmstack.demo.timeline import Decision

    t = _timeline()
    t.decisions.append(Decision(120.0, "chat", "applied", "2 -> 4", "ttft-slo", "ttft_p95 1.6 is 1.6x its target"))
    t.decisions.append(Decision(130.0, "reasoning", "hold", "", "", "no change [desired 1]"))
    console = Console(width=160, record=True)
    console.print(view.render(example_stack, t, elapsed_wall_s=12.0, duration_s=150.0, speed=10.0,
                              replicas={"chat": 4, "reasoning": 1}))
    text = console.export_text()
    assert "ttft_p95 1.6 is 1.6x its target" in text and "0.40 s / 1.00 s" in text and "2 -> 4" in text
    assert "[hold] no change [desired 1]" in text  # reasons are text, not rich markup
