"""Docker target Pulumi program and components under Pulumi mocks.

Design note: the mocks record every registered resource with its inputs, so the tests read
what ``pulumi up`` would send to the Docker provider: one container per replica with its
``device_requests``, the uploaded haproxy.cfg and prometheus.yml, the secret HF token.
The router reaches a deployment's replicas through the deployment's network alias (DNS,
``server-template``), so "the router lists exactly the replica containers" is checked as:
the alias the router resolves is carried by exactly the replica containers.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from llmstack.spec import scaling
from llmstack.spec.loading import load_spec
from llmstack.targets.docker import containers, layout, program, state
from llmstack.targets.docker.components import DockerLlmStack
from llmstack.targets.stack_config import StackConfig

ROOT = Path(__file__).resolve().parents[3]
DOCKER_SPEC = ROOT / "examples" / "docker-stack.yaml"
CONTAINER = "docker:index/container:Container"
SECRET_TOKEN = "hf_secret_token_value"


@dataclass
class Registered:
    typ: str
    name: str
    inputs: dict[str, Any]


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.resources: list[Registered] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        self.resources.append(Registered(args.typ, args.name, dict(args.inputs)))
        outputs = dict(args.inputs)
        if args.typ == "docker:index/remoteImage:RemoteImage":
            outputs["imageId"] = f"sha256:{args.name}"
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None

    def containers(self) -> dict[str, dict[str, Any]]:
        return {r.inputs["name"]: r.inputs for r in self.resources if r.typ == CONTAINER}


@pytest.fixture(autouse=True)
def ensure_event_loop() -> None:
    """Pulumi's mocks run on the thread's current loop; tests elsewhere (asyncio.run) may leave none."""
    try:
        loop = asyncio.get_event_loop()
    except RuntimeError:
        loop = None
    if loop is None or loop.is_closed():
        asyncio.set_event_loop(asyncio.new_event_loop())


@pytest.fixture
def mocks() -> Iterator[RecordingMocks]:
    recorder = RecordingMocks()
    pulumi.runtime.set_mocks(recorder, project="llmstack", stack="dev", preview=False)
    pulumi.runtime.set_all_config({"llmstack:hfToken": SECRET_TOKEN}, ["llmstack:hfToken"])
    yield recorder
    pulumi.runtime.set_all_config({})


def settings(spec: Path = DOCKER_SPEC, **replicas: int) -> StackConfig:
    overrides = {name: scaling.ScalingOverride(replicas=count) for name, count in replicas.items()}
    return StackConfig(spec_path=spec, target="docker", overrides=overrides)


def wide_spec(tmp_path: Path, gpus: int) -> Path:
    data = yaml.safe_load(DOCKER_SPEC.read_text())
    data["pools"][0]["gpus_per_node"] = gpus
    path = tmp_path / "docker-stack.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def upload(inputs: dict[str, Any], container_path: str) -> str:
    for item in inputs.get("uploads") or []:
        if item["file"] == container_path:
            return str(item["content"])
    raise AssertionError(f"no upload {container_path} in {inputs['name']}")


def device_ids(inputs: dict[str, Any]) -> list[int]:
    (request,) = inputs["deviceRequests"]
    return [int(i) for i in request["deviceIds"]]


def engines(recorder: RecordingMocks) -> dict[str, dict[str, Any]]:
    return {n: i for n, i in recorder.containers().items() if i.get("deviceRequests")
            and "deviceIds" in i["deviceRequests"][0]}


def registered(stack: DockerLlmStack) -> pulumi.Output[list[str]]:
    """Resolves once every container of ``stack`` is registered with the mocks."""
    return pulumi.Output.all(*(c.id for c in stack.containers))


@pulumi.runtime.test
def test_program_creates_one_container_per_replica_with_disjoint_devices(
    mocks: RecordingMocks, tmp_path: Path
) -> Any:
    stack = program.build(settings(), pulumi.Config("llmstack"), state_file=tmp_path / "gpus.json")

    def check(_: Any) -> None:
        found = {name: device_ids(inputs) for name, inputs in engines(mocks).items()}
        assert found == {"workstation-chat-0": [0], "workstation-chat-1": [1], "workstation-code-0": [2, 3]}
        for inputs in engines(mocks).values():
            assert inputs["deviceRequests"][0]["driver"] == "nvidia"
            assert inputs["deviceRequests"][0]["capabilities"] == ["gpu"]
            assert inputs["shmSize"] == containers.SHM_SIZE_MB
            assert inputs["healthcheck"]["tests"][:2] == ["CMD", "python3"]
            assert inputs["entrypoints"][:2] == ["/bin/sh", "-c"]  # the drain supervisor (targets/docker/draining)
            assert inputs["command"][:2] == ["vllm", "serve"]
            assert inputs["stopSignal"] == "SIGTERM"
            assert inputs["stopTimeout"] == inputs["destroyGraceSeconds"] > 0  # a delete stops (drains) first
        assert "--tensor-parallel-size" in engines(mocks)["workstation-code-0"]["command"]
        chat = engines(mocks)["workstation-chat-0"]
        assert chat["stopTimeout"] == containers.drain_plan(layout.plan(load_spec(DOCKER_SPEC)), "chat").grace_period_s

    return registered(stack).apply(check)


@pulumi.runtime.test
def test_router_config_resolves_exactly_the_replica_containers(mocks: RecordingMocks, tmp_path: Path) -> Any:
    stack = program.build(settings(), pulumi.Config("llmstack"), state_file=tmp_path / "gpus.json")

    def check(_: Any) -> None:
        all_containers = mocks.containers()
        cfg = upload(all_containers["workstation-router-gateway"], containers.HAPROXY_CONFIG_PATH)
        templates = {host: int(slots) for slots, host in re.findall(r"server-template \S+ 1-(\d+) (\S+):8000", cfg)}
        assert templates == {"workstation-chat": 3, "workstation-code": 1}
        carriers: dict[str, set[str]] = {}
        for name, inputs in all_containers.items():
            for network in inputs["networksAdvanced"]:
                for alias in network.get("aliases") or []:
                    carriers.setdefault(alias, set()).add(name)
        assert carriers == {"workstation-chat": {"workstation-chat-0", "workstation-chat-1"},
                            "workstation-code": {"workstation-code-0"}}

    return registered(stack).apply(check)


@pulumi.runtime.test
def test_prometheus_scrapes_exactly_the_replica_containers(mocks: RecordingMocks, tmp_path: Path) -> Any:
    stack = program.build(settings(), pulumi.Config("llmstack"), state_file=tmp_path / "gpus.json")

    def check(_: Any) -> None:
        inputs = mocks.containers()["workstation-prometheus"]
        config = yaml.safe_load(upload(inputs, f"{containers.PROMETHEUS_DIR}/prometheus.yml"))
        targets = {t for job in config["scrape_configs"] for group in job.get("static_configs", [])
                   for t in group["targets"] if t.endswith(":8000")}
        assert targets == {"workstation-chat-0:8000", "workstation-chat-1:8000", "workstation-code-0:8000"}

    return registered(stack).apply(check)


@pulumi.runtime.test
def test_hf_token_stays_secret(mocks: RecordingMocks, tmp_path: Path) -> Any:
    stack = program.build(settings(), pulumi.Config("llmstack"), state_file=tmp_path / "gpus.json")
    replica = stack.deployments["chat"].containers[0]

    async def check() -> None:
        assert await replica.envs.is_secret()
        assert f"HF_TOKEN={SECRET_TOKEN}" in (await replica.envs.future() or [])
        for name, inputs in mocks.containers().items():
            text = repr({k: v for k, v in inputs.items() if k != "envs"})
            assert SECRET_TOKEN not in text, name

    return pulumi.Output.from_input(check())


@pulumi.runtime.test
def test_published_ports_bind_loopback(mocks: RecordingMocks, tmp_path: Path) -> Any:
    stack = program.build(settings(), pulumi.Config("llmstack"), state_file=tmp_path / "gpus.json")

    def check(values: list[Any]) -> None:
        assert values[0] == {"gateway": "http://127.0.0.1:8080"}
        published = [(name, p["ip"], p["external"]) for name, inputs in mocks.containers().items()
                     for p in inputs.get("ports") or []]
        assert sorted(published) == [("workstation-grafana", "127.0.0.1", 3000),
                                     ("workstation-prometheus", "127.0.0.1", 9090),
                                     ("workstation-router-gateway", "127.0.0.1", 8080)]

    return pulumi.Output.all(stack.router_urls, registered(stack)).apply(check)


@pulumi.runtime.test
def test_scale_out_keeps_existing_assignments(mocks: RecordingMocks, tmp_path: Path) -> Any:
    spec = wide_spec(tmp_path, 6)
    gpus = tmp_path / "gpus.json"
    program.build(settings(spec), pulumi.Config("llmstack"), state_file=gpus)
    first = state.load_assignment(gpus)
    mocks.resources.clear()
    stack = program.build(settings(spec, chat=3), pulumi.Config("llmstack"), state_file=gpus)

    def check(values: list[Any]) -> None:
        assignment = values[0]
        assert first == {"chat": [[0], [1]], "code": [[2, 3]]}
        assert assignment == {"chat": [[0], [1], [4]], "code": [[2, 3]]}
        assert state.load_assignment(gpus) == assignment
        assert device_ids(mocks.containers()["workstation-code-0"]) == [2, 3]

    return pulumi.Output.all(stack.gpu_assignment, registered(stack)).apply(check)


def test_program_rejects_too_many_replicas_before_registering_resources(
    mocks: RecordingMocks, tmp_path: Path
) -> None:
    from llmstack.errors import LlmstackError

    with pytest.raises(LlmstackError, match=r"chat: 3 x 1 = 3, code: 1 x 2 = 2\) and has 4"):
        program.build(settings(chat=3), pulumi.Config("llmstack"), state_file=tmp_path / "gpus.json")
    assert mocks.resources == []


@pulumi.runtime.test
def test_preview_does_not_write_the_assignment(tmp_path: Path) -> Any:
    recorder = RecordingMocks()
    pulumi.runtime.set_mocks(recorder, project="llmstack", stack="dev", preview=True)
    gpus = tmp_path / "gpus.json"
    stack = program.build(settings(), pulumi.Config("llmstack"), state_file=gpus)

    def check(_: Any) -> None:
        assert len(engines(recorder)) == 3
        assert not gpus.exists()

    return registered(stack).apply(check)


@pulumi.runtime.test
def test_docker_host_from_config_gets_its_own_provider(mocks: RecordingMocks, tmp_path: Path) -> Any:
    pulumi.runtime.set_all_config({"llmstack:dockerHost": "ssh://ops@gpu-box",
                                   "llmstack:gpuStateFile": str(tmp_path / "gpus.json")})
    stack = program.build(settings(), pulumi.Config("llmstack"))

    def check(_: Any) -> None:
        providers = [r for r in mocks.resources if r.typ == "pulumi:providers:docker"]
        assert [p.inputs.get("host") for p in providers] == ["ssh://ops@gpu-box"]
        assert (tmp_path / "gpus.json").is_file()

    return registered(stack).apply(check)


@pulumi.runtime.test
def test_minimal_stack_without_routers_or_dashboards(mocks: RecordingMocks, tmp_path: Path) -> Any:
    data = yaml.safe_load(DOCKER_SPEC.read_text())
    data["routers"] = []
    data["monitoring"] = {"grafana": False, "dcgm_exporter": False}
    spec = tmp_path / "minimal.yaml"
    spec.write_text(yaml.safe_dump(data))
    stack = program.build(settings(spec), pulumi.Config("llmstack"), state_file=tmp_path / "gpus.json")

    def check(values: list[Any]) -> None:
        assert values[0] == {}
        assert sorted(mocks.containers()) == ["workstation-chat-0", "workstation-chat-1", "workstation-code-0",
                                              "workstation-prometheus"]

    return pulumi.Output.all(stack.router_urls, registered(stack)).apply(check)


def test_infra_program_builds_the_docker_target(mocks: RecordingMocks, tmp_path: Path) -> None:
    import runpy

    pulumi.runtime.set_all_config({"llmstack:target": "docker", "llmstack:spec": str(DOCKER_SPEC),
                                   "llmstack:scaling": '{"chat": {"replicas": 1}}',
                                   "llmstack:gpuStateFile": str(tmp_path / "gpus.json")})

    @pulumi.runtime.test
    def run() -> Any:
        runpy.run_path(str(ROOT / "infra" / "__main__.py"), run_name="__main__")
        return None

    run()
    assert state.load_assignment(tmp_path / "gpus.json") == {"chat": [[0]], "code": [[2, 3]]}
    assert sorted(n for n in mocks.containers() if "-chat-" in n or "-code-" in n) == [
        "workstation-chat-0", "workstation-code-0"]
