"""Pulumi ComponentResources of the Kubernetes target: LlmStack, ModelDeployment, Router,
Monitoring and BatchJob.

Each component receives the manifests :mod:`.objects` built (the same dicts ``render``
writes) and registers one pulumi-kubernetes resource per object, as a child. Built-in kinds
use their typed resource (``apps.v1.Deployment(metadata=..., spec=...)``); CRD kinds
(LeaderWorkerSet, PodMonitor, PrometheusRule) use ``apiextensions.CustomResource``. No
validation or arithmetic happens here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from llmstack.spec.models import StackSpec
from llmstack.targets.kubernetes import engines, meta, naming, routing
from llmstack.targets.kubernetes import objects as stack_objects
from llmstack.targets.kubernetes.objects import Manifest, StackObjects
from llmstack.targets.kubernetes.options import KubernetesOptions

SLOW_ROLLOUT = pulumi.CustomTimeouts(create="60m", update="60m")
"""Engines download and load weights before they are ready: allow an hour per rollout."""
SKIP_AWAIT = {"pulumi.com/skipAwait": "true"}

_KINDS: dict[tuple[str, str], Callable[..., pulumi.CustomResource]] = {
    ("v1", "Namespace"): k8s.core.v1.Namespace,
    ("v1", "Service"): k8s.core.v1.Service,
    ("v1", "ConfigMap"): k8s.core.v1.ConfigMap,
    ("v1", "Secret"): k8s.core.v1.Secret,
    ("v1", "ServiceAccount"): k8s.core.v1.ServiceAccount,
    ("v1", "PersistentVolumeClaim"): k8s.core.v1.PersistentVolumeClaim,
    ("apps/v1", "Deployment"): k8s.apps.v1.Deployment,
    ("apps/v1", "DaemonSet"): k8s.apps.v1.DaemonSet,
    ("batch/v1", "Job"): k8s.batch.v1.Job,
    ("policy/v1", "PodDisruptionBudget"): k8s.policy.v1.PodDisruptionBudget,
    ("networking.k8s.io/v1", "NetworkPolicy"): k8s.networking.v1.NetworkPolicy,
    ("rbac.authorization.k8s.io/v1", "Role"): k8s.rbac.v1.Role,
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): k8s.rbac.v1.RoleBinding,
}


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def resource_name(obj: Manifest) -> str:
    """Pulumi name of an object: its Kubernetes name (the type in the URN tells kinds apart)."""
    return str(obj["metadata"]["name"])


def register(obj: Manifest, parent: pulumi.Resource, opts: pulumi.ResourceOptions | None = None,
             ) -> pulumi.CustomResource:
    """One pulumi-kubernetes resource for ``obj``, child of ``parent``."""
    options = pulumi.ResourceOptions.merge(pulumi.ResourceOptions(parent=parent), opts)
    key = (obj["apiVersion"], obj["kind"])
    fields = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
    factory = _KINDS.get(key)
    if factory is None:
        extra = {k: v for k, v in fields.items() if k not in ("metadata", "spec")}
        resource = k8s.apiextensions.CustomResource(
            resource_name(obj), api_version=obj["apiVersion"], kind=obj["kind"], metadata=fields.get("metadata"),
            spec=fields.get("spec"), opts=options, **extra)
        return resource
    return factory(resource_name(obj), opts=options, **{_snake(k): v for k, v in fields.items()})


def _register_all(objs: Sequence[Manifest], parent: pulumi.Resource,
                  opts: pulumi.ResourceOptions | None = None) -> list[pulumi.CustomResource]:
    return [register(obj, parent, opts) for obj in objs]


def _workload(obj: Manifest) -> bool:
    return obj["kind"] in ("Deployment", "LeaderWorkerSet", "DaemonSet")


@dataclass(frozen=True)
class ModelDeploymentArgs:
    stack: StackSpec
    deployment: str
    objects: list[Manifest]
    namespace: str


class ModelDeployment(pulumi.ComponentResource):
    """A model deployment: vLLM workload (Deployment or LeaderWorkerSet), Services, PDB, NetworkPolicy."""

    url: pulumi.Output[str]
    replicas: pulumi.Output[int]

    def __init__(self, name: str, args: ModelDeploymentArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmstack:kubernetes:ModelDeployment", name, None, opts)
        slow = pulumi.ResourceOptions(custom_timeouts=SLOW_ROLLOUT)
        self.resources = [register(obj, self, slow if _workload(obj) else None) for obj in args.objects]
        spec = args.stack.deployment(args.deployment)
        self.url = pulumi.Output.from_input(
            f"http://{naming.engine(args.deployment)}.{args.namespace}.svc:{meta.ENGINE_PORT}")
        self.replicas = pulumi.Output.from_input(spec.replicas.start)
        self.register_outputs({"url": self.url, "replicas": self.replicas})


@dataclass(frozen=True)
class RouterArgs:
    stack: StackSpec
    router: str
    objects: list[Manifest]
    endpoint: str


class Router(pulumi.ComponentResource):
    """HAProxy router: ConfigMap with haproxy.cfg, Deployment, Service."""

    endpoint: pulumi.Output[str]

    def __init__(self, name: str, args: RouterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmstack:kubernetes:Router", name, None, opts)
        self.resources = _register_all(args.objects, self)
        self.endpoint = pulumi.Output.from_input(args.endpoint)
        self.register_outputs({"endpoint": self.endpoint})


@dataclass(frozen=True)
class MonitoringArgs:
    objects: list[Manifest]


class Monitoring(pulumi.ComponentResource):
    """PodMonitors, PrometheusRule, dashboards and DCGM exporters (or a plain Prometheus)."""

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmstack:kubernetes:Monitoring", name, None, opts)
        self.resources = _register_all(args.objects, self)
        self.register_outputs({"objects": len(self.resources)})


@dataclass(frozen=True)
class BatchJobArgs:
    objects: list[Manifest]


class BatchJob(pulumi.ComponentResource):
    """``vllm run-batch`` Job and its data claim; ``pulumi up`` does not wait for the job to finish."""

    def __init__(self, name: str, args: BatchJobArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmstack:kubernetes:BatchJob", name, None, opts)
        objs = []
        for obj in args.objects:
            if obj["kind"] == "Job":
                annotations = {**obj["metadata"].get("annotations", {}), **SKIP_AWAIT}
                obj = {**obj, "metadata": {**obj["metadata"], "annotations": annotations}}
            objs.append(obj)
        self.resources = _register_all(objs, self)
        self.register_outputs({})


@dataclass(frozen=True)
class LlmStackArgs:
    stack: StackSpec
    objects: StackObjects
    hf_token: pulumi.Input[str] | None = None

    @classmethod
    def from_spec(cls, stack: StackSpec, hf_token: pulumi.Input[str] | None = None,
                  options: KubernetesOptions | None = None) -> LlmStackArgs:
        """Check ``stack`` (capacity model, names, pools) and build its objects; raises before any resource."""
        return cls(stack, stack_objects.build(stack, options), hf_token)


class LlmStack(pulumi.ComponentResource):
    """The whole stack on one cluster: namespace, HF token Secret, deployments, routers, monitoring, jobs."""

    router_endpoints: dict[str, pulumi.Output[str]]
    replicas: dict[str, int]
    gpus_in_use: int
    cost_per_hour: float

    def __init__(self, name: str, args: LlmStackArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmstack:kubernetes:LlmStack", name, None, opts)
        built, stack = args.objects, args.stack
        namespace = built.options.namespace
        self.shared = _register_all(built.shared, self)
        after_shared = pulumi.ResourceOptions(depends_on=list(self.shared))
        self.hf_token_secret: k8s.core.v1.Secret | None = None
        depends: list[pulumi.Resource] = list(self.shared)
        if args.hf_token is not None:
            self.hf_token_secret = k8s.core.v1.Secret(
                built.options.hf_token_secret,
                metadata={"name": built.options.hf_token_secret, "namespace": namespace,
                          "labels": {"app.kubernetes.io/part-of": "llmstack"}},
                type="Opaque",
                string_data={engines.HF_TOKEN_KEY: pulumi.Output.secret(args.hf_token)},
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(self.shared)),
            )
            depends.append(self.hf_token_secret)
        child = pulumi.ResourceOptions(parent=self, depends_on=depends)
        self.deployments = {
            d: ModelDeployment(d, ModelDeploymentArgs(stack, d, objs, namespace), child)
            for d, objs in sorted(built.deployments.items())
        }
        self.routers = {
            r: Router(r, RouterArgs(stack, r, objs, routing.endpoint(stack, r, built.options)),
                      pulumi.ResourceOptions(parent=self, depends_on=list(self.shared)))
            for r, objs in sorted(built.routers.items())
        }
        self.monitoring = Monitoring(f"{name}-monitoring", MonitoringArgs(built.monitoring),
                                     pulumi.ResourceOptions.merge(pulumi.ResourceOptions(parent=self), after_shared))
        self.batch_jobs = {
            j: BatchJob(j, BatchJobArgs(objs), child) for j, objs in sorted(built.batch_jobs.items())
        }
        self.router_endpoints = {r: router.endpoint for r, router in self.routers.items()}
        self.replicas = {d.name: d.replicas.start for d in stack.deployments}
        self.gpus_in_use = sum(d.replicas.start * built.shapes[d.name].gpus_per_replica for d in stack.deployments)
        self.cost_per_hour = round(sum(
            stack.pool(d.pool).cost_per_hour(d.replicas.start * built.shapes[d.name].gpus_per_replica)
            for d in stack.deployments), 2)
        self.register_outputs({
            "routerEndpoints": self.router_endpoints,
            "replicas": self.replicas,
            "gpusInUse": self.gpus_in_use,
            "costPerHour": self.cost_per_hour,
        })
