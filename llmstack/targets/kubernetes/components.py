"""Pulumi ComponentResources of the Kubernetes target: LlmStack, ModelDeployment, Router,
Monitoring, Controller and BatchJob.

Each component receives the manifests :mod:`.objects` built (the same dicts ``render``
writes) and registers one pulumi-kubernetes resource per object, as a child. Built-in kinds
use their typed resource (``apps.v1.Deployment(metadata=..., spec=...)``); CRD kinds
(LeaderWorkerSet, PodMonitor, PrometheusRule) use ``apiextensions.CustomResource``. No
validation or arithmetic happens here.

Names follow :mod:`llmstack.targets.resource_names`: every resource under an ``LlmStack``
named ``demo`` is ``demo-<metadata.name>`` (child components ``demo-<deployment>``), aliased
to the name earlier versions gave it. Outputs are read from the registered resources (a
URL from its Service's metadata and port, replicas from the workload's spec), so they show
what Pulumi deployed. The ``opts`` given to a component (provider, protect,
transformations) reach every child through ``parent``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from llmstack.errors import LlmstackError
from llmstack.spec.models import StackSpec
from llmstack.targets import resource_names
from llmstack.targets.kubernetes import engines, naming
from llmstack.targets.kubernetes import objects as stack_objects
from llmstack.targets.kubernetes.objects import Manifest, StackObjects
from llmstack.targets.kubernetes.options import KubernetesOptions

__all__ = [
    "BatchJob",
    "BatchJobArgs",
    "Controller",
    "ControllerArgs",
    "LlmStack",
    "LlmStackArgs",
    "ModelDeployment",
    "ModelDeploymentArgs",
    "Monitoring",
    "MonitoringArgs",
    "Router",
    "RouterArgs",
    "register",
    "resource_name",
    "service_url",
    "workload_replicas",
]

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


def resource_name(obj: Manifest, prefix: str) -> str:
    """Pulumi name of an object: ``<prefix>-<metadata.name>`` (the type in the URN tells kinds apart)."""
    return resource_names.child(prefix, str(obj["metadata"]["name"]))


def register(obj: Manifest, parent: pulumi.Resource, prefix: str, opts: pulumi.ResourceOptions | None = None,
             ) -> pulumi.CustomResource:
    """One pulumi-kubernetes resource for ``obj``, child of ``parent``, aliased to its bare Kubernetes name."""
    name = resource_name(obj, prefix)
    options = resource_names.options(str(obj["metadata"]["name"]), name, parent, opts)
    key = (obj["apiVersion"], obj["kind"])
    fields = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
    factory = _KINDS.get(key)
    if factory is None:
        extra = {k: v for k, v in fields.items() if k not in ("metadata", "spec")}
        return k8s.apiextensions.CustomResource(
            name, api_version=obj["apiVersion"], kind=obj["kind"], metadata=fields.get("metadata"),
            spec=fields.get("spec"), opts=options, **extra)
    return factory(name, opts=options, **{_snake(k): v for k, v in fields.items()})


def _register_all(objs: Sequence[Manifest], parent: pulumi.Resource, prefix: str,
                  opts: pulumi.ResourceOptions | None = None) -> list[pulumi.CustomResource]:
    return [register(obj, parent, prefix, opts) for obj in objs]


def _workload(obj: Manifest) -> bool:
    return obj["kind"] in ("Deployment", "LeaderWorkerSet", "DaemonSet")


def _find(objs: Sequence[Manifest], resources: Sequence[pulumi.CustomResource], kinds: tuple[str, ...],
          name: str | None = None) -> pulumi.CustomResource | None:
    for obj, resource in zip(objs, resources, strict=True):
        if obj["kind"] in kinds and (name is None or obj["metadata"]["name"] == name):
            return resource
    return None


def service_url(service: pulumi.CustomResource, cluster_domain: str | None = None) -> pulumi.Output[str]:
    """``http://<name>.<namespace>.svc[.<domain>]:<first port>`` from the Service Pulumi registered."""
    assert isinstance(service, k8s.core.v1.Service)
    suffix = f".{cluster_domain}" if cluster_domain else ""

    def url(values: list[Any]) -> str:
        name, namespace, ports = values
        return f"http://{name}.{namespace}.svc{suffix}:{ports[0]['port']}"

    return pulumi.Output.all(service.metadata.name, service.metadata.namespace, service.spec.ports).apply(url)


def workload_replicas(workload: pulumi.CustomResource) -> pulumi.Output[int]:
    """``spec.replicas`` of the registered Deployment or LeaderWorkerSet."""
    if isinstance(workload, k8s.apps.v1.Deployment):
        return workload.spec.replicas
    spec: pulumi.Output[Any] = workload.spec  # type: ignore[attr-defined]  # CustomResource's untyped spec
    return spec.apply(lambda s: int(s["replicas"]))


@dataclass(frozen=True)
class ModelDeploymentArgs:
    stack: StackSpec
    deployment: str
    objects: list[Manifest]
    namespace: str
    prefix: str | None = None
    """Names of the children (``<prefix>-<metadata.name>``); None: this component's name."""


class ModelDeployment(pulumi.ComponentResource):
    """A model deployment: vLLM workload (Deployment or LeaderWorkerSet), Services, PDB, NetworkPolicy."""

    url: pulumi.Output[str]
    replicas: pulumi.Output[int]

    def __init__(self, name: str, args: ModelDeploymentArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmstack:kubernetes:ModelDeployment", name, None, opts)
        controller = args.stack.controller
        keda = controller.enabled and controller.keda.enabled  # its ScaledObject's HPA owns the replica count
        slow = pulumi.ResourceOptions(custom_timeouts=SLOW_ROLLOUT, ignore_changes=["spec.replicas"] if keda else None)
        prefix = args.prefix or name
        self.resources = [register(obj, self, prefix, slow if _workload(obj) else None) for obj in args.objects]
        service = _find(args.objects, self.resources, ("Service",), naming.engine(args.deployment))
        workload = _find(args.objects, self.resources, ("Deployment", "LeaderWorkerSet"))
        if service is None or workload is None:
            raise LlmstackError("the objects hold no engine Service or workload",
                                path=f"deployments[{args.deployment}]")
        self.url = service_url(service)
        self.replicas = workload_replicas(workload)
        self.register_outputs({"url": self.url, "replicas": self.replicas})


@dataclass(frozen=True)
class RouterArgs:
    stack: StackSpec
    router: str
    objects: list[Manifest]
    cluster_domain: str = "cluster.local"
    prefix: str | None = None


class Router(pulumi.ComponentResource):
    """A router: HAProxy (ConfigMap with haproxy.cfg, Deployment, Service, NetworkPolicy), or an
    inference-gateway router's HTTPRoute (and Gateway); its endpoint is then ``gateway <namespace>/<name>``."""

    endpoint: pulumi.Output[str]

    def __init__(self, name: str, args: RouterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmstack:kubernetes:Router", name, None, opts)
        self.resources = _register_all(args.objects, self, args.prefix or name)
        route = next((o for o in args.objects if o["kind"] == "HTTPRoute"), None)
        service = _find(args.objects, self.resources, ("Service",), naming.router(args.router))
        if route is not None:  # inference-gateway: the cluster's Gateway serves it
            parent = route["spec"]["parentRefs"][0]
            self.endpoint = pulumi.Output.from_input(f"gateway {parent['namespace']}/{parent['name']}")
        elif service is None:
            raise LlmstackError("the objects hold no router Service", path=f"routers[{args.router}]")
        else:
            self.endpoint = service_url(service, args.cluster_domain)
        self.register_outputs({"endpoint": self.endpoint})


@dataclass(frozen=True)
class MonitoringArgs:
    objects: list[Manifest]
    prefix: str | None = None


class Monitoring(pulumi.ComponentResource):
    """PodMonitors, PrometheusRule, dashboards and DCGM exporters (or a plain Prometheus)."""

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmstack:kubernetes:Monitoring", name, None, opts)
        self.resources = _register_all(args.objects, self, args.prefix or name)
        self.register_outputs({"objects": len(self.resources)})


@dataclass(frozen=True)
class ControllerArgs:
    objects: list[Manifest]
    prefix: str | None = None


class Controller(pulumi.ComponentResource):
    """The in-cluster policy engine: ``llmstack-controller`` Deployment, its ServiceAccount and RBAC, audit
    claim, spec ConfigMap, metrics Service and monitor, NetworkPolicy, and the KEDA ScaledObjects."""

    def __init__(self, name: str, args: ControllerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmstack:kubernetes:Controller", name, None, opts)
        self.resources = _register_all(args.objects, self, args.prefix or name)
        self.register_outputs({"objects": len(self.resources)})


@dataclass(frozen=True)
class BatchJobArgs:
    objects: list[Manifest]
    prefix: str | None = None


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
        self.resources = _register_all(objs, self, args.prefix or name)
        self.register_outputs({})


@dataclass(frozen=True)
class LlmStackArgs:
    stack: StackSpec
    objects: StackObjects
    hf_token: pulumi.Input[str] | None = None

    def __post_init__(self) -> None:
        if self.objects.stack is not None and self.objects.stack != self.stack:
            raise LlmstackError(
                f"objects were built from stack {self.objects.stack.name!r}, not from this spec "
                f"{self.stack.name!r} (or from it before a change)", path="LlmStackArgs.objects",
                hint="use LlmStackArgs.from_spec(stack), which builds the objects from the same spec")

    @classmethod
    def from_spec(cls, stack: StackSpec, hf_token: pulumi.Input[str] | None = None,
                  options: KubernetesOptions | None = None) -> LlmStackArgs:
        """Check ``stack`` (capacity model, names, pools) and build its objects; raises before any resource."""
        return cls(stack, stack_objects.build(stack, options), hf_token)


class LlmStack(pulumi.ComponentResource):
    """The whole stack on one cluster: namespace, HF token Secret, deployments, routers, monitoring, jobs.

    ``router_endpoints`` and each deployment's ``url``/``replicas`` are read from the registered
    resources; ``replicas``, ``gpus_in_use`` and ``cost_per_hour`` are the plan (from the spec).
    """

    router_endpoints: dict[str, pulumi.Output[str]]
    replicas: dict[str, int]
    gpus_in_use: int
    cost_per_hour: float

    def __init__(self, name: str, args: LlmStackArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmstack:kubernetes:LlmStack", name, None, opts)
        built, stack = args.objects, args.stack
        self.shared = _register_all(built.shared, self, name)
        self.hf_token_secret = self._hf_token_secret(name, args)
        depends: list[pulumi.Resource] = [*self.shared, *([self.hf_token_secret] if self.hf_token_secret else [])]
        self.deployments = {
            d: ModelDeployment(resource_names.child(name, d), ModelDeploymentArgs(
                stack, d, objs, built.options.namespace, prefix=name), self._child(d, name, d, depends))
            for d, objs in sorted(built.deployments.items())
        }
        self.routers = {
            r: Router(resource_names.child(name, r), RouterArgs(stack, r, objs, built.options.cluster_domain, name),
                      self._child(r, name, r, list(self.shared)))
            for r, objs in sorted(built.routers.items())
        }
        monitoring = resource_names.child(name, "monitoring")
        self.monitoring = Monitoring(monitoring, MonitoringArgs(built.monitoring, name),
                                     self._child(monitoring, name, "monitoring", list(self.shared)))
        self.controller = None
        if built.controller:
            local = resource_names.child(name, "controller")
            self.controller = Controller(local, ControllerArgs(built.controller, name),
                                         self._child(local, name, "controller", [*self.deployments.values(),
                                                                                 *self.shared]))
        self.batch_jobs = {
            j: BatchJob(resource_names.child(name, j), BatchJobArgs(objs, name), self._child(j, name, j, depends))
            for j, objs in sorted(built.batch_jobs.items())
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

    def _child(self, previous: str, stack: str, local: str, depends: list[pulumi.Resource]) -> pulumi.ResourceOptions:
        return resource_names.options(previous, resource_names.child(stack, local), self,
                                      pulumi.ResourceOptions(depends_on=depends))

    def _hf_token_secret(self, name: str, args: LlmStackArgs) -> k8s.core.v1.Secret | None:
        if args.hf_token is None:
            return None
        options = args.objects.options
        secret = resource_names.child(name, options.hf_token_secret)
        return k8s.core.v1.Secret(
            secret,
            metadata={"name": options.hf_token_secret, "namespace": options.namespace,
                      "labels": {"app.kubernetes.io/part-of": "llmstack"}},
            type="Opaque",
            string_data={engines.HF_TOKEN_KEY: pulumi.Output.secret(args.hf_token)},
            opts=resource_names.options(options.hf_token_secret, secret, self,
                                        pulumi.ResourceOptions(depends_on=list(self.shared))),
        )
