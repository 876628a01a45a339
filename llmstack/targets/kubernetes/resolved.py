"""A deployment and a router resolved once for every manifest builder.

:func:`deployment` looks up everything a deployment's objects need (pool, variant,
capacity model pod shape, names, labels, selectors, ``vllm serve`` arguments) in one
place; the engine, Service, PDB, NetworkPolicy, PodMonitor and gateway builders take the
:class:`KubeDeployment` instead of recomputing it from the whole ``StackSpec``.
"""

from __future__ import annotations

from dataclasses import dataclass

from llmstack.artifacts import addressing, labels, vllm_args
from llmstack.artifacts.drain import DrainPlan
from llmstack.spec.models import AcceleratorSpec, DeploymentSpec, PoolSpec, RouterSpec, StackSpec
from llmstack.spec.resolving import ResolvedDeployment
from llmstack.targets.kubernetes import draining
from llmstack.targets.kubernetes.options import KubernetesOptions
from llmstack.targets.kubernetes.sizing import PodShape

RAY_EXECUTOR = ("--distributed-executor-backend", "ray")


@dataclass(frozen=True)
class KubeDeployment:
    """One model deployment as the Kubernetes target builds it."""

    resolved: ResolvedDeployment
    shape: PodShape
    address: addressing.DeploymentAddress
    labels: dict[str, str]
    """Labels of the workload and its pods (``labels.k8s_labels``)."""
    serve_args: tuple[str, ...]
    """``vllm serve`` arguments (with the Ray executor when a replica spans nodes)."""
    namespace: str
    drain: DrainPlan
    """preStop wait, vLLM drain and grace period of the engine pods (:mod:`.draining`)."""

    @property
    def name(self) -> str:
        return self.resolved.deployment.name

    @property
    def spec(self) -> DeploymentSpec:
        return self.resolved.deployment

    @property
    def pool(self) -> PoolSpec:
        return self.resolved.pool

    @property
    def accelerator(self) -> AcceleratorSpec:
        return self.resolved.accelerator


@dataclass(frozen=True)
class KubeRouter:
    """One router as the Kubernetes target builds it."""

    spec: RouterSpec
    object_name: str
    labels: dict[str, str]
    selector: dict[str, str]
    namespace: str
    url: str
    """HAProxy: the Service URL in the cluster; inference-gateway: ``gateway <namespace>/<name>``."""

    @property
    def name(self) -> str:
        return self.spec.name


def cluster(options: KubernetesOptions) -> addressing.Cluster:
    return addressing.Cluster(options.namespace, options.cluster_domain)


def deployment(stack: StackSpec, resolved: ResolvedDeployment, shape: PodShape,
               options: KubernetesOptions) -> KubeDeployment:
    name = resolved.deployment.name
    extra = RAY_EXECUTOR if shape.multi_node else ()
    return KubeDeployment(
        resolved=resolved,
        shape=shape,
        address=addressing.DeploymentAddress.of(stack, name),
        labels=labels.k8s_labels(stack, name),
        serve_args=tuple(vllm_args.serve_args(stack, name, port=addressing.ENGINE_PORT, extra=extra)),
        namespace=options.namespace,
        drain=draining.drain_plan(stack, name),
    )


def router(stack: StackSpec, spec: RouterSpec, options: KubernetesOptions) -> KubeRouter:
    pod_labels = labels.router_k8s_labels(stack, spec.name)
    return KubeRouter(
        spec=spec,
        object_name=addressing.router(spec.name),
        labels=pod_labels,
        selector={k: pod_labels[k] for k in ("app.kubernetes.io/instance", labels.K8S_ROUTER)},
        namespace=options.namespace,
        url=(addressing.router_url(stack, spec.name, cluster(options)) if spec.implementation == "haproxy"
             else f"gateway {spec.gateway.namespace or options.namespace}/{spec.gateway.name}"),
    )
