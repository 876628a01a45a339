"""The compose bundle: Compose Specification schema, the real haproxy and promtool, and the CLI.

Design note: haproxy.cfg addresses replicas through per-deployment network aliases with
``init-addr none``, so ``haproxy -c`` passes here where the container names do not
resolve, exactly as the router starts on the host before any replica exists.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from llmstack.errors import LlmstackError
from llmstack.spec.loading import load_spec
from llmstack.spec.models import StackSpec
from llmstack.targets.docker import containers, layout, rendering

ROOT = Path(__file__).resolve().parents[3]
DOCKER_SPEC = ROOT / "examples" / "docker-stack.yaml"
COMPOSE_SCHEMA = ROOT / "tests" / "data" / "compose" / "compose-spec.json"
HAPROXY = "/usr/sbin/haproxy"
PROMTOOL = "/usr/bin/promtool"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundle")
    for relative, text in rendering.render(load_spec(DOCKER_SPEC)).items():
        (out / relative).parent.mkdir(parents=True, exist_ok=True)
        (out / relative).write_text(text)
    return out


def compose_of(bundle: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((bundle / "compose.yaml").read_text())
    return data


def test_compose_validates_against_the_compose_spec_schema(bundle: Path) -> None:
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.Draft7Validator(schema).validate(compose_of(bundle))


def test_compose_schema_rejects_a_broken_service(bundle: Path) -> None:
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    broken = compose_of(bundle)
    broken["services"]["workstation-chat-0"]["gpu_ids"] = [0]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(schema).validate(broken)


def test_compose_reserves_exactly_each_replicas_gpus(bundle: Path) -> None:
    services = compose_of(bundle)["services"]
    reserved = {name: s["deploy"]["resources"]["reservations"]["devices"] for name, s in services.items()
                if "deploy" in s}
    assert reserved["workstation-chat-0"] == [{"driver": "nvidia", "device_ids": ["0"], "capabilities": ["gpu"]}]
    assert reserved["workstation-chat-1"][0]["device_ids"] == ["1"]
    assert reserved["workstation-code-0"][0]["device_ids"] == ["2", "3"]
    assert reserved["workstation-dcgm-exporter"][0]["count"] == "all"
    assert json.loads((bundle / "gpu-assignment.json").read_text()) == {"chat": [[0], [1]], "code": [[2, 3]]}


def test_compose_publishes_only_on_loopback_and_never_holds_the_token(bundle: Path) -> None:
    services = compose_of(bundle)["services"]
    published = sorted((name, p["host_ip"], p["published"]) for name, s in services.items()
                       for p in s.get("ports", []))
    assert published == [("workstation-grafana", "127.0.0.1", "3000"),
                         ("workstation-prometheus", "127.0.0.1", "9090"),
                         ("workstation-router-gateway", "127.0.0.1", "8080")]
    assert services["workstation-chat-0"]["environment"]["HF_TOKEN"] == "${HF_TOKEN:-}"


def test_compose_mounts_every_rendered_config_file(bundle: Path) -> None:
    services = compose_of(bundle)["services"]
    sources = {m["source"].removeprefix("./") for s in services.values() for m in s.get("volumes", [])
               if m["type"] == "bind"}
    written = {str(p.relative_to(bundle)) for p in bundle.rglob("*") if p.is_file()}
    assert sources == written - {"compose.yaml", "gpu-assignment.json"}


def test_rendered_haproxy_config_passes_haproxy_check(bundle: Path) -> None:
    result = subprocess.run([HAPROXY, "-c", "-f", str(bundle / "routers" / "gateway" / "haproxy.cfg")],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr


def test_rendered_prometheus_config_and_rules_pass_promtool(bundle: Path) -> None:
    result = subprocess.run([PROMTOOL, "check", "config", "prometheus.yml"], cwd=bundle / "prometheus",
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 rule files found" in result.stdout


def test_rendered_prometheus_scrapes_exactly_the_replica_containers(bundle: Path) -> None:
    config = yaml.safe_load((bundle / "prometheus" / "prometheus.yml").read_text())
    (engines,) = [job for job in config["scrape_configs"] if job["job_name"] == "vllm"]
    targets = {group["labels"]["deployment"]: group["targets"] for group in engines["static_configs"]}
    assert targets == {"chat": ["workstation-chat-0:8000", "workstation-chat-1:8000"],
                       "code": ["workstation-code-0:8000"]}


def test_rendered_files_are_what_the_containers_upload() -> None:
    stack = load_spec(DOCKER_SPEC)
    files = rendering.render(stack)
    for spec in containers.containers(layout.plan(stack)):
        for f in spec.files:
            assert files[f.bundle_path] == f.text


def test_render_escapes_dollar_in_free_form_engine_args() -> None:
    stack = load_spec(DOCKER_SPEC)
    chat = stack.deployment("chat")
    engine = chat.engine.model_copy(update={"extra_args": ["--download-dir", "$HOME/models"]})
    changed = stack.model_copy(update={"deployments": [chat.model_copy(update={"engine": engine}),
                                                       stack.deployment("code")]})
    compose = yaml.safe_load(rendering.render(changed)["compose.yaml"])
    assert "$$HOME/models" in compose["services"]["workstation-chat-0"]["command"]


def test_render_rejects_port_clash_naming_both() -> None:
    stack = load_spec(DOCKER_SPEC)
    clashing = stack.model_copy(update={"docker": stack.docker.model_copy(update={"grafana_port": 8080})})
    with pytest.raises(LlmstackError, match=r"routers\[gateway\]\.port and docker\.grafana_port"):
        rendering.render(clashing)


def test_render_rejects_kubernetes_style_stack(example_stack: StackSpec) -> None:
    with pytest.raises(LlmstackError, match=r"nodes\.max is 4"):
        rendering.render(example_stack)


def test_cli_render_docker_writes_the_bundle(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "llmstack", "render", "--spec", str(DOCKER_SPEC), "--target", "docker",
         "--out", str(tmp_path), "--json"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert str(tmp_path / "compose.yaml") in json.loads(result.stdout)
    assert (tmp_path / "routers" / "gateway" / "haproxy.cfg").is_file()


def test_cli_render_docker_reports_too_few_gpus_in_one_line(tmp_path: Path) -> None:
    scaling = tmp_path / "scaling.yaml"
    scaling.write_text("chat: {replicas: 3}\n")
    result = subprocess.run(
        [sys.executable, "-m", "llmstack", "render", "--spec", str(DOCKER_SPEC), "--target", "docker",
         "--out", str(tmp_path / "out"), "--scaling", str(scaling)],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert "pool rtx4090 needs 5 GPUs (chat: 3 x 1 = 3, code: 1 x 2 = 2) and has 4" in result.stderr
    assert "Traceback" not in result.stderr


def test_compose_grafana_password_is_a_secret_file_never_admin_admin(bundle: Path) -> None:
    compose = compose_of(bundle)
    grafana = next(s for s in compose["services"].values() if s["image"].startswith("grafana/"))
    assert grafana["secrets"] == [containers.GRAFANA_PASSWORD_SECRET]
    assert grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD__FILE"] == "/run/secrets/grafana_admin_password"
    assert "GF_SECURITY_ADMIN_PASSWORD" not in grafana["environment"]
    assert compose["secrets"] == {"grafana_admin_password": {"environment": "LLMSTACK_GRAFANA_ADMIN_PASSWORD"}}
    assert "admin" not in json.dumps(grafana["environment"]).replace("ADMIN", "").replace("admin_password", "")


def test_compose_prometheus_has_no_lifecycle_api_and_haproxy_is_maintained(bundle: Path) -> None:
    services = compose_of(bundle)["services"].values()
    prometheus = next(s for s in services if s["image"].startswith("prom/prometheus"))
    assert not [a for a in prometheus["command"] if "lifecycle" in a]
    haproxy = {s["image"] for s in services if s["image"].startswith("haproxy:")}
    assert haproxy and all(image.startswith("haproxy:3.2.") and "@sha256:" in image for image in haproxy)
