"""``llmstack simulate`` end to end through the console entry point (short slices keep it fast)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_SPEC, ROOT

KEYS = {"slo_attainment", "gpu_hours", "ttft_p95_s", "tpot_p95_s", "scale_events", "cost", "rejected_over_context"}


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "llmstack", *args], capture_output=True, text=True, timeout=120)


def simulate(*args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("simulate", "--spec", str(EXAMPLE_SPEC), "--deployment", "chat", *args)


def test_simulate_json_has_score_keys() -> None:
    result = simulate("--trace", "azure-conv", "--slice", "10m..13m", "--autoscaler", "static:4", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) >= KEYS
    assert 0 < data["slo_attainment"] <= 1
    assert data["gpu_hours"] > 0.15  # 4 replicas for a bit over 3 minutes


def test_simulate_compare_prints_table_and_plot(tmp_path: Path) -> None:
    plot = tmp_path / "run.png"
    result = simulate("--trace", "azure-code", "--slice", "0..4m", "--compare", "static,keda,saturation",
                      "--plot", str(plot))
    assert result.returncode == 0, result.stderr
    for name in ("static", "keda", "saturation", "in SLO", "GPU-h"):
        assert name in result.stdout
    assert plot.read_bytes().startswith(b"\x89PNG")


def test_simulate_reports_bad_row_with_line(tmp_path: Path) -> None:
    trace = tmp_path / "bad.csv"
    trace.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:00:00.0,10,5\n"
                     "2023-11-16 18:00:01.0,-3,5\n2023-11-16 18:00:02.0,10,5\n")
    result = simulate("--trace", str(trace), "--autoscaler", "static:1", "--json")
    assert result.returncode == 2
    error = json.loads(result.stdout)["error"]  # --json: the error is JSON too
    assert error["file"] == str(trace) and "line 3" in error["message"] and "negative" in error["message"]
    skipped = simulate("--trace", str(trace), "--autoscaler", "static:1", "--json", "--skip-bad-rows")
    assert skipped.returncode == 0, skipped.stderr
    assert json.loads(skipped.stdout)["skipped_rows"] == 1


def test_simulate_reports_over_context_requests(tmp_path: Path) -> None:
    trace = tmp_path / "long.csv"
    trace.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:00:00.0,10,5\n"
                     "2023-11-16 18:00:01.0,9000,5\n")
    result = simulate("--trace", str(trace), "--autoscaler", "static:1")
    assert result.returncode == 0, result.stderr
    assert "1 request(s) longer than the model's context" in result.stdout


def test_simulate_unknown_autoscaler_is_one_line_error() -> None:
    result = simulate("--trace", "azure-conv", "--slice", "0..1m", "--autoscaler", "magic")
    assert result.returncode == 2
    assert "unknown autoscaler" in result.stderr and "Traceback" not in result.stderr


def test_simulate_reports_dropped_cold_starts_and_held_ttft_for_scale_to_zero() -> None:
    spec = str(ROOT / "benchmarks" / "specs" / "scale-to-zero.yaml")
    args = ("simulate", "--spec", spec, "--deployment", "assistant", "--autoscaler", "policy:policies/default.yaml",
            "--trace", "gaps:rate=0.5,on=5m,off=15m,duration=40m,seed=2")
    result = run_cli(*args, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["dropped"] == 0 and data["cold_starts"] >= 2
    assert data["held_requests"] > 0 and data["held_ttft_p95_s"] >= data["held_ttft_p50_s"] > 30
    assert data["held_max_s"] < data["hold_timeout_s"] == pytest.approx(1.5 * 109.08, abs=1)  # 1.5x its start-up
    text = run_cli(*args)
    assert text.returncode == 0, text.stderr
    assert "cold starts" in text.stdout and "held TTFT p95" in text.stdout and "dropped" in text.stdout


def test_simulate_json_reports_a_policy_variant_move(tmp_path: Path) -> None:
    """The example's chat capped at 2 replicas under 3 req/s: the policy switches variant, and says so."""
    spec = tmp_path / "stack.yaml"
    spec.write_text(EXAMPLE_SPEC.read_text(encoding="utf-8").replace("replicas: {min: 1, max: 8, initial: 2}",
                                                                     "replicas: {min: 1, max: 2, initial: 1}"),
                    encoding="utf-8")
    result = run_cli("simulate", "--spec", str(spec), "--deployment", "chat", "--trace", "poisson:rate=3,duration=12m",
                     "--autoscaler", f"policy:{ROOT / 'policies' / 'default.yaml'}", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    move = data["moves"][0]
    assert set(move) == {"t", "from", "to", "rule", "why", "done_s"}
    assert move["from"] == "awq@l4 TP1" and move["rule"] == "variant-pressure" and "at max 2" in move["why"]
    assert set(data["gpu_hours_by_shape"]) == {"awq@l4 TP1", move["to"]}
    assert sum(data["gpu_hours_by_shape"].values()) == pytest.approx(data["gpu_hours"])
