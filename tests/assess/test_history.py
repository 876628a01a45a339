"""History windows to load levels (pure), the range-query parser, and the CLI's refusals without a server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from llmstack.assess import profiling
from llmstack.errors import LlmstackError, MetricsError
from llmstack.metrics import history
from llmstack.metrics.reading import parse_matrix_answer
from tests.conftest import EXAMPLE_SPEC


def window(end: float, in_flight: float, tokens_per_s: float = 100.0, requests: float = 3.0) -> history.Window:
    return history.Window(end_s=end, seconds=10.0, in_flight=in_flight, running=in_flight,
                          generation_tokens=tokens_per_s * 10, prompt_tokens=256 * requests,
                          output_tokens=32 * requests, requests=requests, ttft_sum=0.1 * requests,
                          ttft_count=requests, itl_sum=0.06 * tokens_per_s * 10, itl_count=tokens_per_s * 10)


def test_windows_group_into_levels_and_one_window_levels_are_dropped() -> None:
    windows = [window(t, 0.0, 0.0) for t in (10, 20)]  # idle
    windows += [window(t, 1.02) for t in (30, 40, 50)]
    windows += [window(60, 2.6)]  # the load changing mid-window
    windows += [window(t, 3.9 + 0.1 * (t % 20 == 0)) for t in (70, 80, 90)]
    grouping = history.group_levels(windows)
    assert [lv.concurrency for lv in grouping.levels] == [1, 4]
    assert grouping.thin_levels == [3]
    assert grouping.idle_windows == 2 and grouping.busy_windows == 7
    four = grouping.levels[1].observation()
    assert four.output_tokens_per_s == pytest.approx(100.0)
    assert four.ttft_mean_s == pytest.approx(0.1) and four.tpot_mean_s == pytest.approx(0.06)
    assert four.prompt_tokens == pytest.approx(256) and four.output_tokens == pytest.approx(32)


@pytest.mark.parametrize(("in_flight", "level"), [(0.6, 1), (7.4, 7), (8.4, 8), (9.6, 10), (16.5, 16), (31, 32)])
def test_levels_are_whole_requests_then_quarter_octaves(in_flight: float, level: int) -> None:
    assert history.level_of(in_flight) == level


def test_thin_history_message_says_what_it_had_and_what_a_fit_needs() -> None:
    grouping = history.group_levels([window(t, 2.0) for t in (10, 20, 30)] + [window(40, 6.0)])
    with pytest.raises(LlmstackError) as caught:
        profiling.check_enough(grouping, 12, "chat", "the last 2m", 10.0)
    text = str(caught.value)
    assert "12 windows of 10 s, 4 with traffic, 1 usable load level(s) (requests in flight: 2; too short or " \
           "incomplete: 6); a fit needs at least 3 levels of at least 2 windows each" in text
    assert caught.value.path == "--write-profile"


def test_matrix_answers_parse_and_anything_else_is_a_metrics_error() -> None:
    body = {"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"deployment": "chat"}, "values": [[100, "1.5"], [110, "NaN"]]}]}}
    [series] = parse_matrix_answer(body, "here")
    assert series.labels == {"deployment": "chat"} and series.points[0] == (100.0, 1.5)
    with pytest.raises(MetricsError, match="not a matrix"):
        parse_matrix_answer({"status": "success", "data": {"resultType": "vector", "result": []}}, "here")


@pytest.mark.parametrize(("args", "message"), [
    (["--write-profile", "p.yaml"], "--write-profile: a profile is fitted from Prometheus history"),
    (["--prometheus", "http://127.0.0.1:9", "--spec", str(EXAMPLE_SPEC), "--level-step", "0s",
      "--write-profile", "p.yaml"], "--level-step: '0s' is not a Prometheus duration"),
    (["--prometheus", "http://127.0.0.1:9", "--spec", str(EXAMPLE_SPEC), "--write-profile", "p.yaml"],
     "--deployment: the spec has"),
])
def test_write_profile_refusals_are_one_line(args: list[str], message: str, tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "llmstack", "assess", *args], capture_output=True, text=True,
                            timeout=60, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "p.yaml").exists()


def test_held_out_levels_do_not_count_towards_the_levels_a_fit_needs() -> None:
    grouping = history.group_levels([window(t, c) for c in (1.0, 2.0, 4.0) for t in (10 * c, 10 * c + 5)])
    profiling.check_enough(grouping, 6, "chat", "the last 1m", 10.0)
    with pytest.raises(LlmstackError, match=r"3 usable load level.*1 of them held out; a fit needs at least 3"):
        profiling.check_enough(grouping, 6, "chat", "the last 1m", 10.0, holdout=[2])


def test_a_range_beyond_prometheus_resolution_names_a_step_that_fits() -> None:
    with pytest.raises(LlmstackError, match="at most 11,000 points") as caught:
        profiling.check_span(0.0, 14 * 86400.0, 60.0)
    assert caught.value.hint == "use --level-step 110s or more"
