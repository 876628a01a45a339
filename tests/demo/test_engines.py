"""``llmstack demo --engine``: the choice of engine, checked before anything starts (fast tier)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from llmstack.demo import engines
from llmstack.engine.fleet import EngineFleet
from llmstack.engine.launcher import ENGINE_PYTHON_ENV
from llmstack.errors import LlmstackError
from llmstack.sim.server import LiveFleet
from llmstack.spec.models import StackSpec
from tests.conftest import ROOT


def test_unknown_engine_and_speed_with_real_engines_are_refused(monkeypatch: pytest.MonkeyPatch,
                                                                tmp_path: Path) -> None:
    with pytest.raises(LlmstackError, match="unknown engine 'tgi'"):
        engines.check_engine("tgi", 10.0)
    with pytest.raises(LlmstackError, match="real time"):
        engines.check_engine("vllm", 10.0)
    monkeypatch.setenv(ENGINE_PYTHON_ENV, str(tmp_path / "absent"))
    with pytest.raises(LlmstackError, match=r"bootstrap\.sh --engine"):
        engines.check_engine("vllm", 1.0)
    assert engines.check_engine("sim", 10.0) == "sim"


def test_cli_without_an_engine_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "llmstack", "demo", "--engine", "vllm", "--duration", "5", "--json",
                           "--workdir", str(tmp_path / "w")], capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={"PATH": "/usr/bin:/bin", ENGINE_PYTHON_ENV: str(tmp_path / "absent"),
                               "HOME": str(tmp_path)})
    assert done.returncode == 2, done.stderr
    said = done.stdout + done.stderr  # with --json the error is a JSON object on stdout
    assert "bootstrap.sh --engine" in said and "Traceback" not in said
    assert not (tmp_path / "w").exists() or not any((tmp_path / "w").iterdir())


def test_real_engines_get_one_to_three_replicas_of_the_tiny_context(example_stack: StackSpec) -> None:
    sized = engines.vllm_stack(example_stack, "chat")
    chat = sized.deployment("chat")
    assert (chat.replicas.min, chat.replicas.start, chat.replicas.max) == (1, 1, 3)
    assert chat.engine.max_model_len == engines.VLLM_MAX_MODEL_LEN and chat.engine.max_num_seqs == 8
    assert sized.deployment("reasoning") == example_stack.deployment("reasoning")
    assert [(r.model, r.backends) for r in sized.routers[0].routes] == [("llama-3.1-8b", {"chat": 100})]


def test_fleet_kinds(example_stack: StackSpec, tmp_path: Path) -> None:
    sim = engines.make_fleet("sim", example_stack, "chat", replicas=2, workdir=tmp_path, speed=10)
    assert isinstance(sim, LiveFleet) and sim.initial == 2
    real = engines.make_fleet("vllm", engines.vllm_stack(example_stack, "chat"), "chat", replicas=1,
                              workdir=tmp_path, speed=1)
    assert isinstance(real, EngineFleet)
    assert real.config.served_model_names == ("llama-3.1-8b",) and real.config.max_model_len == 1024
