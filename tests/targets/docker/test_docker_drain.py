"""Scale-in drain of a Docker replica: the supervisor, its HAProxy drain agent and the stop timings.

Design notes:
- The drain path runs for real, without Docker: the engine container's supervisor script
  (``/bin/sh``) runs a stand-in engine that behaves as vLLM 0.32 does with ``--shutdown-timeout``
  (on SIGTERM it answers ``/health`` 200, refuses new requests with 500 and exits once its
  in-flight requests are done), beside a plain stand-in replica, behind the real HAProxy with the
  generated configuration. Everything binds 127.0.0.1 on free ports and is stopped in ``finally``.
- Long requests (9 s) are in flight when the supervisor gets SIGTERM; short requests keep
  arriving every 50 ms until the engine has exited. With the agent, none fails and every long
  one finishes. The same run without the agent (the control) loses short requests, so the check
  can fail.
- The compose and Pulumi numbers are recomputed from the example spec's SLO and
  ``max_model_len``.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from llmstack.artifacts import drain, haproxy
from llmstack.spec.loading import load_spec
from llmstack.spec.models import StackSpec
from llmstack.targets.docker import containers, draining, layout, rendering
from tests.artifacts.upstreams import free_port, running_haproxy, running_upstreams

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[3]
DOCKER_SPEC = ROOT / "examples" / "docker-stack.yaml"
LONG_S = 9.0

DRAINING_ENGINE = '''
import json, signal, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

state = {"draining": False, "in_flight": 0}
lock = threading.Lock()

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args):
        pass
    def _send(self, status, body):
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.send_header("x-upstream", "draining")
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        self._send(200, b"")  # vLLM keeps /health at 200 while draining
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", "0")))
        with lock:
            if state["draining"]:
                refused = True
            else:
                refused = False
                state["in_flight"] += 1
        if refused:
            self._send(500, b'{"error": "engine is shutting down"}')
            return
        try:
            time.sleep(float(self.headers.get("x-test-delay", "0")))
            self._send(200, json.dumps({"upstream": "draining"}).encode())
        finally:
            with lock:
                state["in_flight"] -= 1

class Server(ThreadingHTTPServer):
    daemon_threads = True
    def handle_error(self, request, client_address):
        pass  # HAProxy closes its health-check connections early

server = Server(("127.0.0.1", int(sys.argv[1])), Handler)

def finish():
    while True:
        with lock:
            if state["in_flight"] == 0:
                break
        time.sleep(0.05)
    server.shutdown()

def on_term(signum, frame):
    state["draining"] = True
    threading.Thread(target=finish, daemon=True).start()

signal.signal(signal.SIGTERM, on_term)
server.serve_forever()
'''


def _stack() -> StackSpec:
    return StackSpec.model_validate({
        "name": "t",
        "pools": [{"name": "gpu", "accelerator": "H100-SXM-80GB", "gpus_per_node": 8, "cost_per_gpu_hour": 2.5}],
        "models": [{"name": "m", "architecture": "Llama-3.1-8B", "variants": [
            {"name": "bf16", "weights": "meta-llama/Llama-3.1-8B-Instruct"}]}],
        "deployments": [{"name": "chat", "model": "m", "variant": "bf16", "pool": "gpu"}],
        "routers": [{"name": "gw", "strategy": "round_robin", "routes": [{"model": "m", "backends": {"chat": 100}}]}],
    })


@contextlib.contextmanager
def _supervised_engine(tmp_path: Path, port: int, agent_port: int) -> Iterator[subprocess.Popen[bytes]]:
    engine = tmp_path / "engine.py"
    engine.write_text(DRAINING_ENGINE)
    flag = str(tmp_path / "draining")
    script = draining.supervisor_script(agent_port=agent_port, flag=flag)
    process = subprocess.Popen(["/bin/sh", "-c", script, draining.SUPERVISOR_NAME, sys.executable, str(engine),
                                str(port)], start_new_session=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # the agent the supervisor left, in its process group


def _router_config(port: int, stats: int, engine_port: int, agent_port: int | None, other_port: int) -> str:
    addressing = {"chat": haproxy.BackendAddressing.static([
        haproxy.Server("draining", "127.0.0.1", engine_port, agent_port=agent_port),
        haproxy.Server("steady", "127.0.0.1", other_port)])}
    options = haproxy.HaproxyOptions(bind_host="127.0.0.1", port=port, stats_port=stats, log=False,
                                     health_check_interval="100ms", health_check_fall=2, health_check_rise=1)
    return haproxy.build_haproxy_config(_stack(), "gw", addressing, options)


def _post(client: httpx.Client, url: str, delay: float = 0.0) -> httpx.Response:
    return client.post(f"{url}/v1/chat/completions", json={"model": "m", "messages": []},
                       headers={"x-test-delay": str(delay)}, timeout=30)


def _wait_until_both_serve(client: httpx.Client, url: str) -> None:
    deadline = time.monotonic() + 30  # a loaded 2-core host starts Python slowly
    seen: set[str] = set()
    while seen != {"draining", "steady"}:
        assert time.monotonic() < deadline, f"only {seen} answered"
        response = _post(client, url)
        if response.status_code == 200:
            seen.add(response.headers["x-upstream"])
        time.sleep(0.05)


def _scale_in(tmp_path: Path, *, with_agent: bool) -> tuple[list[int], list[int], int | None]:
    """Statuses of the long requests, of the short ones during the drain, and the supervisor's exit."""
    engine_port, agent_port, port, stats = free_port(), free_port(), free_port(), free_port()
    with running_upstreams("steady") as ups, _supervised_engine(tmp_path, engine_port, agent_port) as supervisor:
        config = _router_config(port, stats, engine_port, agent_port if with_agent else None, ups["steady"].port)
        with running_haproxy(config, tmp_path, port) as url, httpx.Client() as client:
            _wait_until_both_serve(client, url)
            long_statuses: list[int] = []
            threads = [threading.Thread(target=lambda: long_statuses.append(_post(httpx.Client(), url, LONG_S)
                                                                            .status_code)) for _ in range(4)]
            for thread in threads:
                thread.start()
            time.sleep(0.5)
            supervisor.terminate()
            short: list[int] = []
            deadline = time.monotonic() + draining.DEREGISTER_S + LONG_S + 10
            while supervisor.poll() is None and time.monotonic() < deadline:
                short.append(_post(client, url).status_code)
                time.sleep(0.05)
            for thread in threads:
                thread.join(timeout=30)
            return long_statuses, short, supervisor.poll()


def test_scale_in_drains_through_the_agent_with_no_request_lost(tmp_path: Path) -> None:
    long_statuses, short, exit_code = _scale_in(tmp_path, with_agent=True)
    lost = {status: short.count(status) for status in set(short) - {200}}
    assert long_statuses == [200, 200, 200, 200], long_statuses
    assert len(short) > 20 and not lost, f"{len(short)} short requests, not served: {lost}"
    assert exit_code == 0, exit_code


def test_without_the_agent_requests_reach_the_draining_engine_and_fail(tmp_path: Path) -> None:
    long_statuses, short, _ = _scale_in(tmp_path, with_agent=False)
    assert long_statuses == [200, 200, 200, 200]
    assert 500 in short  # the control: the health check alone cannot see vLLM's drain


def test_compose_engines_stop_after_the_drain_and_the_router_asks_their_agent() -> None:
    stack = load_spec(DOCKER_SPEC)
    files = rendering.render(stack)
    services = yaml.safe_load(files["compose.yaml"])["services"]
    chat = stack.deployment("chat")
    assert chat.engine.max_model_len is not None
    drain_s = min(drain.DRAIN_CAP_S, math.ceil((chat.slo.ttft_p95_ms + chat.engine.max_model_len
                                                 * chat.slo.tpot_p95_ms) / 1000))
    service = services["workstation-chat-0"]
    assert service["stop_signal"] == "SIGTERM"
    assert service["stop_grace_period"] == f"{draining.DEREGISTER_S + drain_s + drain.TEARDOWN_MARGIN_S}s"
    assert service["command"][:2] == ["vllm", "serve"]
    assert service["command"][service["command"].index("--shutdown-timeout") + 1] == str(drain_s)
    assert service["entrypoint"][:2] == ["/bin/sh", "-c"]
    config = next(text for path, text in files.items() if path.endswith("haproxy.cfg"))
    assert f"agent-check agent-port {draining.AGENT_PORT} agent-inter {haproxy.AGENT_INTERVAL_S}s" in config
    assert "stop_grace_period" not in services[layout.plan(stack).routers["gateway"]]


def test_a_slower_tpot_slo_lengthens_the_stop_grace_period() -> None:
    stack = load_spec(DOCKER_SPEC)
    chat = stack.deployment("chat")
    slower = chat.model_copy(update={"slo": chat.slo.model_copy(update={"tpot_p95_ms": chat.slo.tpot_p95_ms / 2})})
    changed = stack.model_copy(update={"deployments": [slower, stack.deployment("code")]})
    before = containers.drain_plan(layout.plan(stack), "chat")
    after = containers.drain_plan(layout.plan(changed), "chat")
    assert after.grace_period_s < before.grace_period_s
    assert before.grace_period_s - after.grace_period_s == before.shutdown_timeout_s - after.shutdown_timeout_s


def test_a_replica_started_again_in_a_drained_slot_serves_again(tmp_path: Path) -> None:
    """The agent's ``ready`` lifts the DRAIN a stopped replica left on its server slot."""
    engine_port, agent_port, port, stats = free_port(), free_port(), free_port(), free_port()
    with running_upstreams("steady") as ups:
        config = _router_config(port, stats, engine_port, agent_port, ups["steady"].port)
        with running_haproxy(config, tmp_path, port) as url, httpx.Client() as client:
            with _supervised_engine(tmp_path, engine_port, agent_port) as first:
                _wait_until_both_serve(client, url)
                first.terminate()
                assert first.wait(timeout=30) == 0
            with _supervised_engine(tmp_path, engine_port, agent_port):  # the first one's agent is gone
                _wait_until_both_serve(client, url)  # fails after 30 s if the slot stayed drained
