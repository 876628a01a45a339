"""Graceful drain of engine pods: preStop wait, vLLM ``--shutdown-timeout`` and the grace period.

Design note: the numbers are recomputed here from the spec fields they come from (TTFT and
TPOT SLO, ``max_model_len`` or the architecture's context, the routers of the deployment), so
changing the SLO must change the rendered grace period. Every rendered workload is validated
(kubernetes-validate strict, the LeaderWorkerSet CRD), and the Ray worker's preStop script is run
by ``/bin/sh`` against a real local HTTP server standing in for its leader.
"""

from __future__ import annotations

import math
import os
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from llmstack.artifacts import drain, haproxy
from llmstack.catalog import architectures
from llmstack.spec.models import StackSpec
from llmstack.targets.kubernetes import draining, objects
from llmstack.targets.kubernetes.options import KubernetesOptions
from tests.targets.kubernetes.helpers import containers, find, stack_with
from tests.targets.kubernetes.validation import validate

HAPROXY_WAIT_S = (draining.ENDPOINTS_PROPAGATION_S + draining.KUBE_DNS_TTL_S + haproxy.DNS_RESOLVE_INTERVAL_S
                  + haproxy.DNS_HOLD_OBSOLETE_S)


def _with_chat(stack: StackSpec, **changes: Any) -> StackSpec:
    deployments = [d.model_dump() for d in stack.deployments]
    deployments[0].update(changes)
    return stack_with(deployments=deployments, routers=[r.model_dump() for r in stack.routers])


def _pod_spec(stack: StackSpec, deployment: str = "chat") -> dict[str, Any]:
    workload = find(objects.build(stack).deployments[deployment], "Deployment", f"{deployment}-vllm")
    validate(workload)
    return dict(workload["spec"]["template"]["spec"])


def _arg(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


def test_grace_period_is_prestop_plus_longest_request_plus_teardown() -> None:
    stack = _with_chat(stack_with(), slo={"ttft_p95_ms": 800, "tpot_p95_ms": 40})
    spec = _pod_spec(stack)
    drain_s = math.ceil((800 + 4096 * 40) / 1000)  # max_model_len 4096 tokens at 40 ms after 0.8 s
    assert drain_s == 165
    vllm = spec["containers"][0]
    assert _arg(vllm["args"], "--shutdown-timeout") == str(drain_s)
    assert vllm["lifecycle"] == {"preStop": {"exec": {"command": ["sleep", str(HAPROXY_WAIT_S)]}}}
    assert spec["terminationGracePeriodSeconds"] == HAPROXY_WAIT_S + drain_s + drain.TEARDOWN_MARGIN_S


def test_a_slower_tpot_slo_lengthens_the_grace_period() -> None:
    fast = _pod_spec(_with_chat(stack_with(), slo={"tpot_p95_ms": 20}))
    slow = _pod_spec(_with_chat(stack_with(), slo={"tpot_p95_ms": 80}))
    assert slow["terminationGracePeriodSeconds"] - fast["terminationGracePeriodSeconds"] == math.ceil(
        (1000 + 4096 * 80) / 1000) - math.ceil((1000 + 4096 * 20) / 1000)


def test_a_longer_context_lengthens_the_drain() -> None:
    short = _pod_spec(_with_chat(stack_with(), engine={"max_model_len": 1024}))
    long = _pod_spec(_with_chat(stack_with(), engine={"max_model_len": 2048}))
    assert _arg(short["containers"][0]["args"], "--shutdown-timeout") == str(math.ceil(1 + 1024 * 0.1))
    assert _arg(long["containers"][0]["args"], "--shutdown-timeout") == str(math.ceil(1 + 2048 * 0.1))


def test_unset_max_model_len_uses_the_architecture_context_and_is_capped() -> None:
    base = stack_with()
    deployments = [d.model_dump() for d in base.deployments]
    deployments[1]["engine"] = {}
    stack = stack_with(deployments=deployments)
    context = architectures.get("Llama-3.1-70B").max_position_embeddings
    kd = objects.resolve(stack, KubernetesOptions())["think"]
    assert kd.drain.max_model_len == context
    assert kd.drain.longest_request_s == (1000 + context * 100) / 1000 > drain.DRAIN_CAP_S
    assert kd.drain.capped
    assert _arg(list(kd.serve_args), "--shutdown-timeout") == str(drain.DRAIN_CAP_S)


def test_gateway_only_deployment_waits_for_the_endpoints_update_only() -> None:
    base = stack_with()
    router = {"name": "gateway", "implementation": "inference-gateway",
              "routes": [{"model": "small", "backends": {"chat": 100}}, {"model": "big", "backends": {"think": 100}}]}
    stack = stack_with(deployments=[d.model_dump() for d in base.deployments], routers=[router])
    spec = _pod_spec(stack)
    assert spec["containers"][0]["lifecycle"]["preStop"]["exec"]["command"] == [
        "sleep", str(draining.ENDPOINTS_PROPAGATION_S)]
    assert draining.ENDPOINTS_PROPAGATION_S < HAPROXY_WAIT_S


def test_probes_stay_on_health_with_readiness_before_liveness() -> None:
    vllm = _pod_spec(stack_with())["containers"][0]
    assert vllm["readinessProbe"]["httpGet"]["path"] == haproxy.HEALTH_PATH
    ready = vllm["readinessProbe"]["periodSeconds"] * vllm["readinessProbe"]["failureThreshold"]
    alive = vllm["livenessProbe"]["periodSeconds"] * vllm["livenessProbe"]["failureThreshold"]
    assert ready < alive  # a failing engine leaves the endpoints before it is restarted


def _lws() -> dict[str, Any]:
    base = stack_with()
    deployments = [d.model_dump() for d in base.deployments]
    deployments[1].update(tensor_parallel=8, pipeline_parallel=2, slo={"ttft_p95_ms": 2000, "tpot_p95_ms": 50})
    lws = find(objects.build(stack_with(deployments=deployments)).deployments["think"], "LeaderWorkerSet")
    validate(lws)
    return lws


def test_leader_worker_set_leader_and_workers_share_the_drain() -> None:
    lws = _lws()
    template = lws["spec"]["leaderWorkerTemplate"]
    leader, worker = containers(lws)
    drain_s = math.ceil((2000 + 8192 * 50) / 1000)
    assert f"--shutdown-timeout {drain_s}" in leader["args"][0]
    assert leader["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", str(HAPROXY_WAIT_S)]
    script = worker["lifecycle"]["preStop"]["exec"]["command"][2]
    assert script.startswith(f"sleep {HAPROXY_WAIT_S}\n") and f"+ {drain_s} ))" in script
    grace = HAPROXY_WAIT_S + drain_s + drain.TEARDOWN_MARGIN_S
    assert template["leaderTemplate"]["spec"]["terminationGracePeriodSeconds"] == grace
    assert template["workerTemplate"]["spec"]["terminationGracePeriodSeconds"] == grace


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == haproxy.HEALTH_PATH else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _run_worker_pre_stop(port: int, drain_s: int) -> subprocess.Popen[bytes]:
    plan = drain.DrainPlan(max_model_len=16, longest_request_s=drain_s, shutdown_timeout_s=drain_s,
                           deregister_s=0, grace_period_s=drain_s)
    command = draining.worker_pre_stop(plan, port=port)["preStop"]["exec"]["command"]
    return subprocess.Popen(command, env={**os.environ, "LWS_LEADER_ADDRESS": "127.0.0.1"})


def test_worker_pre_stop_waits_while_the_leader_answers_then_returns() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    hook = _run_worker_pre_stop(server.server_address[1], drain_s=60)
    try:
        time.sleep(3)
        assert hook.poll() is None, "the worker left while its leader was still draining"
    finally:
        server.shutdown()
        server.server_close()
    started = time.monotonic()
    assert hook.wait(timeout=30) == 0
    assert time.monotonic() - started < 15  # within a few polls of the leader going away


def test_worker_pre_stop_is_bounded_by_the_drain_time() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        started = time.monotonic()
        hook = _run_worker_pre_stop(server.server_address[1], drain_s=3)
        assert hook.wait(timeout=30) == 0
        assert time.monotonic() - started < 20
    finally:
        server.shutdown()
        server.server_close()
