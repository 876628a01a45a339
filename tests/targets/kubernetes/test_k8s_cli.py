"""``llmstack render --target kubernetes`` through the console entry point: files, stack files, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from llmstack.spec import scaling
from llmstack.spec.loading import load_spec
from llmstack.targets.kubernetes import options
from tests.conftest import EXAMPLE_SPEC, ROOT


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "llmstack", *args], capture_output=True, text=True, timeout=120,
                          cwd=ROOT)


def test_render_kubernetes_writes_every_object_and_applies_scaling(tmp_path: Path) -> None:
    overrides = tmp_path / "scaling.yaml"
    overrides.write_text("chat: {replicas: 5}\n")
    out = tmp_path / "out"
    result = run_cli("render", "--spec", str(EXAMPLE_SPEC), "--target", "kubernetes", "--out", str(out),
                     "--scaling", str(overrides), "--json")
    assert result.returncode == 0, result.stderr
    written = json.loads(result.stdout)
    assert str(out / "kustomization.yaml") in written
    chat = yaml.safe_load((out / "deployments/chat/deployment-chat-vllm.yaml").read_text())
    assert chat["spec"]["replicas"] == 5


def test_render_refuses_a_pool_too_small_in_one_line(tmp_path: Path) -> None:
    spec = tmp_path / "stack.yaml"
    spec.write_text(EXAMPLE_SPEC.read_text().replace("replicas: {min: 1, max: 4, initial: 1}",
                                                     "replicas: {min: 9, max: 9}"))
    result = run_cli("render", "--spec", str(spec), "--target", "kubernetes", "--out", str(tmp_path / "o"))
    assert result.returncode == 2
    assert "pools[h100].nodes.max: minimum replicas need reasoning 9 x 4 = 36 GPUs" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_example_stack_files_are_valid_configuration() -> None:
    stack = load_spec(EXAMPLE_SPEC)
    for name in ("Pulumi.dev.yaml", "Pulumi.prod.yaml"):
        config = yaml.safe_load((ROOT / name).read_text())["config"]
        assert (ROOT / config["llmstack:spec"]).exists()
        assert config["llmstack:target"] == "kubernetes"
        assert "llmstack:hfToken" not in config  # set with `pulumi config set --secret`, never in plain text
        scaled = scaling.apply_scaling(stack, scaling.parse_scaling(config["llmstack:scaling"]))
        assert scaled.deployment("chat").replicas.start == config["llmstack:scaling"]["chat"]["replicas"]
        options.from_config(config["llmstack:kubernetes"])
