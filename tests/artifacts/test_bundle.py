"""``llmstack render --target artifacts``: the bundle's files, checked by the real tools."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml
from typer.testing import CliRunner

import llmstack.cli.render  # noqa: F401 - registers the command on the app
from llmstack.artifacts import bundle, haproxy_hold, vllm_args
from llmstack.cli.app import app
from llmstack.spec.models import StackSpec
from tests.conftest import EXAMPLE_SPEC


def test_bundle_lists_every_artifact(example_stack: StackSpec) -> None:
    files = bundle.render_artifacts(example_stack)
    assert set(files) == {
        "haproxy.cfg", "prometheus.yml", "rules/recording.yml", "rules/alerts.yml",
        "dashboards/llmstack-fleet.json", "dashboards/llmstack-deployment.json", "dashboards/llmstack-gpus.json",
        "vllm-args/chat.txt", "vllm-args/reasoning.txt",
    }


def test_one_haproxy_file_per_router_when_several(example_stack: StackSpec) -> None:
    second = example_stack.routers[0].model_copy(update={"name": "internal"})
    stack = example_stack.model_copy(update={"routers": [*example_stack.routers, second]})
    files = bundle.render_artifacts(stack)
    assert "haproxy-gateway.cfg" in files and "haproxy-internal.cfg" in files and "haproxy.cfg" not in files


def test_render_cli_writes_files_the_tools_accept(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["render", "--spec", str(EXAMPLE_SPEC), "--target", "artifacts",
                                      "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    check = subprocess.run(["/usr/sbin/haproxy", "-c", "-f", str(tmp_path / "haproxy.cfg")], capture_output=True,
                           text=True, timeout=30)
    assert check.returncode == 0, check.stderr
    rules = subprocess.run(["/usr/bin/promtool", "check", "rules", "rules/recording.yml", "rules/alerts.yml"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert rules.returncode == 0, rules.stdout + rules.stderr
    config = yaml.safe_load((tmp_path / "prometheus.yml").read_text())
    assert config["rule_files"] == ["rules/*.yml"]
    assert [job["job_name"] for job in config["scrape_configs"]] == ["vllm", "llmstack-router", "dcgm"]
    args = (tmp_path / "vllm-args" / "chat.txt").read_text().splitlines()
    vllm_args.validate_args(args)
    assert args[args.index("--port") + 1] == "8000"


def test_bundle_ships_the_hold_script_its_router_loads(example_stack: StackSpec) -> None:
    chat = example_stack.deployment("chat")
    to_zero = chat.model_copy(update={"replicas": chat.replicas.model_copy(update={"min": 0, "initial": 0})})
    stack = example_stack.model_copy(update={"deployments": [to_zero if d.name == "chat" else d
                                                             for d in example_stack.deployments]})
    files = bundle.render_artifacts(stack)
    assert f"lua-load /usr/local/etc/haproxy/{haproxy_hold.SCRIPT_NAME}\n" in files["haproxy.cfg"]
    assert files[haproxy_hold.SCRIPT_NAME] == haproxy_hold.HOLD_SCRIPT
    assert haproxy_hold.SCRIPT_NAME not in bundle.render_artifacts(example_stack)
