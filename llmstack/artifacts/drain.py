"""How long a replica needs to stop without failing a request it has taken (graceful drain).

A replica that is scaled in goes through three steps, each sized here for every target:

1. **Deregistration**: the router stops sending it new requests. This is target-specific (a
   Kubernetes ``preStop`` wait while the terminating pod leaves the endpoints, the router's DNS
   and the endpoint picker; see :mod:`llmstack.targets.kubernetes.draining`), so the caller
   passes it in as ``deregister_s``.
2. **Drain**: vLLM gets SIGTERM and finishes the requests it has. vLLM 0.32/0.33's
   ``--shutdown-timeout N`` (``vllm/entrypoints/launchers/launcher.py`` ``handle_shutdown`` and
   ``EngineCore._handle_shutdown``): 0, vLLM's default, aborts every in-flight request at
   SIGTERM; N > 0 is drain mode, where the engine rejects new requests and runs the ones it has
   for up to N seconds. N is the deployment's longest expected request: ``max_model_len`` output
   tokens at the TPOT SLO after the TTFT SLO (``slo.ttft_p95_ms + max_model_len *
   slo.tpot_p95_ms``), where ``max_model_len`` is the deployment's ``engine.max_model_len`` or,
   unset, the model's context (``max_position_embeddings``, what vLLM and the capacity model use).
   It is capped at :data:`DRAIN_CAP_S` (600 s), for two reasons: the inference-gateway route
   ends any request after 600 s (``gateway.ROUTE_TIMEOUT_S``), so no longer request can be served
   anyway, and the Kubernetes cluster-autoscaler waits at most 600 s
   (``--max-graceful-termination-sec`` default) for a pod on a node it removes. A request that
   would run longer than the cap is cut at the cap; :attr:`DrainPlan.capped` says so.
3. **Teardown**: vLLM frees the GPU and exits (:data:`TEARDOWN_MARGIN_S`).

The stop deadline (Kubernetes ``terminationGracePeriodSeconds``, Docker's stop timeout) is the
sum of the three, so nothing is killed while it still drains.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from llmstack.spec import resolving
from llmstack.spec.models import SloSpec, StackSpec

DRAIN_CAP_S = 600
"""Longest drain rendered: the inference-gateway route timeout (``gateway.ROUTE_TIMEOUT_S``, kept equal
by a test; not imported, since the gateway module imports the serve arguments that import this one)
and cluster-autoscaler's graceful limit."""
TEARDOWN_MARGIN_S = 30
"""After the drain: the engine core and its workers exit and release GPU memory (tens of seconds
for a multi-GPU replica), then the API server closes."""
SHUTDOWN_FLAG = "--shutdown-timeout"


@dataclass(frozen=True)
class DrainPlan:
    """The stop timings of one deployment's replicas."""

    max_model_len: int
    longest_request_s: float
    """TTFT SLO plus ``max_model_len`` output tokens at the TPOT SLO, uncapped."""
    shutdown_timeout_s: int
    """vLLM's ``--shutdown-timeout``: the longest request, rounded up, at most :data:`DRAIN_CAP_S`."""
    deregister_s: int
    """Wait before SIGTERM while the router stops sending (Kubernetes: the preStop sleep)."""
    grace_period_s: int
    """Deregistration + drain + teardown: when the replica is killed if still running."""

    @property
    def capped(self) -> bool:
        return self.longest_request_s > DRAIN_CAP_S


def longest_request_s(slo: SloSpec, max_model_len: int) -> float:
    """Seconds of a request that generates ``max_model_len`` tokens at the SLO's p95 TTFT and TPOT."""
    return (slo.ttft_p95_ms + max_model_len * slo.tpot_p95_ms) / 1000


def max_model_len(stack: StackSpec, deployment: str) -> int:
    """The deployment's context length: ``engine.max_model_len``, else the architecture's (vLLM's default)."""
    spec = stack.deployment(deployment)
    if spec.engine.max_model_len is not None:
        return spec.engine.max_model_len
    return resolving.resolve(stack, spec).architecture.max_position_embeddings


def shutdown_timeout_s(stack: StackSpec, deployment: str) -> int:
    """vLLM's ``--shutdown-timeout`` for ``deployment`` (drain mode: always at least 1)."""
    longest = longest_request_s(stack.deployment(deployment).slo, max_model_len(stack, deployment))
    return max(1, min(DRAIN_CAP_S, math.ceil(longest)))


def plan(stack: StackSpec, deployment: str, *, deregister_s: int) -> DrainPlan:
    """The drain timings of ``deployment`` for a target whose routers need ``deregister_s`` to stop sending."""
    context = max_model_len(stack, deployment)
    drain_s = shutdown_timeout_s(stack, deployment)
    return DrainPlan(
        max_model_len=context,
        longest_request_s=longest_request_s(stack.deployment(deployment).slo, context),
        shutdown_timeout_s=drain_s,
        deregister_s=deregister_s,
        grace_period_s=deregister_s + drain_s + TEARDOWN_MARGIN_S,
    )
