"""The multi-language component package: ``llmstack:index:KubernetesStack`` and ``llmstack:index:DockerStack``
for TypeScript, Go, C#, Java and YAML programs (``pulumi package add``).

``provider/__main__.py`` (next to ``provider/PulumiPlugin.yaml``) hosts these two classes with
``pulumi.provider.experimental.component_provider_host``, which infers the package schema from
the type annotations below: the ``args`` TypedDicts are the inputs, the class-level
``pulumi.Output[...]`` annotations the outputs, the attribute docstrings their descriptions.
This module deliberately has no ``from __future__ import annotations``: the analyzer reads the
annotations as types, not strings.

Each component parses the spec (YAML text: ``fn::readFile`` in YAML, ``fs.readFileSync`` in
TypeScript), runs every check of the Python API, and registers the Python components
(:class:`~llmstack.targets.kubernetes.components.LlmStack`,
:class:`~llmstack.targets.docker.components.DockerLlmStack`) as its children.
"""

from importlib import metadata
from typing import Any, NotRequired, TypedDict, cast

import pulumi

from llmstack.errors import LlmstackError
from llmstack.spec import scaling
from llmstack.spec.loading import parse_spec
from llmstack.spec.models import StackSpec
from llmstack.targets.docker import layout
from llmstack.targets.docker.components import DockerLlmStack, DockerLlmStackArgs
from llmstack.targets.kubernetes import options as k8s_options
from llmstack.targets.kubernetes.components import LlmStack, LlmStackArgs

PACKAGE = "llmstack"


class KubernetesStackArgs(TypedDict):
    """Inputs of a KubernetesStack."""

    spec: pulumi.Input[str]
    """The llmstack stack spec as YAML text (pools, models, deployments, routers, monitoring)."""
    namespace: NotRequired[pulumi.Input[str]]
    """Namespace of the stack (default: llmstack)."""
    hf_token: NotRequired[pulumi.Input[str]]
    """Hugging Face token for gated weights; pass a secret. Unset: engines start without HF_TOKEN."""
    replicas: NotRequired[pulumi.Input[dict[str, int]]]
    """Replicas per deployment (the llmstack:scaling the policy engine writes), within the spec's range."""


class KubernetesStack(pulumi.ComponentResource):
    """A self-hosted vLLM stack on one Kubernetes cluster: engines, routers, monitoring, sized by the capacity model."""

    router_endpoints: pulumi.Output[dict[str, str]]
    """In-cluster URL of each router, read from its Service."""
    deployment_urls: pulumi.Output[dict[str, str]]
    """In-cluster URL of each model deployment's engine Service."""
    gpus_in_use: pulumi.Output[int]
    """GPUs the planned replicas request."""
    cost_per_hour: pulumi.Output[float]
    """Planned cost per hour of those GPUs, in the pools' currency."""

    def __init__(self, name: str, args: KubernetesStackArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{PACKAGE}:index:KubernetesStack", name, {}, opts)
        stack = _spec(args["spec"], args.get("replicas"))
        namespace = _known(args.get("namespace") or "llmstack", "namespace")
        built = LlmStackArgs.from_spec(stack, hf_token=_token(args.get("hf_token")),
                                       options=k8s_options.KubernetesOptions(namespace=namespace))
        child = LlmStack(name, built, pulumi.ResourceOptions(parent=self))
        self.router_endpoints = _dict(child.router_endpoints)
        self.deployment_urls = _dict({d: deployment.url for d, deployment in child.deployments.items()})
        self.gpus_in_use = pulumi.Output.from_input(child.gpus_in_use)
        self.cost_per_hour = pulumi.Output.from_input(child.cost_per_hour)
        self.register_outputs({"routerEndpoints": self.router_endpoints, "deploymentUrls": self.deployment_urls,
                               "gpusInUse": self.gpus_in_use, "costPerHour": self.cost_per_hour})


class DockerStackArgs(TypedDict):
    """Inputs of a DockerStack."""

    spec: pulumi.Input[str]
    """The llmstack stack spec as YAML text; the Docker target runs it on one GPU host."""
    hf_token: NotRequired[pulumi.Input[str]]
    """Hugging Face token for gated weights; pass a secret."""
    replicas: NotRequired[pulumi.Input[dict[str, int]]]
    """Replicas per deployment, within the spec's range."""


class DockerStack(pulumi.ComponentResource):
    """A self-hosted vLLM stack on one Docker host: a container per replica on its own GPUs, HAProxy, Prometheus."""

    router_urls: pulumi.Output[dict[str, str]]
    """URL of each router, read from its container's published port."""
    prometheus_url: pulumi.Output[str]
    """URL of Prometheus, read from its container's published port."""
    gpu_assignment: pulumi.Output[dict[str, list[list[int]]]]
    """GPU indices of each replica, per deployment, read from the containers' device requests."""

    def __init__(self, name: str, args: DockerStackArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{PACKAGE}:index:DockerStack", name, {}, opts)
        stack = _spec(args["spec"], args.get("replicas"))
        built = DockerLlmStackArgs(layout=layout.plan(stack), hf_token=_token(args.get("hf_token")))
        child = DockerLlmStack(name, built, pulumi.ResourceOptions(parent=self))
        self.router_urls = child.router_urls
        self.prometheus_url = child.monitoring.prometheus_url
        self.gpu_assignment = child.gpu_assignment
        self.register_outputs({"routerUrls": self.router_urls, "prometheusUrl": self.prometheus_url,
                               "gpuAssignment": self.gpu_assignment})


def version() -> str:
    """The package version the schema carries: the installed pulumi-llmstack's."""
    try:
        return metadata.version("pulumi-llmstack")
    except metadata.PackageNotFoundError:
        return "0.0.0"


COMPONENTS: list[type[pulumi.ComponentResource]] = [DockerStack, KubernetesStack]


def _known(value: Any, field: str) -> Any:
    """The resources a stack registers depend on these inputs, so they must be known at construction."""
    if isinstance(value, pulumi.Output):
        raise LlmstackError("must be a known value, not the output of another resource", path=field,
                            hint="pass the spec as text (fn::readFile in YAML, readFileSync in TypeScript)")
    return value


def _spec(text: Any, replicas: Any) -> StackSpec:
    spec = parse_spec(_known(text, "spec"), source="spec")
    counts = _known(replicas, "replicas") or {}
    overrides = scaling.parse_scaling({d: {"replicas": n} for d, n in counts.items()})
    return scaling.apply_scaling(spec, overrides)


def _token(value: Any) -> pulumi.Input[str] | None:
    return cast("pulumi.Input[str] | None", value)


def _dict(outputs: dict[str, pulumi.Output[str]]) -> pulumi.Output[dict[str, str]]:
    return pulumi.Output.all(**outputs) if outputs else pulumi.Output.from_input({})
