"""``llmstack plan`` end to end through the console entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import EXAMPLE_SPEC

FIELDS = {"fits", "weights_gib_per_gpu", "kv_cache_gib_per_gpu", "max_concurrent_seqs", "decode_tokens_per_s",
          "replicas_needed", "cost_per_hour", "reason"}


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "llmstack", *args], capture_output=True, text=True, timeout=120)


def test_plan_json_is_valid_with_fields() -> None:
    result = run_cli("plan", "--spec", str(EXAMPLE_SPEC), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert isinstance(data, list) and data
    for item in data:
        assert set(item) >= FIELDS
    assert any(item["fits"] for item in data) and any(not item["fits"] for item in data)


def test_plan_table_for_people() -> None:
    result = run_cli("plan", "--spec", str(EXAMPLE_SPEC), "--declared-only", "--rps", "3")
    assert result.returncode == 0, result.stderr
    assert "chat" in result.stdout and "reasoning" in result.stdout


def test_user_error_is_one_line_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(EXAMPLE_SPEC.read_text().replace("tensor_parallel: 4", "tensor_parallel: 3"))
    result = run_cli("plan", "--spec", str(bad), "--declared-only")
    # plan runs the checks render runs: a declared TP that cannot run is an error, not a table row
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and f"{bad}: deployments[reasoning].tensor_parallel: 3 does not divide 64 " \
        "attention heads" in result.stderr
    as_json = run_cli("plan", "--spec", str(bad), "--json")
    assert as_json.returncode == 2 and not as_json.stderr
    error = json.loads(as_json.stdout)["error"]
    assert error["kind"] == "spec" and error["file"] == str(bad)
    assert error["path"] == "deployments[reasoning].tensor_parallel"


def test_unknown_accelerator_exit_2_with_close_match(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(EXAMPLE_SPEC.read_text().replace("accelerator: L4", "accelerator: L40X"))  # L40 is in the catalog
    result = run_cli("plan", "--spec", str(bad))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "pools[l4].accelerator: unknown accelerator 'L40X'" in result.stderr
    assert "L40S" in result.stderr


def test_yaml_error_exit_2_names_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\npools: [\n")
    result = run_cli("plan", "--spec", str(bad))
    assert result.returncode == 2
    assert f"{bad}:3" in result.stderr


def test_usage_error_exit_2_without_traceback() -> None:
    result = run_cli("plan", "--spec", str(EXAMPLE_SPEC), "unexpected-argument")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "unexpected extra argument" in result.stderr


LOAD_FIELDS = {"kv_cache_tokens", "max_concurrency", "output_tokens_per_s", "ttft_mean_s", "ttft_p95_s",
               "tpot_mean_s", "declared", "fits", "load"}


def test_plan_at_concurrency_reports_vllm_numbers_for_one_deployment() -> None:
    result = run_cli("plan", "--spec", str(EXAMPLE_SPEC), "--deployment", "reasoning", "--concurrency", "16",
                     "--prompt-tokens", "1024", "--output-tokens", "256", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert {o["deployment"] for o in data} == {"reasoning"}
    declared = next(o for o in data if o["declared"])
    assert set(declared) >= LOAD_FIELDS
    assert declared["load"].startswith("concurrency=")
    assert declared["kv_cache_tokens"] > 0 and declared["max_concurrency"] > 0
    assert 0 < declared["ttft_mean_s"] <= declared["ttft_p95_s"]
    assert declared["output_tokens_per_s"] > 0 and declared["tpot_mean_s"] > 0


def test_more_clients_raise_ttft_and_throughput() -> None:
    def declared(clients: int) -> dict[str, float]:
        out = run_cli("plan", "--spec", str(EXAMPLE_SPEC), "--deployment", "reasoning", "--declared-only",
                      "--concurrency", str(clients), "--json")
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)[0]

    one, many = declared(1), declared(32)
    assert many["output_tokens_per_s"] > 5 * one["output_tokens_per_s"]
    assert many["ttft_mean_s"] > one["ttft_mean_s"]


def test_rps_and_concurrency_together_is_one_line_exit_2() -> None:
    result = run_cli("plan", "--spec", str(EXAMPLE_SPEC), "--rps", "2", "--concurrency", "4")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "--rps and --concurrency" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
