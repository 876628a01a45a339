"""Wake from zero on the Prometheus path, for real: HAProxy holds a request, Prometheus scrapes it, the loop wakes.

Design note: the router is the demo's HAProxy with its hold (main's ``haproxy_hold`` Lua action);
Prometheus (Debian package) scrapes its stats port at ``/metrics`` (HAProxy's exporter) and
``/held-metrics`` (the hold's gauge and counter) every second. The deployment ``chat`` is at zero
replicas (``current``), so its snapshot carries no vLLM series, only the router signals; the
loop's one cycle must read them and recommend 0 -> 1 with the held count in its reason.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

import httpx
import pytest

from llmstack.demo import config
from llmstack.demo.processes import ProcessGroup, free_port
from llmstack.demo.router import Router
from llmstack.metrics.reading import PrometheusReader
from llmstack.policy import loop
from llmstack.policy.recommendation import settings_of
from llmstack.policy.rules import load_policy
from llmstack.policy.state import ScalingState
from llmstack.sim.server import LiveFleet
from llmstack.spec.models import StackSpec
from tests.conftest import ROOT
from tests.demo.test_router import _zero_stack
from tests.policy.servers import running_prometheus

pytestmark = pytest.mark.slow


def _router_scrape(port: int) -> dict[str, object]:
    jobs = [{"job_name": f"router-{path.strip('/')}", "metrics_path": path, "scrape_interval": "1s",
             "scrape_timeout": "1s", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}
            for path in ("/metrics", "/held-metrics")]
    return {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"}, "scrape_configs": jobs}


def test_request_held_at_the_router_wakes_a_deployment_at_zero(example_stack: StackSpec, tmp_path: Path) -> None:
    stack = _zero_stack(example_stack)
    shipped = load_policy(ROOT / "policies" / "default.yaml")
    policy = shipped.model_copy(update={"data": shipped.data.model_copy(update={"max_clock_skew": 1e12})})
    reasoning = LiveFleet(stack, "reasoning", replicas=1, time_factor=10)
    ports = config.DemoPorts(free_port(), free_port(), free_port())
    body = {"model": "llama-3.1-8b", "prompt": "tok " * 5, "max_tokens": 3}

    def ask() -> None:  # held until the router stops at the end of the test: its answer does not matter
        with contextlib.suppress(httpx.HTTPError):
            httpx.post(f"http://127.0.0.1:{ports.router}/v1/completions", json=body, timeout=30)

    client = threading.Thread(target=ask, daemon=True)
    (tmp_path / "prom").mkdir()
    try:
        reasoning.start()
        with ProcessGroup() as group, running_prometheus(tmp_path / "prom", _router_scrape(ports.router_stats)) \
                as prom:
            router = Router(tmp_path, ports.router_stats, group)
            router.start(config.haproxy_config(stack, "gateway", {"chat": [], "reasoning": reasoning.ports}, ports,
                                               str(router.socket_path), str(router.hold_script_path)),
                         f"http://127.0.0.1:{ports.router}/healthz")
            client.start()
            prom.wait_for('llmstack_router_held_requests{proxy="be_chat"}',
                          lambda r: bool(r) and float(r[0]["value"][1]) == 1)
            current = dict(settings_of(stack)) | {"chat": settings_of(stack)["chat"].with_(replicas=0)}
            result, _ = loop.run_once(PrometheusReader(prom.url), stack, policy, ScalingState(), 1000.0,
                                      current=current)
    finally:
        reasoning.stop()
    chat = [r for r in result.recommendations if r.deployment == "chat"]
    assert len(chat) == 1, result
    assert chat[0].rule == "wake-from-zero" and chat[0].proposed.replicas >= 1
    assert chat[0].reason.startswith("1 request(s) held at the router")
    assert chat[0].signals["router_queue_length"] == 1
