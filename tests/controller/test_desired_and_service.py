"""The KEDA fast path and the controller's endpoints, served on 127.0.0.1 (a free port) and stopped.

Design note: the endpoint is read over real HTTP and parsed with prometheus-client's own text
parser, so the test sees what Prometheus (and through it KEDA) would scrape. The process test
runs the real watch loop against a Prometheus port nothing listens on: every cycle is refused
(no action, audited), and the endpoints still say ready, live and the desired replicas seeded
from the Stack's ``llmstack:scaling``.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from llmstack import data
from llmstack.controller import process
from llmstack.controller.desired import METRIC, DesiredReplicas, KedaFastPath
from llmstack.controller.pulumi_operator import PulumiOperatorBackend
from llmstack.controller.service import ControllerServer, Health
from llmstack.errors import ApplyError
from llmstack.metrics.reading import PrometheusReader
from llmstack.policy.rules import load_policy
from tests.controller.helpers import FakeStackApi, controller_stack, rec
from tests.servers import free_port


def _scrape(port: int) -> dict[str, float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return {f"{s.name}{{{','.join(f'{k}={v}' for k, v in sorted(s.labels.items()))}}}": s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_endpoint_serves_desired_replicas_and_health(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    desired = DesiredReplicas(registry, tmp_path / "desired.json")
    desired.set({"chat": 2, "think": 1})
    clock = [100.0]
    health = Health(30.0, clock=lambda: clock[0])
    server = ControllerServer(registry, health).start()
    try:
        assert _scrape(server.port) == {f"{METRIC}{{deployment=chat}}": 2.0, f"{METRIC}{{deployment=think}}": 1.0}
        assert httpx.get(f"http://127.0.0.1:{server.port}/readyz").status_code == 503
        health.cycle_done()
        assert httpx.get(f"http://127.0.0.1:{server.port}/readyz").status_code == 200
        assert httpx.get(f"http://127.0.0.1:{server.port}/healthz").status_code == 200
        clock[0] += 3 * 30 + 61  # no cycle finished for three intervals and a minute: stuck
        assert httpx.get(f"http://127.0.0.1:{server.port}/healthz").status_code == 503
        assert httpx.get(f"http://127.0.0.1:{server.port}/nope").status_code == 404
    finally:
        server.stop()
    assert json.loads((tmp_path / "desired.json").read_text()) == {"chat": 2, "think": 1}


def test_horizontal_move_sets_the_gauge_without_touching_the_stack() -> None:
    api = FakeStackApi()
    registry = CollectorRegistry()
    fast = KedaFastPath(DesiredReplicas(registry), PulumiOperatorBackend(api, "llmstack", "llmstack"))
    report = fast.apply([rec("chat", replicas=(2, 5))])
    assert report.changed and api.patches == []
    assert registry.get_sample_value(METRIC, {"deployment": "chat"}) == 5.0


def test_variant_move_goes_through_pulumi_first_then_the_gauge() -> None:
    api = FakeStackApi()
    registry = CollectorRegistry()
    fast = KedaFastPath(DesiredReplicas(registry), PulumiOperatorBackend(api, "llmstack", "llmstack"))
    fast.apply([rec("chat", kind="variant", replicas=(2, 3), variant=("awq", "bf16")),
                rec("think", replicas=(1, 2), pool="h100")])
    [patch] = api.patches
    assert patch["spec"]["config"]["llmstack:scaling"] == {"chat": {"replicas": 3, "variant": "bf16"}}
    assert registry.get_sample_value(METRIC, {"deployment": "chat"}) == 3.0
    assert registry.get_sample_value(METRIC, {"deployment": "think"}) == 2.0


def test_gauge_unchanged_when_the_pulumi_path_fails() -> None:
    class Refusing(FakeStackApi):
        def patch_stack(self, namespace: str, name: str, body: dict[str, object]) -> dict[str, object]:
            raise ApplyError("HTTP 403")

    registry = CollectorRegistry()
    desired = DesiredReplicas(registry)
    desired.set({"chat": 2})
    fast = KedaFastPath(desired, PulumiOperatorBackend(Refusing(), "llmstack", "llmstack"))
    with pytest.raises(ApplyError):
        fast.apply([rec("chat", kind="variant", replicas=(2, 3), variant=("awq", "bf16"))])
    assert registry.get_sample_value(METRIC, {"deployment": "chat"}) == 2.0


def test_controller_process_serves_seeded_desired_replicas_and_audits_refused_cycles(tmp_path: Path) -> None:
    stack = controller_stack(keda={"enabled": True})
    api = FakeStackApi(config={"llmstack:scaling": {"chat": {"replicas": 3}}})
    registry = CollectorRegistry()
    paths = process.Paths(tmp_path / "data")
    backend, desired = process.build_backend(stack, paths, "llmstack", registry, client=api)
    assert backend.name == "keda" and desired is not None
    source = PrometheusReader(f"http://127.0.0.1:{free_port()}", timeout_s=0.5)
    controller = process.Controller(stack, load_policy(data.policy()), source, backend, paths, registry, desired)
    port = free_port()
    seen: list[dict[str, float]] = []
    controller.run(interval_s=5, listen=("127.0.0.1", port), cycles=2, sleep=lambda s: None,
                   on_cycle=lambda result: seen.append(_scrape(port)))
    assert seen[-1][f"{METRIC}{{deployment=chat}}"] == 3.0  # from the Stack's llmstack:scaling
    assert seen[-1][f"{METRIC}{{deployment=think}}"] == 1.0  # the spec's replicas.min
    assert seen[-1]["llmstack_controller_cycles_total{outcome=metrics_failed}"] == 2.0
    audit = [json.loads(line) for line in paths.audit.read_text().splitlines()]
    assert {e["outcome"] for e in audit} == {"refused"} and len(audit) == 4
    assert paths.state.exists() and json.loads(paths.desired.read_text()) == {"chat": 3, "think": 1}
    assert api.patches == []
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)  # stopped with the loop
