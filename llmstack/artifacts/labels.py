"""Labels that tie engines, scrape targets, dashboards and policies together.

Contract: every vLLM engine and every GPU it uses is scraped with the Prometheus target
labels of :func:`engine_labels` (``deployment``, ``model``, ``variant``, ``pool`` and
``llmstack_role="engine"``), so every signal in :mod:`llmstack.catalog.signals` can group
``by (deployment)``. On Kubernetes the pods carry :func:`k8s_labels` and Prometheus maps
the ``llmstack.io/*`` pod labels onto those target labels (see
:meth:`llmstack.artifacts.prometheus.ScrapeTargets.kubernetes`).
"""

from __future__ import annotations

from llmstack.errors import LlmstackError
from llmstack.spec.models import StackSpec

ENGINE_ROLE = "engine"
ROUTER_ROLE = "router"
CONTROLLER_ROLE = "controller"
"""``app.kubernetes.io/component`` of the in-cluster policy engine (``llmstack controller``)."""
CONTROLLER_METRICS_PORT_NAME = "metrics"
CONTROLLER_PORT = 9400
ROLE_LABEL = "llmstack_role"

ENGINE_PORT_NAME = "http"
"""Name of the engine container port on Kubernetes (vLLM's OpenAI server and /metrics)."""
ROUTER_PORT_NAME = "http"
ROUTER_METRICS_PORT_NAME = "stats"
"""Name of the router container port serving HAProxy's /metrics (the stats frontend)."""

K8S_DEPLOYMENT = "llmstack.io/deployment"
K8S_MODEL = "llmstack.io/model"
K8S_VARIANT = "llmstack.io/variant"
K8S_POOL = "llmstack.io/pool"
K8S_ROUTER = "llmstack.io/router"
K8S_COMPONENT = "app.kubernetes.io/component"


def engine_labels(stack: StackSpec, deployment: str) -> dict[str, str]:
    """Prometheus target labels of one deployment's engines (and of the GPUs they use)."""
    spec = stack.deployment(deployment)
    return {
        "deployment": spec.name,
        "model": spec.model,
        "variant": spec.variant,
        "pool": spec.pool,
        ROLE_LABEL: ENGINE_ROLE,
    }


def selector_labels(stack: StackSpec, deployment: str) -> dict[str, str]:
    """The immutable subset of :func:`k8s_labels` for a workload's selector.

    Variant and pool change when the policy engine switches them; a Deployment's selector
    cannot change, so it selects on stack and deployment only.
    """
    spec = stack.deployment(deployment)
    return {
        "app.kubernetes.io/name": "vllm",
        "app.kubernetes.io/instance": f"{stack.name}-{spec.name}",
        K8S_DEPLOYMENT: spec.name,
    }


def k8s_labels(stack: StackSpec, deployment: str) -> dict[str, str]:
    """Kubernetes labels of a deployment's workload and pods."""
    spec = stack.deployment(deployment)
    return {
        **selector_labels(stack, deployment),
        K8S_COMPONENT: ENGINE_ROLE,
        "app.kubernetes.io/part-of": "llmstack",
        "app.kubernetes.io/managed-by": "llmstack",
        K8S_MODEL: spec.model,
        K8S_VARIANT: spec.variant,
        K8S_POOL: spec.pool,
    }


def router_k8s_labels(stack: StackSpec, router: str) -> dict[str, str]:
    """Kubernetes labels of a router's objects (HAProxy workload and pods, or its HTTPRoute)."""
    specs = {r.name: r for r in stack.routers}
    if router not in specs:
        raise LlmstackError(f"unknown router {router!r}", hint=f"routers are {sorted(specs)}")
    return {
        "app.kubernetes.io/name": "haproxy" if specs[router].implementation == "haproxy" else "inference-gateway",
        "app.kubernetes.io/instance": f"{stack.name}-{router}",
        K8S_COMPONENT: ROUTER_ROLE,
        "app.kubernetes.io/part-of": "llmstack",
        "app.kubernetes.io/managed-by": "llmstack",
        K8S_ROUTER: router,
    }
