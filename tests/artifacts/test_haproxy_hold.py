"""The router's hold for deployments at zero replicas: rendered rules, haproxy -c, and the targets' files.

The hold itself is exercised end to end against a real HAProxy in tests/demo/test_router.py
(a request held while the deployment has no server, served once one is added).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from llmstack.artifacts import addressing, haproxy, haproxy_hold
from llmstack.capacity import throughput
from llmstack.capacity.startup import HOLD_TIMEOUT_FACTOR, startup_delay_s
from llmstack.spec.models import StackSpec
from llmstack.spec.resolving import resolve
from llmstack.targets.docker import containers, layout
from llmstack.targets.kubernetes import rendering
from tests.targets.kubernetes.helpers import stack_with

HAPROXY = "/usr/sbin/haproxy"


def to_zero(stack: StackSpec, deployment: str) -> StackSpec:
    deployments = [d.model_copy(update={"replicas": d.replicas.model_copy(update={"min": 0, "initial": 0})})
                   if d.name == deployment else d for d in stack.deployments]
    return stack.model_copy(update={"deployments": deployments})


def test_hold_timeout_covers_the_slowest_cold_start_with_margin() -> None:
    stack = to_zero(stack_with(), "think")
    cold = startup_delay_s(throughput.profile(resolve(stack, stack.deployment("think"))))
    assert haproxy_hold.hold_timeout(stack) == f"{int(-(-HOLD_TIMEOUT_FACTOR * cold // 1))}s"
    assert cold > 100, "a 70B model at TP 4 takes minutes to start"
    assert not haproxy_hold.holds(stack_with()) and haproxy_hold.holds(stack)


def test_hold_timeout_from_the_spec_wins_over_the_cold_start_estimate() -> None:
    stack = to_zero(stack_with(), "think")
    think = stack.deployment("think")
    replicas = think.replicas.model_copy(update={"hold_timeout": 400.0})
    stack = stack.model_copy(update={"deployments": [d.model_copy(update={"replicas": replicas})
                                                     if d.name == "think" else d for d in stack.deployments]})
    assert haproxy_hold.hold_timeout(stack) == "400s"


def test_each_route_holds_on_its_own_backends_and_the_config_passes_haproxy_check(tmp_path: Path) -> None:
    stack = to_zero(stack_with(), "chat")
    script = tmp_path / haproxy_hold.SCRIPT_NAME
    script.write_text(haproxy_hold.HOLD_SCRIPT)
    options = haproxy.HaproxyOptions(hold_timeout="90s", hold_script=str(script))
    static = {d: haproxy.BackendAddressing.static([]) for d in ("chat", "think")}
    config = haproxy.build_haproxy_config(stack, "gateway", static, options)
    holds = re.findall(r"http-request lua\.llmstack_hold (\S+) (\d+) if !route_up_(\d) route_(\d)", config)
    assert holds == [("be_chat", "90000", "0", "0"), ("be_think", "90000", "1", "1")]
    assert f"lua-load {script}" in config and haproxy_hold.HELD_METRICS_PATH in config
    assert config.index("llmstack_hold") < config.index("use_backend"), "held before a backend is picked"
    (tmp_path / "haproxy.cfg").write_text(config)
    result = subprocess.run([HAPROXY, "-c", "-f", str(tmp_path / "haproxy.cfg")], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr


def test_without_a_scale_to_zero_deployment_nothing_is_held() -> None:
    config = addressing.router_config(stack_with(), "gateway", addressing.Cluster("llm", "cluster.local"))
    assert "lua" not in config


def _config_map(files: dict[str, str]) -> dict[str, Any]:
    for path, text in files.items():
        if path.endswith(".yaml") and "router" in path:
            for doc in yaml.safe_load_all(text):
                if doc and doc.get("kind") == "ConfigMap" and "haproxy.cfg" in doc.get("data", {}):
                    return dict(doc)
    raise AssertionError("no router ConfigMap rendered")


def test_kubernetes_router_ships_the_script_it_loads() -> None:
    cold = _config_map(rendering.render(to_zero(stack_with(), "chat")))["data"]
    assert cold[haproxy_hold.SCRIPT_NAME] == haproxy_hold.HOLD_SCRIPT
    assert f"lua-load {addressing.ROUTER_CONFIG_DIR}/{haproxy_hold.SCRIPT_NAME}" in cold["haproxy.cfg"]
    warm = _config_map(rendering.render(stack_with()))["data"]
    assert set(warm) == {"haproxy.cfg"}


def test_docker_router_uploads_the_script_it_loads() -> None:
    from llmstack.spec.loading import load_spec
    from tests.targets.docker.test_docker_rendering import DOCKER_SPEC

    stack = load_spec(DOCKER_SPEC)
    cold = to_zero(stack, stack.deployments[0].name)
    router = stack.routers[0].name
    files = {f.container_path: f.text for f in containers.router(layout.plan(cold), router).files}
    assert files[f"{containers.HAPROXY_CONFIG_DIR}/{haproxy_hold.SCRIPT_NAME}"] == haproxy_hold.HOLD_SCRIPT
    assert "lua.llmstack_hold" in files[containers.HAPROXY_CONFIG_PATH]
