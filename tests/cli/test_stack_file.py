"""The GitOps loop: ``render --scaling Pulumi.<stack>.yaml`` reads the stack file ``apply`` writes,
``apply`` refuses a folder that is not a Pulumi project, ``llmstack:spec`` inline or a path.

Design note: the stack file is written by ``policy.applying.render_stack_file``, the same
function ``apply`` uses, so the test reads exactly what apply would leave behind.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from llmstack.errors import LlmstackError
from llmstack.policy import applying
from llmstack.spec import scaling
from llmstack.targets import stack_config
from tests.conftest import EXAMPLE_SPEC


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "llmstack", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120)


def test_render_reads_scaling_and_spec_from_the_stack_file_apply_writes(tmp_path: Path) -> None:
    stack_file = tmp_path / "Pulumi.dev.yaml"
    stack_file.write_text(applying.render_stack_file(
        {"config": {"llmstack:spec": str(EXAMPLE_SPEC), "llmstack:target": "kubernetes"}},
        {"chat": {"replicas": 5}}))
    result = _cli("render", "--target", "kubernetes", "--out", "k8s", "--scaling", str(stack_file), "--json",
                  cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    deployment = next(yaml.safe_load((tmp_path / p).read_text()) for p in json.loads(result.stdout)
                      if Path(p).name.startswith("deployment-chat"))
    assert deployment["spec"]["replicas"] == 5


def test_scaling_file_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(LlmstackError, match=r"^scaling\.yaml: llmstack:scaling\.chat\.replicaz: unknown field"):
        scaling.from_document({"chat": {"replicaz": 2}}, "scaling.yaml")


def test_apply_refuses_a_folder_without_pulumi_yaml(tmp_path: Path) -> None:
    result = _cli("apply", "--project-dir", str(tmp_path), "--spec", str(EXAMPLE_SPEC), "--config-only",
                  "--prometheus", "http://127.0.0.1:9", cwd=tmp_path)
    assert result.returncode == 2
    assert "holds no Pulumi.yaml" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_inline_spec_in_stack_config_is_parsed(tmp_path: Path) -> None:
    inline = yaml.safe_load(EXAMPLE_SPEC.read_text())

    class Config:
        def get(self, key: str) -> str | None:
            return json.dumps(inline) if key == "spec" else None

    settings = stack_config.from_values(stack_config.spec_value(Config()), None, {"chat": {"replicas": 3}}, tmp_path)
    assert settings.spec_path is None
    assert settings.load().deployment("chat").replicas.start == 3
