"""Graceful drain of engine pods on scale-in: the preStop wait and terminationGracePeriodSeconds.

What happens when a replica's pod is deleted (scale-in, rollout, node drain):

1. The pod gets a ``deletionTimestamp``. The EndpointSlice controller marks its endpoint
   ``ready: false, terminating: true`` at once, whatever the readiness probe says, so kube-proxy
   (ClusterIP Service), the headless Service's DNS and the endpoint picker (gateway-api-inference-
   extension v1.5 drops a pod with a ``deletionTimestamp`` from its datastore, ``pkg/epp/util/pod``
   ``IsPodReady``) stop choosing it. "Readiness off first" is this: a terminating pod is unready
   for every router without a probe failing.
2. The ``preStop`` hook sleeps :func:`deregister_s` while that change reaches the routers; vLLM
   keeps serving in the meantime, so a request routed to the pod before the routers learned is
   still answered in full.
3. SIGTERM: vLLM (``--shutdown-timeout``, :mod:`llmstack.artifacts.drain`) refuses new requests
   and finishes its in-flight ones. It keeps ``/health`` at 200 while draining (``/health`` fails
   only when the engine is dead), so probes are left as they are: the readiness probe would not
   notice the drain anyway, and the liveness probe must not kill a draining engine (the kubelet
   does not restart a terminating container). The preStop wait, not a probe, is what keeps new
   requests away from a draining engine.
4. ``terminationGracePeriodSeconds`` = preStop + drain + teardown: SIGKILL only after that.

The wait in step 2 depends on the routers of the deployment, and the longest one counts:

- every pod: :data:`ENDPOINTS_PROPAGATION_S` for the EndpointSlice update to reach kube-proxy
  and the endpoint picker's pod watch;
- HAProxy routers resolve the headless Service: the kube-dns record TTL
  (:data:`KUBE_DNS_TTL_S`, CoreDNS's ``kubernetes`` plugin default), the next resolution
  (``haproxy.DNS_RESOLVE_INTERVAL_S``) and HAProxy's ``hold obsolete``
  (``haproxy.DNS_HOLD_OBSOLETE_S``, a vanished address keeps its server that long) on top.

LeaderWorkerSet groups: the whole group is deleted together, and a worker that stops takes its
Ray actors and GPUs from the leader's running requests. So workers get a preStop that first
waits the same deregistration time, then waits while the leader still answers ``/health``
(at most the drain time), and the same grace period as the leader.
"""

from __future__ import annotations

import shlex
from typing import Any

from llmstack.artifacts import drain, haproxy
from llmstack.spec.models import StackSpec
from llmstack.targets.kubernetes import meta

ENDPOINTS_PROPAGATION_S = 5
"""Pod deletion -> EndpointSlice update -> kube-proxy rules and the endpoint picker's pod watch."""
KUBE_DNS_TTL_S = 5
"""TTL of a headless Service's records in CoreDNS (``kubernetes`` plugin ``ttl`` default)."""
LEADER_POLL_S = 2


def deregister_s(stack: StackSpec, deployment: str) -> int:
    """Seconds the preStop hook waits so that every router of ``deployment`` has stopped sending."""
    haproxy_routed = any(r.implementation == "haproxy" and any(deployment in route.backends for route in r.routes)
                         for r in stack.routers)
    wait = ENDPOINTS_PROPAGATION_S
    if haproxy_routed:
        wait += KUBE_DNS_TTL_S + haproxy.DNS_RESOLVE_INTERVAL_S + haproxy.DNS_HOLD_OBSOLETE_S
    return wait


def drain_plan(stack: StackSpec, deployment: str) -> drain.DrainPlan:
    """The deployment's stop timings on Kubernetes."""
    return drain.plan(stack, deployment, deregister_s=deregister_s(stack, deployment))


def leader_pre_stop(plan: drain.DrainPlan) -> dict[str, Any]:
    """``lifecycle`` of a serving container: sleep while the routers stop sending, then SIGTERM drains."""
    return {"preStop": {"exec": {"command": ["sleep", str(plan.deregister_s)]}}}


def worker_pre_stop(plan: drain.DrainPlan, port: int = meta.ENGINE_PORT) -> dict[str, Any]:
    """``lifecycle`` of a Ray worker: stay up while the group's leader drains (bounded by the drain time).

    The leader's address comes from ``LWS_LEADER_ADDRESS``, which LeaderWorkerSet sets in every pod.
    """
    probe = ("import os, urllib.request; urllib.request.urlopen('http://%s:"
             f"{port}{haproxy.HEALTH_PATH}' % os.environ['LWS_LEADER_ADDRESS'], timeout={LEADER_POLL_S})")
    script = "\n".join([
        f"sleep {plan.deregister_s}",
        f"end=$(( $(date +%s) + {plan.shutdown_timeout_s} ))",
        f"while [ \"$(date +%s)\" -lt \"$end\" ] && python3 -c {shlex.quote(probe)} 2>/dev/null; do",
        f"  sleep {LEADER_POLL_S}",
        "done",
    ])
    return {"preStop": {"exec": {"command": ["/bin/sh", "-c", script]}}}
