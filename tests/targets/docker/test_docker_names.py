"""Two ``DockerLlmStack`` components in one program: distinct URNs, the Kubernetes target's naming
scheme, outputs read from the registered containers.

Design note: as in tests/targets/kubernetes/test_k8s_components.py, ``MockMonitor.RegisterResource``
is wrapped to see every registration (the mock monitor overwrites duplicate URNs silently),
and the mocks publish every port on an address the layout never chose (``127.0.0.9``), so a
URL that shows it was read from the container resource.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pulumi
import pytest
from pulumi.runtime import mocks as pulumi_mocks

from llmstack.spec.loading import load_spec
from llmstack.targets.docker import layout
from llmstack.targets.docker.components import DockerLlmStack, DockerLlmStackArgs
from tests.conftest import ROOT
from tests.pulumi_recording import recorded_registrations

PUBLISHED = "127.0.0.9"


class HostMocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        state = dict(args.inputs)
        if args.typ == "docker:index/container:Container" and state.get("ports"):
            state["ports"] = [{**p, "ip": PUBLISHED} for p in state["ports"]]
        if args.typ == "docker:index/remoteImage:RemoteImage":
            state["imageId"] = f"sha256:{args.name}"
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        return {}, None


@pytest.fixture
def requests(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    yield recorded_registrations(monkeypatch, HostMocks())


def _layout(name: str) -> layout.DockerLayout:
    spec = load_spec(ROOT / "examples" / "docker-stack.yaml").model_copy(update={"name": name})
    return layout.plan(spec)


def test_two_docker_stacks_register_distinct_urns_and_read_urls_from_containers(requests: list[Any]) -> None:
    seen: dict[str, Any] = {}

    @pulumi.runtime.test
    def run() -> Any:
        first = DockerLlmStack("first", DockerLlmStackArgs(layout=_layout("workstation")))
        second = DockerLlmStack("second", DockerLlmStackArgs(layout=_layout("workstation")))
        return pulumi.Output.all(first.router_urls, second.monitoring.prometheus_url,
                                 first.deployments["chat"].container_names).apply(
            lambda v: seen.update(routers=v[0], prometheus=v[1], names=v[2]))

    run()
    monitor = pulumi_mocks.MockMonitor(HostMocks())
    urns = [monitor.make_urn(r.parent, r.type, r.name) for r in requests if r.type != "pulumi:pulumi:Stack"]
    assert len(urns) == len(set(urns)), sorted({u for u in urns if urns.count(u) > 1})[:5]
    names = {r.name for r in requests}
    assert {"first-chat", "second-chat", "first-chat-0", "second-chat-0", "first-net", "second-net"} <= names
    assert seen["routers"] == {"gateway": f"http://{PUBLISHED}:8080"}
    assert seen["prometheus"] == f"http://{PUBLISHED}:9090"
    assert seen["names"] == ["workstation-chat-0", "workstation-chat-1"][:len(seen["names"])]


def test_docker_stack_named_after_its_spec_keeps_its_names(requests: list[Any]) -> None:
    @pulumi.runtime.test
    def run() -> Any:
        return DockerLlmStack("workstation", DockerLlmStackArgs(layout=_layout("workstation"))).urn

    run()
    renamed = {r.name: [a.spec.name for a in r.aliases if a.spec.name] for r in requests}
    assert renamed["workstation-chat-0"] == [] and renamed["workstation-net"] == []
    images = [name for name in renamed if "-image-" in name]
    assert images and all(renamed[n] == [n.removeprefix("workstation-")] for n in images)
