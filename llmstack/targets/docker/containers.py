"""Every container of a Docker stack as plain data: image, command, GPUs, files, ports, volumes.

Pure. :func:`containers` turns a :class:`~llmstack.targets.docker.layout.DockerLayout`
into :class:`ContainerSpec` values; the Pulumi components map them to ``docker.Container``
resources and :mod:`.rendering` to compose services, so both run the same containers.
Config file texts come from :mod:`llmstack.artifacts` (haproxy.cfg, prometheus.yml and
rules, Grafana provisioning and dashboards); nothing here builds them.

Addressing: each vLLM replica joins the stack network under its container name and the
deployment alias ``<stack>-<deployment>``. Prometheus scrapes the replica containers by
name (one static target each). HAProxy addresses a deployment through that alias with
``server-template`` slots up to ``replicas.max`` and Docker's embedded DNS, so a replaced
or added replica container (new IP) is picked up without reloading the router, and the
router starts (and ``haproxy -c`` passes) before any replica exists.

Scale-in drains: each replica runs vLLM under a supervisor with an HAProxy drain agent
(:mod:`.draining`); on ``docker stop`` the router drains the replica first, then vLLM finishes its
in-flight requests within ``stop_grace_s`` (the longest request: :mod:`llmstack.artifacts.drain`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from llmstack import yaml_text
from llmstack.artifacts import addressing as addressing_module
from llmstack.artifacts import drain, grafana, haproxy, haproxy_hold, images, labels, prometheus, vllm_args
from llmstack.spec import resolving
from llmstack.targets.docker import draining
from llmstack.targets.docker import layout as layout_module
from llmstack.targets.docker.layout import DockerLayout, PublishedPort

HF_CACHE_PATH = "/root/.cache/huggingface"
HF_TOKEN_ENV = "HF_TOKEN"
GRAFANA_PASSWORD_SECRET = "grafana_admin_password"
"""Secret file (``/run/secrets/<name>``) with Grafana's admin password: compose reads it from the
environment variable :data:`GRAFANA_PASSWORD_VARIABLE`, Pulumi from ``llmstack:grafanaAdminPassword``."""
GRAFANA_PASSWORD_VARIABLE = "LLMSTACK_GRAFANA_ADMIN_PASSWORD"
SECRETS_DIR = "/run/secrets"
SHM_SIZE_MB = 16384
"""vLLM's tensor-parallel workers share tensors through /dev/shm (vLLM's Docker guide: --ipc=host or --shm-size)."""
HAPROXY_CONFIG_DIR = addressing_module.ROUTER_CONFIG_DIR
HAPROXY_CONFIG_PATH = f"{HAPROXY_CONFIG_DIR}/haproxy.cfg"
PROMETHEUS_DIR = "/etc/prometheus"
GRAFANA_PROVISIONING = "/etc/grafana/provisioning"
GRAFANA_DASHBOARDS = "/etc/grafana/dashboards/llmstack"
ROUTER_STATS_PORT = 8404
RESTART = "unless-stopped"
ENGINE_STOP_SIGNAL = "SIGTERM"
"""vLLM drains on SIGTERM (``--shutdown-timeout``); SIGKILL follows after ``stop_grace_s``."""
LABEL_PREFIX = "llmstack."

ENGINE_HEALTHCHECK = (
    "CMD", "python3", "-c",
    f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{layout_module.ENGINE_PORT}"
    f"{haproxy.HEALTH_PATH}', timeout=4)",
)
PROMETHEUS_HEALTHCHECK = (
    "CMD", "wget", "-q", "-O", "/dev/null", f"http://127.0.0.1:{layout_module.PROMETHEUS_PORT}/-/ready",
)


@dataclass(frozen=True)
class Healthcheck:
    test: tuple[str, ...]
    interval: str = "15s"
    timeout: str = "5s"
    retries: int = 3
    start_period: str = "20m"
    """Loading (and first downloading) the weights takes minutes; failures before this do not count."""


@dataclass(frozen=True)
class Mount:
    """A named Docker volume at ``target``."""

    volume: str
    target: str
    read_only: bool = False


@dataclass(frozen=True)
class ConfigFile:
    """A generated file: ``bundle_path`` in the compose bundle, ``container_path`` inside the container."""

    bundle_path: str
    container_path: str
    text: str


@dataclass(frozen=True)
class ContainerSpec:
    """One container, target-neutral."""

    name: str
    role: str
    image: str
    command: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    secret_env: tuple[str, ...] = ()
    """Variables whose values are secrets: Pulumi passes its secret config, compose ``${NAME}`` from the shell."""
    secret_files: tuple[str, ...] = ()
    """Secrets mounted as files at ``/run/secrets/<name>`` (compose ``secrets:``, Pulumi an upload)."""
    device_ids: tuple[int, ...] | None = None
    all_gpus: bool = False
    shm_size_mb: int | None = None
    ports: tuple[PublishedPort, ...] = ()
    volumes: tuple[Mount, ...] = ()
    files: tuple[ConfigFile, ...] = ()
    healthcheck: Healthcheck | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    cap_add: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    restart: str = RESTART
    runtime: str | None = None
    """Container runtime (``habana`` for Gaudi); None: Docker's default."""
    privileged: bool = False
    devices: tuple[str, ...] = ()
    """Host device paths passed through as they are (TPU: ``/dev/vfio``)."""
    stop_signal: str | None = None
    """Signal ``docker stop`` sends first; None: the image's (SIGTERM for every image here)."""
    stop_grace_s: int | None = None
    """Seconds ``docker stop`` (and a Pulumi delete) waits for the container to exit before SIGKILL;
    None: Docker's 10 s."""


def deployment_alias(plan: DockerLayout, deployment: str) -> str:
    """The network alias every replica of ``deployment`` answers to (HAProxy's DNS name)."""
    return layout_module.container_name(plan.stack, deployment)


def containers(plan: DockerLayout) -> list[ContainerSpec]:
    """Replicas first (declaration order), then routers, Prometheus, Grafana and the DCGM exporter."""
    result = [engine(plan, deployment, index) for deployment, index in
              ((r.deployment, r.index) for r in plan.replicas)]
    result += [router(plan, name) for name in plan.routers]
    result.append(prometheus_server(plan))
    if plan.grafana is not None:
        result.append(grafana_server(plan))
    if plan.dcgm is not None:
        result.append(dcgm_exporter(plan))
    return result


def _labels(plan: DockerLayout, role: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    values = {"stack": plan.stack.name, "role": role, **(extra or {})}
    return {LABEL_PREFIX + key: value for key, value in values.items()}


def engine(plan: DockerLayout, deployment: str, index: int) -> ContainerSpec:
    """Replica ``index`` of ``deployment``: ``vllm serve`` on exactly its device ids."""
    replica = next(r for r in plan.replicas if r.deployment == deployment and r.index == index)
    args = vllm_args.serve_args(plan.stack, deployment, port=layout_module.ENGINE_PORT, host="0.0.0.0")
    gpus = ",".join(str(i) for i in replica.device_ids)
    accelerator = resolving.accelerator(plan.stack, plan.stack.pool(plan.stack.deployment(deployment).pool))
    devices = accelerator.platform.docker if accelerator.platform is not None else None
    return ContainerSpec(
        name=replica.container,
        role=labels.ENGINE_ROLE,
        image=images.vllm_image(accelerator),
        entrypoint=draining.entrypoint(),
        command=(*vllm_args.VLLM_ENTRYPOINT, *args),
        env={"HF_HOME": HF_CACHE_PATH, **({devices.visible_devices_env: gpus} if devices else {})},
        secret_env=(HF_TOKEN_ENV,),
        device_ids=replica.device_ids if devices is None else None,
        runtime=devices.runtime if devices else None,
        privileged=devices.privileged if devices else False,
        devices=tuple(devices.devices) if devices else (),
        cap_add=tuple(devices.cap_add) if devices else (),
        shm_size_mb=SHM_SIZE_MB,
        volumes=(Mount(plan.model_cache_volume, HF_CACHE_PATH),),
        healthcheck=Healthcheck(ENGINE_HEALTHCHECK),
        labels=_labels(plan, labels.ENGINE_ROLE, {
            **{k: v for k, v in labels.engine_labels(plan.stack, deployment).items() if k != labels.ROLE_LABEL},
            "replica": str(index), "gpus": gpus,
        }),
        aliases=(deployment_alias(plan, deployment),),
        stop_signal=ENGINE_STOP_SIGNAL,
        stop_grace_s=drain_plan(plan, deployment).grace_period_s,
    )


def drain_plan(plan: DockerLayout, deployment: str) -> drain.DrainPlan:
    """Stop timings of a replica container: the router drains it, vLLM drains for the longest request, teardown."""
    return drain.plan(plan.stack, deployment, deregister_s=draining.DEREGISTER_S)


def router_config(plan: DockerLayout, name: str) -> str:
    """haproxy.cfg of router ``name``: each deployment through its alias, up to ``replicas.max`` slots."""
    spec = next(r for r in plan.stack.routers if r.name == name)
    addressing = {
        backend: haproxy.BackendAddressing.dns(
            deployment_alias(plan, backend), layout_module.ENGINE_PORT,
            max(1, min(plan.stack.deployment(backend).replicas.max, 1024)), agent_port=draining.AGENT_PORT,
        )
        for route in spec.routes for backend in route.backends
    }
    options = addressing_module.with_hold(plan.stack, haproxy.HaproxyOptions(port=spec.port,
                                                                             stats_port=ROUTER_STATS_PORT))
    return haproxy.build_haproxy_config(plan.stack, name, addressing, options)


def router(plan: DockerLayout, name: str) -> ContainerSpec:
    container = plan.routers[name]
    return ContainerSpec(
        name=container,
        role=labels.ROUTER_ROLE,
        image=images.HAPROXY_IMAGE,
        ports=tuple(plan.ports_of(container)),
        files=(ConfigFile(f"routers/{name}/haproxy.cfg", HAPROXY_CONFIG_PATH, router_config(plan, name)),
               *((ConfigFile(f"routers/{name}/{haproxy_hold.SCRIPT_NAME}",
                             f"{HAPROXY_CONFIG_DIR}/{haproxy_hold.SCRIPT_NAME}", haproxy_hold.HOLD_SCRIPT),)
                 if haproxy_hold.holds(plan.stack) else ())),
        labels=_labels(plan, labels.ROUTER_ROLE, {"router": name}),
    )


def prometheus_files(plan: DockerLayout) -> list[ConfigFile]:
    """prometheus.yml (static targets: the replica containers, routers, DCGM exporter) and its rule files."""
    stack = plan.stack
    rules = {
        "recording.yml": prometheus.build_recording_rules(stack),
        "alerts.yml": prometheus.build_alert_rules(stack),
    }
    targets = prometheus.ScrapeTargets.static(
        plan.engine_targets(),
        router=[f"{c}:{ROUTER_STATS_PORT}" for c in plan.routers.values()],
        dcgm=[f"{plan.dcgm}:{layout_module.DCGM_PORT}"] if plan.dcgm is not None else [],
        gpu_assignment={name: [i for ids in replicas for i in ids]
                        for name, replicas in plan.assignment().items() if replicas},
    )
    config = prometheus.build_prometheus_config(
        stack, targets, rule_files=[f"rules/{name}" for name in rules],  # relative to prometheus.yml
    )
    files = [ConfigFile("prometheus/prometheus.yml", f"{PROMETHEUS_DIR}/prometheus.yml",
                        yaml_text.dump(config))]
    files += [ConfigFile(f"prometheus/rules/{name}", f"{PROMETHEUS_DIR}/rules/{name}", yaml_text.dump(data))
              for name, data in rules.items()]
    return files


def prometheus_server(plan: DockerLayout) -> ContainerSpec:
    data = layout_module.container_name(plan.stack, "prometheus-data")
    return ContainerSpec(
        name=plan.prometheus,
        role="prometheus",
        image=images.PROMETHEUS_IMAGE,
        command=(
            f"--config.file={PROMETHEUS_DIR}/prometheus.yml",
            "--storage.tsdb.path=/prometheus",
            f"--storage.tsdb.retention.time={plan.stack.monitoring.retention}",
        ),  # no --web.enable-lifecycle: nothing may stop or reload Prometheus over HTTP
        ports=tuple(plan.ports_of(plan.prometheus)),
        volumes=(Mount(data, "/prometheus"),),
        files=tuple(prometheus_files(plan)),
        healthcheck=Healthcheck(PROMETHEUS_HEALTHCHECK, start_period="30s"),
        labels=_labels(plan, "prometheus"),
    )


def grafana_files(plan: DockerLayout) -> list[ConfigFile]:
    """Datasource (this stack's Prometheus) and dashboard provisioning, and the dashboards."""
    datasource = grafana.datasource_provisioning(f"http://{plan.prometheus}:{layout_module.PROMETHEUS_PORT}")
    provider = grafana.dashboard_provisioning(GRAFANA_DASHBOARDS)
    files = [
        ConfigFile("grafana/provisioning/datasources/llmstack.yaml",
                   f"{GRAFANA_PROVISIONING}/datasources/llmstack.yaml", yaml_text.dump(datasource)),
        ConfigFile("grafana/provisioning/dashboards/llmstack.yaml",
                   f"{GRAFANA_PROVISIONING}/dashboards/llmstack.yaml", yaml_text.dump(provider)),
    ]
    for name, dashboard in sorted(grafana.build_dashboards(plan.stack).items()):
        filename = name if name.endswith(".json") else f"{name}.json"
        files.append(ConfigFile(f"grafana/dashboards/{filename}", f"{GRAFANA_DASHBOARDS}/{filename}",
                                json.dumps(dashboard, indent=2, sort_keys=True) + "\n"))
    return files


def grafana_server(plan: DockerLayout) -> ContainerSpec:
    assert plan.grafana is not None
    return ContainerSpec(
        name=plan.grafana,
        role="grafana",
        image=images.GRAFANA_IMAGE,
        env={"GF_AUTH_ANONYMOUS_ENABLED": "false", "GF_USERS_ALLOW_SIGN_UP": "false",
             "GF_SECURITY_ADMIN_PASSWORD__FILE": f"{SECRETS_DIR}/{GRAFANA_PASSWORD_SECRET}"},
        secret_files=(GRAFANA_PASSWORD_SECRET,),
        ports=tuple(plan.ports_of(plan.grafana)),
        volumes=(Mount(layout_module.container_name(plan.stack, "grafana-data"), "/var/lib/grafana"),),
        files=tuple(grafana_files(plan)),
        labels=_labels(plan, "grafana"),
        depends_on=(plan.prometheus,),
    )


def dcgm_exporter(plan: DockerLayout) -> ContainerSpec:
    """NVIDIA's DCGM exporter over all of the host's GPUs (NVIDIA's docker run: --gpus all --cap-add SYS_ADMIN)."""
    assert plan.dcgm is not None
    return ContainerSpec(
        name=plan.dcgm,
        role="dcgm-exporter",
        image=images.DCGM_EXPORTER_IMAGE,
        all_gpus=True,
        cap_add=("SYS_ADMIN",),
        labels=_labels(plan, "dcgm-exporter"),
    )
