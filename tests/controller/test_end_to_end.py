"""One controller cycle end to end: signals from a fake Prometheus on loopback (a load burst on ``chat``),
the real policy engine deciding, and each apply path landing the scale-out.

Design note: the Prometheus answers are those of tests/cli/test_recommend.py (the burst that makes
``llmstack recommend`` propose a scale-out); here the controller applies it: a Stack patch through
the recording fake, the gauge alone with KEDA (no patch), or a commit in a local bare repository.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from llmstack import data
from llmstack.controller import process
from llmstack.controller.desired import METRIC
from llmstack.metrics.reading import PrometheusReader
from llmstack.policy.rules import load_policy
from llmstack.spec.models import StackSpec
from tests.cli.test_recommend import answer
from tests.conftest import EXAMPLE_SPEC
from tests.controller.helpers import FakeStackApi
from tests.controller.test_gitops import STACK_FILE, git
from tests.policy.servers import FakePrometheus


def _stack(**controller: Any) -> StackSpec:
    raw = yaml.safe_load(EXAMPLE_SPEC.read_text())
    raw["controller"] = {"enabled": True, **controller}
    return StackSpec.model_validate(raw)


def _one_cycle(stack: StackSpec, tmp_path: Path, **build: Any) -> tuple[process.Controller, list[Any]]:
    registry = CollectorRegistry()
    paths = process.Paths(tmp_path / "data")
    backend, desired = process.build_backend(stack, paths, "llmstack", registry, **build)
    results: list[Any] = []
    with FakePrometheus(answer) as prom:
        controller = process.Controller(stack, load_policy(data.policy()), PrometheusReader(prom.url), backend,
                                        paths, registry, desired)
        controller.run(interval_s=5, cycles=1, sleep=lambda s: None, on_cycle=results.append)
    return controller, results


def test_scale_out_lands_as_a_stack_patch(tmp_path: Path) -> None:
    api = FakeStackApi()
    _, [result] = _one_cycle(_stack(), tmp_path, client=api)
    [chat] = [r for r in result.recommendations if r.deployment == "chat"]
    assert result.applied and chat.kind == "horizontal"
    [patch] = api.patches
    assert patch["spec"]["config"]["llmstack:scaling"]["chat"] == {"replicas": chat.proposed.replicas}
    assert chat.proposed.replicas > chat.current.replicas


def test_scale_out_with_keda_moves_only_the_gauge(tmp_path: Path) -> None:
    api = FakeStackApi()
    controller, [result] = _one_cycle(_stack(keda={"enabled": True}), tmp_path, client=api)
    [chat] = [r for r in result.recommendations if r.deployment == "chat"]
    assert result.applied and api.patches == []
    assert controller.registry.get_sample_value(METRIC, {"deployment": "chat"}) == chat.proposed.replicas


@pytest.mark.parametrize("push_branch", [None, "llmstack/scaling"])
def test_scale_out_lands_as_a_commit(tmp_path: Path, push_branch: str | None) -> None:
    bare = tmp_path / "infra.git"
    subprocess.run(["git", "init", "--bare", "--initial-branch=main", str(bare)], check=True, capture_output=True)
    seed = tmp_path / "seed"
    subprocess.run(["git", "clone", str(bare), str(seed)], check=True, capture_output=True)
    (seed / "Pulumi.prod.yaml").write_text(STACK_FILE.replace("think:\n      replicas: 2", "reasoning:\n"
                                                               "      replicas: 1"))
    git(seed, "add", ".")
    git(seed, "commit", "-m", "seed")
    git(seed, "push", "origin", "HEAD:main")
    stack = _stack(apply="gitops", gitops={"repository": f"file://{bare}", "push_branch": push_branch})
    _, [result] = _one_cycle(stack, tmp_path, git_env={"HOME": str(tmp_path)})
    [chat] = [r for r in result.recommendations if r.deployment == "chat"]
    assert result.applied
    log = subprocess.run(["git", "--git-dir", str(bare), "log", "-1", "--format=%s%n%b", push_branch or "main"],
                         check=True, capture_output=True, text=True).stdout
    assert log.startswith(f"llmstack: chat: replicas {chat.current.replicas} -> {chat.proposed.replicas}")
    assert f"rule: {chat.rule}" in log
