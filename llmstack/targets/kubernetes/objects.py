"""Every Kubernetes object of a stack, grouped by the component that owns it.

The one source of truth for both edges: :mod:`.rendering` writes these dicts as YAML and
:mod:`.components` hands the same dicts to pulumi-kubernetes. :func:`build` runs every
check first (names, the capacity model's validity rules, pool sizes), so nothing is
rendered or registered for a stack that cannot run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from llmstack.artifacts import gateway
from llmstack.capacity import planning, startup, throughput
from llmstack.spec.models import StackSpec
from llmstack.spec.resolving import ResolvedDeployment
from llmstack.targets.kubernetes import (
    batch,
    controller,
    engines,
    meta,
    naming,
    networking,
    observability,
    resolved,
    routing,
    sizing,
)
from llmstack.targets.kubernetes.options import KubernetesOptions

Manifest = dict[str, Any]


@dataclass(frozen=True)
class StackObjects:
    """The objects of one stack: shared (namespace, cache claim), per deployment, router, job, monitoring,
    and the in-cluster controller (empty unless ``controller.enabled``)."""

    options: KubernetesOptions
    shared: list[Manifest]
    deployments: dict[str, list[Manifest]]
    routers: dict[str, list[Manifest]]
    monitoring: list[Manifest]
    batch_jobs: dict[str, list[Manifest]]
    shapes: dict[str, sizing.PodShape] = field(default_factory=dict)
    stack: StackSpec | None = None
    """The spec these objects were built from (``LlmStackArgs`` refuses to pair them with another)."""
    controller: list[Manifest] = field(default_factory=list)
    """``llmstack-controller`` and its RBAC, claim, Service, monitor, and KEDA ScaledObjects."""

    def all(self) -> list[Manifest]:
        """Every object, in apply order (namespace first)."""
        out = list(self.shared)
        for group in (self.deployments, self.routers):
            for name in sorted(group):
                out += group[name]
        out += self.monitoring
        out += self.controller
        for name in sorted(self.batch_jobs):
            out += self.batch_jobs[name]
        return out


def namespace(options: KubernetesOptions) -> Manifest:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta.metadata(options.namespace, None, meta.PART_OF)}


def check(stack: StackSpec) -> tuple[dict[str, ResolvedDeployment], dict[str, sizing.PodShape]]:
    """Run every check the target needs before anything is built: names, the capacity model's
    validity rules (``planning.check_stack``), pool sizes and pod shapes."""
    naming.check_names(stack)
    checked = planning.check_stack(stack)
    sizing.check_pools(stack, checked)
    return {r.deployment.name: r for r in checked}, {r.deployment.name: sizing.shape(r) for r in checked}


def resolve(stack: StackSpec, options: KubernetesOptions) -> dict[str, resolved.KubeDeployment]:
    """Every deployment checked and resolved once (names, labels, selectors, pod shape, serve arguments)."""
    checked, shapes = check(stack)
    return {d.name: resolved.deployment(stack, checked[d.name], shapes[d.name], options) for d in stack.deployments}


def deployment_objects(stack: StackSpec, kd: resolved.KubeDeployment, options: KubernetesOptions) -> list[Manifest]:
    """Engine workload, Services, PDB and NetworkPolicy; InferencePool and picker when a gateway routes to it."""
    gateways = sorted({gateway.gateway_namespace(r, options.namespace) for r in stack.routers
                       if r.implementation == "inference-gateway"
                       and any(kd.name in route.backends for route in r.routes)})
    objs = [*engines.deployment_objects(kd, options), networking.engine_policy(kd, options, gateways)]
    if gateways:
        objs += gateway.pool_objects(stack, kd.address, kd.namespace, kd.labels, networking.prometheus_peer(options),
                                     hold_s=hold_s(kd))
    return objs


def hold_s(kd: resolved.KubeDeployment) -> int | None:
    """How long the endpoint picker holds a request for a deployment that may be at zero replicas: the same
    hold as the HAProxy routers' (:func:`llmstack.capacity.startup.hold_timeout_s`: ``replicas.hold_timeout``,
    else 1.5 x the cold start), at most the route timeout, which ends a held request anyway; None for a
    deployment that always has a replica."""
    if not kd.spec.replicas.scales_to_zero:
        return None
    held_s = startup.hold_timeout_s(kd.spec.replicas, throughput.profile(kd.resolved))
    return min(gateway.ROUTE_TIMEOUT_S, math.ceil(held_s))


def router_objects(stack: StackSpec, router: resolved.KubeRouter, options: KubernetesOptions) -> list[Manifest]:
    """HAProxy (ConfigMap, Deployment, Service, NetworkPolicy) or the Gateway API objects of one router."""
    if router.spec.implementation == "inference-gateway":
        return gateway.router_objects(router.spec, router.namespace, router.labels)
    return [*routing.router_objects(stack, router, options), networking.router_policy(router, options)]


def build(stack: StackSpec, options: KubernetesOptions | None = None) -> StackObjects:
    """All objects of ``stack`` (checked first)."""
    options = options or KubernetesOptions()
    kds = resolve(stack, options)
    routers = [resolved.router(stack, r, options) for r in stack.routers]
    shared: list[Manifest] = [namespace(options)] if options.create_namespace else []
    claim = engines.model_cache_claim(options)
    if claim is not None:
        shared.append(claim)
    return StackObjects(
        options=options,
        shared=shared,
        deployments={name: deployment_objects(stack, kd, options) for name, kd in kds.items()},
        routers={r.name: router_objects(stack, r, options) for r in routers},
        monitoring=observability.monitoring_objects(stack, list(kds.values()), routers, options),
        batch_jobs={job.name: batch.batch_objects(stack, job, kds[job.deployment], options)
                    for job in stack.batch_jobs},
        shapes={name: kd.shape for name, kd in kds.items()},
        stack=stack,
        controller=controller.objects(stack, list(kds.values()), options),
    )
