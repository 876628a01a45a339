"""Pulumi components that run a Docker stack on one host with pulumi-docker.

Edge module: each component maps the target-neutral :class:`~.containers.ContainerSpec`
values to ``docker.Container`` resources; no validation or arithmetic of its own.
:class:`DockerLlmStack` owns the network, the pinned images, the volumes and, as child
components, one :class:`VllmDeployment` per deployment (one container per replica with
``device_requests`` for exactly its device ids), one :class:`HaproxyRouter` per router
and the :class:`Monitoring` containers (Prometheus, Grafana, DCGM exporter).

Resource names follow :mod:`llmstack.targets.resource_names`, the same scheme as the
Kubernetes target: ``<component name>-<local name>``, where the local name is the Docker
object's name without its ``<spec name>-`` prefix. The program names the component after
the spec, so a container's logical name is its container name (``<stack>-<deployment>-<k>``)
and a scale-out adds containers and touches no other; a second stack in the same program
gets its own names. Outputs (URLs, container names, device ids) are read from the registered
containers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_docker as docker

from llmstack.targets import resource_names
from llmstack.targets.docker import containers as specs
from llmstack.targets.docker.containers import ContainerSpec
from llmstack.targets.docker.layout import DockerLayout

__all__ = [
    "ContainerInputs",
    "DockerLlmStack",
    "DockerLlmStackArgs",
    "HaproxyRouter",
    "HaproxyRouterArgs",
    "Monitoring",
    "MonitoringArgs",
    "Names",
    "VllmDeployment",
    "VllmDeploymentArgs",
    "container",
    "published_url",
]

KEEP_VOLUMES = ("hf-cache",)
"""Volume name suffixes kept on ``pulumi destroy``: downloaded weights are expensive to fetch again."""


@dataclass(frozen=True)
class ContainerInputs:
    """What every container of the stack shares: the network, the pulled images, the secrets."""

    network: pulumi.Input[str]
    images: Mapping[str, pulumi.Input[str]]
    """image reference -> the pulled image's id (a changed pin replaces the container)."""
    secrets: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """environment variable -> secret value (``HF_TOKEN``); absent variables are left unset."""
    volumes: Mapping[str, pulumi.Resource] = field(default_factory=dict)
    secret_files: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """secret name -> value, uploaded to ``/run/secrets/<name>`` (Grafana's admin password)."""


def container(name: str, spec: ContainerSpec, inputs: ContainerInputs,
              opts: pulumi.ResourceOptions | None = None) -> docker.Container:
    """One ``docker.Container`` for ``spec``; secret variables stay secret in state and outputs."""
    secret_values = [pulumi.Output.concat(key, "=", inputs.secrets[key]) for key in spec.secret_env
                     if key in inputs.secrets]
    plain = [f"{k}={v}" for k, v in sorted(spec.env.items())]
    envs: pulumi.Input[Sequence[pulumi.Input[str]]] = plain
    if secret_values:
        envs = pulumi.Output.secret(pulumi.Output.all(*plain, *secret_values))
    device_requests = None
    if spec.device_ids is not None:
        device_requests = [docker.ContainerDeviceRequestArgs(
            driver="nvidia", device_ids=[str(i) for i in spec.device_ids], capabilities=["gpu"])]
    elif spec.all_gpus:
        device_requests = [docker.ContainerDeviceRequestArgs(driver="nvidia", count=-1, capabilities=["gpu"])]
    healthcheck = None
    if spec.healthcheck is not None:
        h = spec.healthcheck
        healthcheck = docker.ContainerHealthcheckArgs(tests=list(h.test), interval=h.interval, timeout=h.timeout,
                                                      retries=h.retries, start_period=h.start_period)
    depends = [inputs.volumes[m.volume] for m in spec.volumes if m.volume in inputs.volumes]
    options = pulumi.ResourceOptions.merge(
        pulumi.ResourceOptions(additional_secret_outputs=["envs"], depends_on=depends), opts)
    return docker.Container(
        name,
        name=spec.name,
        image=inputs.images[spec.image],
        entrypoints=list(spec.entrypoint) if spec.entrypoint is not None else None,
        command=list(spec.command) or None,
        envs=envs,
        device_requests=device_requests,
        shm_size=spec.shm_size_mb,
        ports=[docker.ContainerPortArgs(internal=p.container_port, external=p.port, ip=p.address, protocol="tcp")
               for p in spec.ports] or None,
        volumes=[docker.ContainerVolumeArgs(volume_name=m.volume, container_path=m.target, read_only=m.read_only)
                 for m in spec.volumes] or None,
        uploads=[*(docker.ContainerUploadArgs(file=f.container_path, content=f.text, permissions="0644")
                   for f in spec.files), *_secret_uploads(spec, inputs)] or None,
        healthcheck=healthcheck,
        labels=[docker.ContainerLabelArgs(label=k, value=v) for k, v in sorted(spec.labels.items())] or None,
        networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=inputs.network, aliases=list(spec.aliases)
                                                                or None)],
        capabilities=docker.ContainerCapabilitiesArgs(adds=list(spec.cap_add)) if spec.cap_add else None,
        restart=spec.restart,
        runtime=spec.runtime,
        privileged=spec.privileged or None,
        devices=[docker.ContainerDeviceArgs(host_path=d, container_path=d) for d in spec.devices] or None,
        stop_signal=spec.stop_signal,
        stop_timeout=spec.stop_grace_s,
        destroy_grace_seconds=spec.stop_grace_s,  # without it a delete is `docker rm -f`: no drain
        must_run=True,
        wait=False,
        opts=options,
    )


def _secret_uploads(spec: ContainerSpec, inputs: ContainerInputs) -> list[docker.ContainerUploadArgs]:
    return [docker.ContainerUploadArgs(file=f"{specs.SECRETS_DIR}/{name}", content=inputs.secret_files[name],
                                       permissions="0444")
            for name in spec.secret_files if name in inputs.secret_files]


@dataclass(frozen=True)
class Names:
    """Logical names of a stack's resources: ``<component>-<docker name without "<spec>-">``."""

    component: str | None = None
    """The stack component's name; None: a resource's logical name is its Docker name."""
    spec: str = ""

    def of(self, docker_name: str) -> str:
        if self.component is None:
            return docker_name
        return resource_names.child(self.component, docker_name.removeprefix(f"{self.spec}-"))

    def options(self, docker_name: str, parent: pulumi.Resource,
                opts: pulumi.ResourceOptions | None = None) -> pulumi.ResourceOptions:
        return resource_names.options(docker_name, self.of(docker_name), parent, opts)


def published_url(c: docker.Container) -> pulumi.Output[str]:
    """``http://<address>:<port>`` of the first port the registered container publishes ("" if none)."""
    def url(ports: Any) -> str:
        if not ports:
            return ""
        return f"http://{_host(str(ports[0]['ip']))}:{ports[0]['external']}"

    return c.ports.apply(url)


# ---------------------------------------------------------------- engines


@dataclass(frozen=True)
class VllmDeploymentArgs:
    deployment: str
    replicas: Sequence[ContainerSpec]
    inputs: ContainerInputs
    names: Names = field(default_factory=Names)


class VllmDeployment(pulumi.ComponentResource):
    """The replica containers of one deployment, each on its own GPUs."""

    containers: list[docker.Container]
    container_names: pulumi.Output[list[str]]

    def __init__(self, name: str, args: VllmDeploymentArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmstack:docker:VllmDeployment", name, None, opts)
        self.containers = [container(args.names.of(spec.name), spec, args.inputs, args.names.options(spec.name, self))
                           for spec in args.replicas]
        self.container_names = pulumi.Output.all(*(c.name for c in self.containers)).apply(list)
        self.device_ids = pulumi.Output.all(*(c.device_requests for c in self.containers)).apply(
            lambda requests: [_device_ids(r) for r in requests])
        self.register_outputs({"containerNames": self.container_names, "deviceIds": self.device_ids})


# ---------------------------------------------------------------- router


@dataclass(frozen=True)
class HaproxyRouterArgs:
    router: str
    spec: ContainerSpec
    inputs: ContainerInputs
    names: Names = field(default_factory=Names)


class HaproxyRouter(pulumi.ComponentResource):
    """HAProxy with the generated haproxy.cfg uploaded; published on the spec's address and port."""

    container: docker.Container
    url: pulumi.Output[str]

    def __init__(self, name: str, args: HaproxyRouterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmstack:docker:HaproxyRouter", name, None, opts)
        self.container = container(args.names.of(args.spec.name), args.spec, args.inputs,
                                   args.names.options(args.spec.name, self))
        self.url = published_url(self.container)
        self.register_outputs({"url": self.url})


# ---------------------------------------------------------------- monitoring


@dataclass(frozen=True)
class MonitoringArgs:
    prometheus: ContainerSpec
    grafana: ContainerSpec | None
    dcgm: ContainerSpec | None
    inputs: ContainerInputs
    names: Names = field(default_factory=Names)


class Monitoring(pulumi.ComponentResource):
    """Prometheus (generated config and rules), Grafana (provisioned) and the optional DCGM exporter."""

    prometheus: docker.Container
    grafana: docker.Container | None
    dcgm: docker.Container | None

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmstack:docker:Monitoring", name, None, opts)
        names = args.names
        self.prometheus = container(names.of(args.prometheus.name), args.prometheus, args.inputs,
                                    names.options(args.prometheus.name, self))
        self.grafana = None
        if args.grafana is not None:
            self.grafana = container(names.of(args.grafana.name), args.grafana, args.inputs, names.options(
                args.grafana.name, self, pulumi.ResourceOptions(depends_on=[self.prometheus])))
        self.dcgm = None
        if args.dcgm is not None:
            self.dcgm = container(names.of(args.dcgm.name), args.dcgm, args.inputs, names.options(args.dcgm.name, self))
        self.prometheus_url = published_url(self.prometheus)
        self.grafana_url = published_url(self.grafana) if self.grafana is not None else pulumi.Output.from_input("")
        self.register_outputs({"prometheusUrl": self.prometheus_url, "grafanaUrl": self.grafana_url})


# ---------------------------------------------------------------- the stack


@dataclass(frozen=True)
class DockerLlmStackArgs:
    layout: DockerLayout
    hf_token: pulumi.Input[str] | None = None
    """The Hugging Face token (a Pulumi secret) for gated weights; None leaves HF_TOKEN unset."""
    grafana_admin_password: pulumi.Input[str] | None = None
    """Grafana's admin password (``llmstack:grafanaAdminPassword``, a secret)."""


class DockerLlmStack(pulumi.ComponentResource):
    """Everything of one stack on one Docker host."""

    network: docker.Network
    deployments: dict[str, VllmDeployment]
    routers: dict[str, HaproxyRouter]
    monitoring: Monitoring
    containers: list[docker.Container]
    """Every container of the stack: replicas, routers, then monitoring."""
    router_urls: pulumi.Output[dict[str, str]]
    gpu_assignment: pulumi.Output[dict[str, list[list[int]]]]

    def __init__(self, name: str, args: DockerLlmStackArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmstack:docker:DockerLlmStack", name, None, opts)
        plan = args.layout
        names = Names(component=name, spec=plan.stack.name)
        all_specs = specs.containers(plan)
        inputs = self._shared(plan, names, all_specs, args.hf_token, args.grafana_admin_password)
        by_name = {s.name: s for s in all_specs}
        self.deployments = {}
        for d in plan.stack.deployments:
            replicas = [by_name[r.container] for r in plan.replicas_of(d.name)]
            previous = f"{plan.stack.name}-{d.name}"
            self.deployments[d.name] = VllmDeployment(
                names.of(previous), VllmDeploymentArgs(d.name, replicas, inputs, names), names.options(previous, self))
        after_network = pulumi.ResourceOptions(depends_on=[self.network])
        self.routers = {
            router: HaproxyRouter(names.of(container), HaproxyRouterArgs(router, by_name[container], inputs, names),
                                  names.options(container, self, after_network))
            for router, container in plan.routers.items()
        }
        engines = [c for dep in self.deployments.values() for c in dep.containers]
        monitoring = f"{plan.stack.name}-monitoring"
        self.monitoring = Monitoring(
            names.of(monitoring),
            MonitoringArgs(prometheus=by_name[plan.prometheus], grafana=by_name[plan.grafana] if plan.grafana else None,
                           dcgm=by_name[plan.dcgm] if plan.dcgm else None, inputs=inputs, names=names),
            names.options(monitoring, self, pulumi.ResourceOptions(depends_on=engines or None)),
        )
        self.containers = [*engines, *(r.container for r in self.routers.values()), self.monitoring.prometheus,
                           *(c for c in (self.monitoring.grafana, self.monitoring.dcgm) if c is not None)]
        self.router_urls = pulumi.Output.all(*(r.url for r in self.routers.values())).apply(
            lambda values: dict(zip(self.routers, values, strict=True)))
        self.gpu_assignment = pulumi.Output.all(*(d.device_ids for d in self.deployments.values())).apply(
            lambda values: dict(zip(self.deployments, values, strict=True)))
        self.register_outputs({
            "routerUrls": self.router_urls,
            "gpuAssignment": self.gpu_assignment,
            "prometheusUrl": self.monitoring.prometheus_url,
            "grafanaUrl": self.monitoring.grafana_url,
        })

    def _shared(self, plan: DockerLayout, names: Names, all_specs: Sequence[ContainerSpec],
                hf_token: pulumi.Input[str] | None,
                grafana_password: pulumi.Input[str] | None = None) -> ContainerInputs:
        """The network, the pulled images and the volumes every container uses."""
        self.network = docker.Network(
            names.of(plan.network), name=plan.network, driver="bridge",
            labels=[docker.NetworkLabelArgs(label="llmstack.stack", value=plan.stack.name)],
            opts=names.options(plan.network, self))
        pulled: dict[str, pulumi.Input[str]] = {}
        for image in sorted({s.image for s in all_specs}):
            previous = _image_resource_name(image)
            new = resource_names.child(names.component or plan.stack.name, previous)
            remote = docker.RemoteImage(new, name=image, keep_locally=True,
                                        opts=resource_names.options(previous, new, self))
            pulled[image] = remote.image_id
        volumes: dict[str, pulumi.Resource] = {}
        for volume in sorted({m.volume for s in all_specs for m in s.volumes}):
            keep = volume.endswith(KEEP_VOLUMES)
            volumes[volume] = docker.Volume(names.of(volume), name=volume, opts=names.options(
                volume, self, pulumi.ResourceOptions(retain_on_delete=keep)))
        secrets: dict[str, pulumi.Input[str]] = {}
        if hf_token is not None:
            secrets[specs.HF_TOKEN_ENV] = pulumi.Output.secret(hf_token)
        files = ({specs.GRAFANA_PASSWORD_SECRET: pulumi.Output.secret(grafana_password)}
                 if grafana_password is not None else {})
        return ContainerInputs(network=self.network.name, images=pulled, secrets=secrets, volumes=volumes,
                               secret_files=files)


def _device_ids(requests: Any) -> list[int]:
    """GPU indices of a registered container's ``device_requests`` (empty: no GPUs)."""
    ids: list[int] = []
    for request in requests or []:
        ids += [int(i) for i in (request.get("device_ids") or request.get("deviceIds") or [])]
    return ids


def _image_resource_name(image: str) -> str:
    """A stable logical name per image reference (registry/name:tag -> name-tag)."""
    return "image-" + image.rsplit("/", 1)[-1].replace(":", "-")


def _host(address: str) -> str:
    if address in ("0.0.0.0", "::"):
        return "localhost"
    return f"[{address}]" if ":" in address else address
