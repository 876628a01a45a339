"""Pulumi components that run a Docker stack on one host with pulumi-docker.

Edge module: each component maps the target-neutral :class:`~.containers.ContainerSpec`
values to ``docker.Container`` resources; no validation or arithmetic of its own.
:class:`DockerLlmStack` owns the network, the pinned images, the volumes and, as child
components, one :class:`VllmDeployment` per deployment (one container per replica with
``device_requests`` for exactly its device ids), one :class:`HaproxyRouter` per router
and the :class:`Monitoring` containers (Prometheus, Grafana, DCGM exporter).

Resource names are stable: a container's logical name is its container name
(``<stack>-<deployment>-<k>``), so a scale-out adds containers and touches no other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_docker as docker

from llmstack.targets.docker import containers as specs
from llmstack.targets.docker.containers import ContainerSpec
from llmstack.targets.docker.layout import DockerLayout, PublishedPort

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
        must_run=True,
        wait=False,
        opts=options,
    )


def _secret_uploads(spec: ContainerSpec, inputs: ContainerInputs) -> list[docker.ContainerUploadArgs]:
    return [docker.ContainerUploadArgs(file=f"{specs.SECRETS_DIR}/{name}", content=inputs.secret_files[name],
                                       permissions="0444")
            for name in spec.secret_files if name in inputs.secret_files]


# ---------------------------------------------------------------- engines


@dataclass(frozen=True)
class VllmDeploymentArgs:
    deployment: str
    replicas: Sequence[ContainerSpec]
    inputs: ContainerInputs


class VllmDeployment(pulumi.ComponentResource):
    """The replica containers of one deployment, each on its own GPUs."""

    containers: list[docker.Container]
    container_names: pulumi.Output[list[str]]

    def __init__(self, name: str, args: VllmDeploymentArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmstack:docker:VllmDeployment", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.containers = [container(spec.name, spec, args.inputs, child) for spec in args.replicas]
        self.container_names = pulumi.Output.from_input([spec.name for spec in args.replicas])
        self.device_ids = pulumi.Output.from_input([list(spec.device_ids or ()) for spec in args.replicas])
        self.register_outputs({"containerNames": self.container_names, "deviceIds": self.device_ids})


# ---------------------------------------------------------------- router


@dataclass(frozen=True)
class HaproxyRouterArgs:
    router: str
    spec: ContainerSpec
    inputs: ContainerInputs
    url: str


class HaproxyRouter(pulumi.ComponentResource):
    """HAProxy with the generated haproxy.cfg uploaded; published on the spec's address and port."""

    container: docker.Container
    url: pulumi.Output[str]

    def __init__(self, name: str, args: HaproxyRouterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmstack:docker:HaproxyRouter", name, None, opts)
        self.container = container(args.spec.name, args.spec, args.inputs, pulumi.ResourceOptions(parent=self))
        self.url = pulumi.Output.from_input(args.url)
        self.register_outputs({"url": self.url})


# ---------------------------------------------------------------- monitoring


@dataclass(frozen=True)
class MonitoringArgs:
    prometheus: ContainerSpec
    grafana: ContainerSpec | None
    dcgm: ContainerSpec | None
    inputs: ContainerInputs
    prometheus_url: str | None
    grafana_url: str | None


class Monitoring(pulumi.ComponentResource):
    """Prometheus (generated config and rules), Grafana (provisioned) and the optional DCGM exporter."""

    prometheus: docker.Container
    grafana: docker.Container | None
    dcgm: docker.Container | None

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmstack:docker:Monitoring", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.prometheus = container(args.prometheus.name, args.prometheus, args.inputs, child)
        self.grafana = None
        if args.grafana is not None:
            self.grafana = container(args.grafana.name, args.grafana, args.inputs,
                                     pulumi.ResourceOptions(parent=self, depends_on=[self.prometheus]))
        self.dcgm = container(args.dcgm.name, args.dcgm, args.inputs, child) if args.dcgm is not None else None
        self.prometheus_url = pulumi.Output.from_input(args.prometheus_url or "")
        self.grafana_url = pulumi.Output.from_input(args.grafana_url or "")
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
        child = pulumi.ResourceOptions(parent=self)
        all_specs = specs.containers(plan)
        self.network = docker.Network(plan.network, name=plan.network, driver="bridge",
                                      labels=[docker.NetworkLabelArgs(label="llmstack.stack", value=plan.stack.name)],
                                      opts=child)
        pulled: dict[str, pulumi.Input[str]] = {}
        for image in sorted({s.image for s in all_specs}):
            remote = docker.RemoteImage(_image_resource_name(image), name=image, keep_locally=True, opts=child)
            pulled[image] = remote.image_id
        volumes: dict[str, pulumi.Resource] = {}
        for volume in sorted({m.volume for s in all_specs for m in s.volumes}):
            keep = volume.endswith(KEEP_VOLUMES)
            volumes[volume] = docker.Volume(volume, name=volume, opts=pulumi.ResourceOptions(
                parent=self, retain_on_delete=keep))
        secrets: dict[str, pulumi.Input[str]] = {}
        if args.hf_token is not None:
            secrets[specs.HF_TOKEN_ENV] = pulumi.Output.secret(args.hf_token)
        files = ({specs.GRAFANA_PASSWORD_SECRET: pulumi.Output.secret(args.grafana_admin_password)}
                 if args.grafana_admin_password is not None else {})
        inputs = ContainerInputs(network=self.network.name, images=pulled, secrets=secrets, volumes=volumes,
                                 secret_files=files)
        by_name = {s.name: s for s in all_specs}

        self.deployments = {}
        for d in plan.stack.deployments:
            replicas = [by_name[r.container] for r in plan.replicas_of(d.name)]
            self.deployments[d.name] = VllmDeployment(
                f"{plan.stack.name}-{d.name}", VllmDeploymentArgs(d.name, replicas, inputs), child)
        self.routers = {}
        engines = [c for dep in self.deployments.values() for c in dep.containers]
        for router, container_name in plan.routers.items():
            spec = by_name[container_name]
            url = next((f"http://{_host(p.address)}:{p.port}" for p in spec.ports), "")
            self.routers[router] = HaproxyRouter(
                container_name, HaproxyRouterArgs(router, spec, inputs, url),
                pulumi.ResourceOptions(parent=self, depends_on=[self.network]))
        self.monitoring = Monitoring(
            f"{plan.stack.name}-monitoring",
            MonitoringArgs(
                prometheus=by_name[plan.prometheus],
                grafana=by_name[plan.grafana] if plan.grafana else None,
                dcgm=by_name[plan.dcgm] if plan.dcgm else None,
                inputs=inputs,
                prometheus_url=_url(plan.ports_of(plan.prometheus)),
                grafana_url=_url(plan.ports_of(plan.grafana)) if plan.grafana else None,
            ),
            pulumi.ResourceOptions(parent=self, depends_on=engines or None),
        )
        self.containers = [*engines, *(r.container for r in self.routers.values()), self.monitoring.prometheus,
                           *(c for c in (self.monitoring.grafana, self.monitoring.dcgm) if c is not None)]
        self.router_urls = pulumi.Output.all(*(r.url for r in self.routers.values())).apply(
            lambda values: dict(zip(self.routers, values, strict=True)))
        self.gpu_assignment = pulumi.Output.from_input(plan.assignment())
        self.register_outputs({
            "routerUrls": self.router_urls,
            "gpuAssignment": self.gpu_assignment,
            "prometheusUrl": self.monitoring.prometheus_url,
            "grafanaUrl": self.monitoring.grafana_url,
        })


def _image_resource_name(image: str) -> str:
    """A stable logical name per image reference (registry/name:tag -> name-tag)."""
    return "image-" + image.rsplit("/", 1)[-1].replace(":", "-")


def _host(address: str) -> str:
    if address in ("0.0.0.0", "::"):
        return "localhost"
    return f"[{address}]" if ":" in address else address


def _url(ports: Sequence[PublishedPort]) -> str | None:
    return next((f"http://{_host(p.address)}:{p.port}" for p in ports), None)
