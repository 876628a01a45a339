"""HAProxy routers of both targets hold requests for a deployment that may be at zero replicas.

Design note: the hold itself (the Lua action, ``nbsrv`` polling) is the router's
(:mod:`llmstack.artifacts.haproxy_hold`, tested with the real HAProxy there); here the targets
must ship it: the ``lua-load`` path in haproxy.cfg names a file the router container gets (the
Kubernetes ConfigMap key, the compose bind mount), and the real ``haproxy -c`` accepts the
configuration with that script in place. A stack whose deployments all keep a replica renders
no hold.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from llmstack.artifacts import addressing, bundle, haproxy_hold
from llmstack.spec.loading import load_spec
from llmstack.spec.models import StackSpec
from llmstack.targets.docker import rendering
from llmstack.targets.kubernetes import objects, routing
from tests.targets.kubernetes.helpers import find, stack_with
from tests.targets.kubernetes.validation import validate

ROOT = Path(__file__).resolve().parents[2]
HAPROXY = "/usr/sbin/haproxy"
SCRIPT_PATH = addressing.hold_script_path()


def _zero_min(stack: StackSpec, deployment: str) -> StackSpec:
    deployments = [d.model_dump() for d in stack.deployments]
    for d in deployments:
        if d["name"] == deployment:
            d["replicas"] = {"min": 0, "max": d["replicas"]["max"]}
    return type(stack).model_validate({**stack.model_dump(), "deployments": deployments})


def _haproxy_accepts(config: str, script: str, tmp_path: Path) -> None:
    (tmp_path / haproxy_hold.SCRIPT_NAME).write_text(script)
    path = tmp_path / "haproxy.cfg"
    path.write_text(config.replace(SCRIPT_PATH, str(tmp_path / haproxy_hold.SCRIPT_NAME)))
    result = subprocess.run([HAPROXY, "-c", "-f", str(path)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr


def test_kubernetes_router_ships_the_hold_script_it_loads(tmp_path: Path) -> None:
    built = objects.build(_zero_min(stack_with(), "chat"))
    config_map = find(built.routers["gateway"], "ConfigMap")
    router = find(built.routers["gateway"], "Deployment")
    for obj in (config_map, router):
        validate(obj)
    config = config_map["data"][routing.CONFIG_FILE]
    assert f"lua-load {SCRIPT_PATH}\n" in config
    assert config_map["data"][haproxy_hold.SCRIPT_NAME] == haproxy_hold.HOLD_SCRIPT
    mount = router["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][0]
    assert f"{mount['mountPath']}/{haproxy_hold.SCRIPT_NAME}" == SCRIPT_PATH
    assert f"lua.llmstack_hold be_chat {addressing.HOLD_TIMEOUT_S * 1000}" in config
    _haproxy_accepts(config, config_map["data"][haproxy_hold.SCRIPT_NAME], tmp_path)


def test_bundle_ships_the_script_and_keeps_the_config_map_text() -> None:
    stack = _zero_min(stack_with(), "chat")
    files = bundle.render_artifacts(stack)
    config_map = find(objects.build(stack).routers["gateway"], "ConfigMap")
    assert files["haproxy.cfg"] == config_map["data"][routing.CONFIG_FILE]
    assert files[haproxy_hold.SCRIPT_NAME] == haproxy_hold.HOLD_SCRIPT


def test_no_hold_when_every_deployment_keeps_a_replica() -> None:
    built = objects.build(stack_with())
    data = find(built.routers["gateway"], "ConfigMap")["data"]
    assert list(data) == [routing.CONFIG_FILE] and "lua-load" not in data[routing.CONFIG_FILE]


def _compose(stack: StackSpec) -> tuple[dict[str, Any], dict[str, str]]:
    files = rendering.render(stack)
    return yaml.safe_load(files["compose.yaml"]), files


def test_docker_router_mounts_the_hold_script_it_loads(tmp_path: Path) -> None:
    stack = _zero_min(load_spec(ROOT / "examples" / "docker-stack.yaml"), "code")
    compose, files = _compose(stack)
    router = next(s for s in compose["services"].values() if s["labels"].get("llmstack.role") == "router")
    mounts = {m["target"]: m["source"] for m in router["volumes"]}
    source = mounts[SCRIPT_PATH].removeprefix("./")
    assert files[source] == haproxy_hold.HOLD_SCRIPT
    config = files[mounts[f"{addressing.HAPROXY_CONFIG_DIR}/haproxy.cfg"].removeprefix("./")]
    assert f"lua-load {SCRIPT_PATH}\n" in config
    _haproxy_accepts(config, files[source], tmp_path)
    unchanged, _ = _compose(load_spec(ROOT / "examples" / "docker-stack.yaml"))
    plain = next(s for s in unchanged["services"].values() if s["labels"].get("llmstack.role") == "router")
    assert SCRIPT_PATH not in {m["target"] for m in plain["volumes"]}
