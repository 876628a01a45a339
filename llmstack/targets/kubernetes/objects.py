"""Every Kubernetes object of a stack, grouped by the component that owns it.

The one source of truth for both edges: :mod:`.rendering` writes these dicts as YAML and
:mod:`.components` hands the same dicts to pulumi-kubernetes. :func:`build` runs every
check first (names, the capacity model's validity rules, pool sizes), so nothing is
rendered or registered for a stack that cannot run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from llmstack.capacity import planning
from llmstack.spec.models import StackSpec
from llmstack.spec.resolving import ResolvedDeployment
from llmstack.targets.kubernetes import batch, engines, meta, naming, networking, observability, routing, sizing
from llmstack.targets.kubernetes.options import KubernetesOptions

Manifest = dict[str, Any]


@dataclass(frozen=True)
class StackObjects:
    """The objects of one stack: shared (namespace, cache claim), per deployment, router, job, and monitoring."""

    options: KubernetesOptions
    shared: list[Manifest]
    deployments: dict[str, list[Manifest]]
    routers: dict[str, list[Manifest]]
    monitoring: list[Manifest]
    batch_jobs: dict[str, list[Manifest]]
    shapes: dict[str, sizing.PodShape] = field(default_factory=dict)
    stack: StackSpec | None = None
    """The spec these objects were built from (``LlmStackArgs`` refuses to pair them with another)."""

    def all(self) -> list[Manifest]:
        """Every object, in apply order (namespace first)."""
        out = list(self.shared)
        for group in (self.deployments, self.routers):
            for name in sorted(group):
                out += group[name]
        out += self.monitoring
        for name in sorted(self.batch_jobs):
            out += self.batch_jobs[name]
        return out


def namespace(options: KubernetesOptions) -> Manifest:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta.metadata(options.namespace, None, meta.PART_OF)}


def check(stack: StackSpec) -> tuple[dict[str, ResolvedDeployment], dict[str, sizing.PodShape]]:
    """Run every check the target needs before anything is built: names, the capacity model's
    validity rules (``planning.check_stack``), pool sizes and pod shapes."""
    naming.check_names(stack)
    resolved = planning.check_stack(stack)
    sizing.check_pools(stack, resolved)
    return {r.deployment.name: r for r in resolved}, {r.deployment.name: sizing.shape(r) for r in resolved}


def build(stack: StackSpec, options: KubernetesOptions | None = None) -> StackObjects:
    """All objects of ``stack`` (checked first)."""
    options = options or KubernetesOptions()
    resolved, shapes = check(stack)
    shared: list[Manifest] = [namespace(options)] if options.create_namespace else []
    claim = engines.model_cache_claim(options)
    if claim is not None:
        shared.append(claim)
    deployments = {
        d.name: [*engines.deployment_objects(stack, resolved[d.name], shapes[d.name], options),
                 networking.engine_policy(stack, d.name, options)]
        for d in stack.deployments
    }
    routers = {r.name: routing.router_objects(stack, r.name, options) for r in stack.routers}
    jobs = {
        job.name: batch.batch_objects(stack, job, resolved[job.deployment], shapes[job.deployment], options)
        for job in stack.batch_jobs
    }
    return StackObjects(
        options=options,
        shared=shared,
        deployments=deployments,
        routers=routers,
        monitoring=observability.monitoring_objects(stack, options),
        batch_jobs=jobs,
        shapes=shapes,
        stack=stack,
    )
