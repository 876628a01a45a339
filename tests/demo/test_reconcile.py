"""The demo's apply: stack file, replicas, file_sd and router follow a recommendation; other changes refused."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from llmstack.demo import config
from llmstack.demo.monitoring import Monitoring
from llmstack.demo.processes import ProcessGroup, free_port
from llmstack.demo.reconcile import Reconciler
from llmstack.demo.router import Router
from llmstack.errors import LlmstackError
from llmstack.policy.recommendation import Recommendation, Setting
from llmstack.sim.server import LiveFleet
from llmstack.spec.models import StackSpec


def rec(before: int, after: int, **proposed: object) -> Recommendation:
    current = Setting(before, "awq", "l4", 1)
    return Recommendation("chat", "horizontal", current, current.with_(replicas=after, **proposed), "test", "slo",
                          {}, "1m", 1.0, f"{before} -> {after}")


@pytest.fixture
def reconciler(example_stack: StackSpec, tmp_path: Path) -> Iterator[Reconciler]:
    stack = config.demo_stack(example_stack)
    fleets = {"chat": LiveFleet(stack, "chat", replicas=1, time_factor=10),
              "reasoning": LiveFleet(stack, "reasoning", replicas=1, time_factor=10)}
    ports = config.DemoPorts(free_port(), free_port(), free_port())
    try:
        for fleet in fleets.values():
            fleet.start()
        replicas = {n: f.ports for n, f in fleets.items()}
        with ProcessGroup() as group:
            router = Router(tmp_path, ports.router_stats, group)
            router.start(config.haproxy_config(stack, "gateway", replicas, ports, str(router.socket_path),
                                               str(router.hold_script_path)),
                         f"http://127.0.0.1:{ports.router}/healthz")
            monitoring = Monitoring(stack, tmp_path, ports, group)
            for name, ps in replicas.items():
                monitoring.write_targets(name, ps)
            r = Reconciler(stack, "gateway", fleets, router, monitoring, ports, tmp_path / "Pulumi.demo.yaml",
                           drain_s=2.0)
            yield r
            r.wait_drained()
    finally:
        for fleet in fleets.values():
            fleet.stop()


def _file_sd(tmp: Path) -> list[int]:
    return sorted(int(t.rsplit(":", 1)[1]) for e in json.loads((tmp / "targets" / "chat.json").read_text())
                  for t in e["targets"])


@pytest.mark.slow
def test_scale_out_then_in_moves_stack_file_fleet_file_sd_and_router(reconciler: Reconciler, tmp_path: Path) -> None:
    [out] = reconciler.apply([rec(1, 3)])
    ports = reconciler.replicas()["chat"]
    assert out.kind == "out" and len(out.added) == 2 and out.router_followed_s is not None
    assert sorted(reconciler.fleets["chat"].ports) == sorted(ports) and _file_sd(tmp_path) == sorted(ports)
    assert reconciler.router.servers()["be_chat"] == {config.server_name("chat", p) for p in ports}
    scaling = yaml.safe_load((tmp_path / "Pulumi.demo.yaml").read_text())["config"]["llmstack:scaling"]
    assert scaling == {"chat": {"replicas": 3}}

    [back] = reconciler.apply([rec(3, 2)])
    assert back.kind == "in" and back.removed == (ports[-1],)  # the newest replica goes first
    assert _file_sd(tmp_path) == sorted(ports[:2])
    reconciler.wait_drained()
    assert reconciler.router.servers()["be_chat"] == {config.server_name("chat", p) for p in ports[:2]}
    assert sorted(reconciler.fleets["chat"].ports) == sorted(ports[:2]) and reconciler.drain_errors == []
    assert reconciler.router.reloads == 0, "the router changed through its runtime API, not a reload"
    assert config.server_name("chat", ports[-1]) not in reconciler.router.config_path.read_text()


def _stream(url: str, out: list[str]) -> None:
    body = {"model": "llama-3.1-8b", "prompt": "tok " * 20, "max_tokens": 300, "stream": True}
    with httpx.stream("POST", url, json=body, timeout=60) as response:
        out.append(f"{response.status_code} " + "".join(response.iter_text()))


def _sessions_once_all_run(reconciler: Reconciler, streams: int, timeout_s: float = 20.0) -> dict[int, int]:
    """Sessions per chat replica once the router serves all ``streams`` (a loaded host starts them late)."""
    deadline = time.monotonic() + timeout_s
    while True:
        sessions = {p: reconciler.router.sessions("be_chat", config.server_name("chat", p)) or 0
                    for p in reconciler.replicas()["chat"]}
        if sum(sessions.values()) >= streams or time.monotonic() > deadline:
            return sessions
        time.sleep(0.05)


@pytest.mark.slow
def test_scale_in_drains_streams_in_flight_on_the_removed_replicas(reconciler: Reconciler) -> None:
    reconciler.apply([rec(1, 3)])
    url = f"http://127.0.0.1:{reconciler.ports.router}/v1/completions"
    results: list[str] = []
    clients = [threading.Thread(target=_stream, args=(url, results)) for _ in range(6)]
    for client in clients:
        client.start()
    sessions = _sessions_once_all_run(reconciler, 6)  # leastconn spreads them over the three replicas
    [back] = reconciler.apply([rec(3, 1)])
    for client in clients:
        client.join(timeout=60)
    reconciler.wait_drained()
    assert sum(sessions[p] for p in back.removed) >= 1, f"no stream ran on a removed replica: {sessions}"
    assert len(results) == 6 and all(r.startswith("200 ") and r.rstrip().endswith("data: [DONE]")
                                     and r.count('data: {"id"') == 300 for r in results)
    assert reconciler.drain_errors == [] and len(reconciler.fleets["chat"].ports) == 1


@pytest.mark.slow
def test_variant_change_refused_and_nothing_touched(reconciler: Reconciler, tmp_path: Path) -> None:
    before = reconciler.replicas()
    with pytest.raises(LlmstackError, match="replica counts only"):
        reconciler.apply([rec(1, 1, variant="fp8")])
    assert reconciler.replicas() == before and not (tmp_path / "Pulumi.demo.yaml").exists()
    assert reconciler.router.reloads == 0
