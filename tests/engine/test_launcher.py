"""The launcher and the tiny model without vLLM: a stand-in interpreter plays the engine (fast tier)."""

from __future__ import annotations

import json
import os
import signal
import stat
import textwrap
import time
from pathlib import Path

import pytest

from llmstack.engine import launcher, tiny_model
from llmstack.engine.launcher import EngineConfig, VllmEngine
from llmstack.errors import LlmstackError

FAKE_ENGINE = textwrap.dedent("""\
    #!/usr/bin/env bash
    # "-c probe": the interpreter check; "-m vllm...": play the engine.
    if [ "$1" = "-c" ]; then exit 0; fi
    echo "fake engine $*"
    if [ -n "$FAKE_ENGINE_FAIL" ]; then echo "ValueError: bad option"; exit 3; fi
    sleep 600 &
    echo "child $!" >> "$FAKE_ENGINE_PIDS"
    port="${@: -1}"
    exec python3 -c "
    import http.server, sys
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == '/health' else 404); self.end_headers()
    http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()" "$port"
""")


@pytest.fixture
def fake_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    script = tmp_path / "python"
    script.write_text(FAKE_ENGINE)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv(launcher.ENGINE_PYTHON_ENV, str(script))
    monkeypatch.setenv("FAKE_ENGINE_PIDS", str(tmp_path / "pids"))
    return tmp_path


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_engine_python_comes_from_the_environment_else_the_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(launcher.ENGINE_PYTHON_ENV, "/opt/e/bin/python")
    assert launcher.engine_python() == Path("/opt/e/bin/python")
    monkeypatch.delenv(launcher.ENGINE_PYTHON_ENV)
    assert launcher.engine_python() == launcher.REPO_ROOT / ".venv-engine" / "bin" / "python"


def test_missing_interpreter_is_one_line_with_the_install_hint(monkeypatch: pytest.MonkeyPatch,
                                                                tmp_path: Path) -> None:
    monkeypatch.setenv(launcher.ENGINE_PYTHON_ENV, str(tmp_path / "nope"))
    reason = launcher.missing_engine()
    assert reason is not None and "bootstrap.sh --engine" in reason and "\n" not in reason
    with pytest.raises(LlmstackError, match="no engine interpreter"):
        VllmEngine(EngineConfig(tmp_path), tmp_path / "log").start()


def test_argv_serves_dummy_weights_on_loopback(tmp_path: Path) -> None:
    argv = EngineConfig(tmp_path, served_model_names=("a", "b"), max_model_len=512).argv(Path("/py"), 8123)
    assert argv[:3] == ["/py", "-m", "vllm.entrypoints.openai.api_server"]
    joined = " ".join(argv)
    assert "--load-format dummy" in joined and "--host 127.0.0.1 --port 8123" in joined
    assert "--served-model-name a b" in joined and "--max-model-len 512" in joined


def test_start_waits_for_health_and_stop_ends_the_whole_group(fake_engine: Path) -> None:
    engine = VllmEngine(EngineConfig(fake_engine), fake_engine / "engine.log").start()
    try:
        assert engine.wait_ready(timeout_s=20) < 20
        child = int((fake_engine / "pids").read_text().split()[1])
        assert alive(child)
    finally:
        engine.stop()
    deadline = time.monotonic() + 5
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(child), "the engine's child outlived stop()"
    assert not engine.running()


def test_an_engine_that_dies_raises_with_its_log_tail(fake_engine: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_ENGINE_FAIL", "1")
    engine = VllmEngine(EngineConfig(fake_engine), fake_engine / "engine.log").start()
    with pytest.raises(LlmstackError, match="exited during start-up") as caught:
        engine.wait_ready(timeout_s=20)
    assert "ValueError: bad option" in str(caught.value.hint)


def test_a_timeout_stops_the_engine(fake_engine: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = VllmEngine(EngineConfig(fake_engine), fake_engine / "engine.log")
    monkeypatch.setattr(VllmEngine, "healthy", lambda self: False)
    engine.start()
    with pytest.raises(LlmstackError, match="did not answer /health within 1 s"):
        engine.wait_ready(timeout_s=1)
    assert not engine.running()
    assert engine.process is not None and engine.process.returncode in (-signal.SIGTERM, -signal.SIGKILL)


def test_tiny_model_is_built_once_and_every_id_decodes(tmp_path: Path) -> None:
    from tokenizers import Tokenizer

    folder = tiny_model.ensure_tiny_model(tmp_path)
    assert tiny_model.ensure_tiny_model(tmp_path) == folder
    config = json.loads((folder / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"] and config["hidden_size"] == 256
    assert config["num_hidden_layers"] == 2 and config["head_dim"] * config["num_attention_heads"] == 256
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    assert tokenizer.get_vocab_size() == config["vocab_size"] == 2048
    assert all(tokenizer.id_to_token(i) is not None for i in range(config["vocab_size"]))
    settings = json.loads((folder / "tokenizer_config.json").read_text())
    assert tokenizer.token_to_id(settings["eos_token"]) == config["eos_token_id"]
    assert "add_generation_prompt" in settings["chat_template"]
    assert [p.name for p in tmp_path.iterdir()] == [folder.name], "no scratch folder is left behind"


def test_demo_prompts_are_one_tiny_model_token_per_trace_token(tmp_path: Path) -> None:
    from tokenizers import Tokenizer

    from llmstack.demo.replay_client import prompt_text

    tokenizer = Tokenizer.from_file(str(tiny_model.ensure_tiny_model(tmp_path) / "tokenizer.json"))
    assert abs(len(tokenizer.encode(prompt_text(500)).ids) - 500) <= 1


def test_fleet_adds_engines_together_drains_and_stops_them_all(fake_engine: Path) -> None:
    from llmstack.engine.fleet import EngineFleet

    fleet = EngineFleet(EngineConfig(fake_engine), fake_engine / "logs", replicas=1, ready_timeout_s=20)
    try:
        assert len(fleet.start()) == 1
        added = fleet.add_replicas(2)
        assert len(added) == 2 and len(fleet.ports) == 3
        fleet.remove_replica(added[0], drain_s=5)
        assert added[0] not in fleet.ports
    finally:
        fleet.stop()
    assert len(fleet.started_pids) == 3
    deadline = time.monotonic() + 5
    while any(launcher.group_alive(p) for p in fleet.started_pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(launcher.group_alive(p) for p in fleet.started_pids)
    assert fleet.ports == []
