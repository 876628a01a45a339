"""``llmstack calibrate`` against simulated replicas (fast tier) and its one-line errors.

Design note: the simulated replica runs the capacity model's own step times behind a real HTTP
server on 127.0.0.1, so a calibration against it must recover terms that predict the levels it
held out of the fit; the engine tier repeats this against the real CPU vLLM engine.
"""

from __future__ import annotations

import http.server
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from llmstack.capacity import profile as calibration
from llmstack.metrics import calibration as calibrating
from llmstack.sim.server import LiveFleet
from llmstack.spec.loading import load_spec
from llmstack.spec.resolving import resolve

SPEC = {
    "name": "cal",
    "pools": [{"name": "gpu", "accelerator": "L4", "gpus_per_node": 1, "cost_per_gpu_hour": 0.5}],
    "models": [{"name": "m", "architecture": "Llama-3.2-1B",
                "variants": [{"name": "bf16", "weights": "meta-llama/Llama-3.2-1B"}]}],
    "deployments": [{"name": "chat", "model": "m", "variant": "bf16", "pool": "gpu",
                     "engine": {"max_model_len": 4096}}],
}


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "llmstack", *args], capture_output=True, text=True, timeout=300)


@pytest.fixture
def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "stack.yaml"
    path.write_text(yaml.safe_dump(SPEC))
    return path


@pytest.fixture
def simulated(spec_file: Path) -> Iterator[str]:
    # half speed: the simulated latencies stay large next to the scheduling noise of a busy 2-core host
    fleet = LiveFleet(load_spec(spec_file), "chat", replicas=1, port_base=0, time_factor=0.5)
    port = fleet.start()[0]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        fleet.stop()


def test_calibration_predicts_held_out_levels_of_a_simulated_replica(spec_file: Path, simulated: str,
                                                                    tmp_path: Path) -> None:
    stack = load_spec(spec_file)
    resolved = resolve(stack, stack.deployments[0])
    result = calibrating.calibrate(simulated, "m", resolved, [1, 2, 4, 8], [2], 8, 256, 16)
    held = [lv for lv in result.levels if not lv.used_in_fit]
    assert [lv.concurrency for lv in held] == [2]
    for level in held:
        assert level.fitted_output_tokens_per_s == pytest.approx(level.measured_output_tokens_per_s, rel=0.2)
        assert level.fitted_tpot_mean_s == pytest.approx(level.measured_tpot_mean_s, rel=0.3)
    assert result.kv_cache_tokens and result.kv_cache_tokens > 0
    out = tmp_path / "profile.yaml"
    out.write_text(calibration.to_yaml(result))
    assert calibration.from_yaml(out.read_text(), str(out)) == result


def test_plan_uses_a_named_profile_and_says_so(spec_file: Path, simulated: str, tmp_path: Path) -> None:
    out = tmp_path / "profile.yaml"
    result = run_cli("calibrate", "--endpoint", simulated, "--model", "m", "--spec", str(spec_file),
                     "--deployment", "chat", "--concurrency", "1,2,4", "--prompt-tokens", "128",
                     "--output-tokens", "8", "--requests", "4", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "held out" in result.stdout and out.exists()
    data = yaml.safe_load(spec_file.read_text())
    data["deployments"][0]["profile"] = out.name
    spec_file.write_text(yaml.safe_dump(data))
    plan = run_cli("plan", "--spec", str(spec_file), "--declared-only")
    assert plan.returncode == 0, plan.stderr
    assert f"speed from calibrated profile {out.resolve()}" in plan.stdout.replace("\n", "")


@pytest.mark.parametrize(("key", "named"), [
    ({"architecture": "Llama-3.1-8B", "accelerator": "L4"}, "architecture 'Llama-3.1-8B'"),
    ({"architecture": "Llama-3.2-1B", "accelerator": "H100-SXM-80GB"}, "accelerator 'H100-SXM-80GB'"),
], ids=["another-architecture", "another-gpu"])
def test_profile_for_another_architecture_or_gpu_is_one_line_exit_2(spec_file: Path, tmp_path: Path,
                                                                    key: dict[str, str], named: str) -> None:
    profile = calibration.CalibratedProfile(
        key=calibration.ProfileKey(variant="bf16", tensor_parallel=1, **key),
        terms=calibration.FittedTerms(bandwidth_efficiency=0.8, compute_efficiency=0.5, step_overhead_s=0.001,
                                      per_sequence_overhead_s=1e-6, api_server_s=0.01),
        endpoint="http://127.0.0.1:1", model="m", measured_at="2026-12-01T00:00:00+00:00")
    (tmp_path / "other.yaml").write_text(calibration.to_yaml(profile))
    data = yaml.safe_load(spec_file.read_text())
    data["deployments"][0]["profile"] = "other.yaml"
    spec_file.write_text(yaml.safe_dump(data))
    result = run_cli("plan", "--spec", str(spec_file))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert "does not apply" in lines[0] and named in lines[0]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_endpoint_is_one_line_exit_2(spec_file: Path, tmp_path: Path) -> None:
    result = run_cli("calibrate", "--endpoint", f"http://127.0.0.1:{_free_port()}", "--model", "m", "--spec",
                     str(spec_file), "--deployment", "chat", "--out", str(tmp_path / "p.yaml"))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "unreachable" in result.stderr
    assert not (tmp_path / "p.yaml").exists()


class _NotOpenAI(http.server.BaseHTTPRequestHandler):
    """A web server, not an LLM API: every GET is an HTML page."""

    def do_GET(self) -> None:
        self._send(200, "text/html", b"<html>hello</html>")

    def _send(self, status: int, kind: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


class _ModelsOnly(_NotOpenAI):
    """Lists model ``m`` like an OpenAI server, but has no completions endpoint (a multi-line HTML 404)."""

    def do_GET(self) -> None:
        self._send(200, "application/json", b'{"object": "list", "data": [{"id": "m"}]}')

    def do_POST(self) -> None:
        self._send(404, "text/html", b"<html>\n<h1>Not Found</h1>\n</html>\n")


class _NotStreaming(_ModelsOnly):
    """Answers completions with one plain JSON body, no server-sent events."""

    def do_POST(self) -> None:
        self._send(200, "application/json", b'{"choices": [{"text": "hi"}]}')


def _calibrate_against(handler: type[http.server.BaseHTTPRequestHandler], tmp_path: Path, spec_file: Path,
                       model: str = "m") -> subprocess.CompletedProcess[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        return run_cli("calibrate", "--endpoint", f"http://127.0.0.1:{server.server_port}", "--model", model,
                       "--spec", str(spec_file), "--deployment", "chat", "--concurrency", "1,2", "--requests", "1",
                       "--out", str(tmp_path / "p.yaml"))
    finally:
        server.shutdown()


@pytest.mark.parametrize(("handler", "model", "says"), [
    (_NotOpenAI, "m", "not OpenAI-compatible: GET /v1/models answered 200 without a model list"),
    (_ModelsOnly, "m", "/v1/completions answered 404: <html> <h1>Not Found</h1> </html>"),
    (_NotStreaming, "m", "not an OpenAI-compatible streaming endpoint"),
    (_ModelsOnly, "other", "does not serve model 'other'"),
], ids=["html-site", "no-completions", "not-streaming", "another-model"])
def test_endpoint_that_is_not_openai_is_one_line_exit_2(spec_file: Path, tmp_path: Path,
                                                        handler: type[http.server.BaseHTTPRequestHandler],
                                                        model: str, says: str) -> None:
    result = _calibrate_against(handler, tmp_path, spec_file, model)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert says in lines[0]
    assert not (tmp_path / "p.yaml").exists()


def test_bad_concurrency_list_is_one_line_exit_2(spec_file: Path, tmp_path: Path) -> None:
    result = run_cli("calibrate", "--endpoint", "http://127.0.0.1:1", "--model", "m", "--spec", str(spec_file),
                     "--deployment", "chat", "--concurrency", "1,two", "--out", str(tmp_path / "p.yaml"))
    assert result.returncode == 2 and "--concurrency" in result.stderr
