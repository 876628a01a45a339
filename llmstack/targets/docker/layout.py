"""What runs on the Docker host: containers, their GPUs, their names and published ports.

Pure. :func:`plan` checks a stack for the Docker target and returns the
:class:`DockerLayout` that both the Pulumi components and the compose bundle build from,
so ``pulumi up`` and ``docker compose up`` run the same containers.

How a stack targets one host: every pool a deployment uses is a set of GPUs on the same
machine, so its ``nodes.max`` must be 1. ``gpus_per_node`` is the host's GPU count
(indices ``0..gpus_per_node-1`` as ``nvidia-smi`` lists them) and ``device_ids``, when
given, the subset of those indices the pool uses; pools of a mixed host list disjoint
subsets. Published ports bind ``docker.publish_address`` (127.0.0.1 unless the spec says
otherwise); routers publish their ``port``, Prometheus and Grafana ``docker.*_port``. The
vLLM replicas publish nothing: the router and Prometheus reach them by container name on
the stack's network. A router runs as one container (``replicas`` is a Kubernetes setting).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from llmstack.artifacts.vllm_args import ENGINE_PORT
from llmstack.capacity import planning
from llmstack.errors import LlmstackError
from llmstack.spec.models import PoolSpec, StackSpec
from llmstack.targets.docker import allocation

PROMETHEUS_PORT = 9090
GRAFANA_PORT = 3000
DCGM_PORT = 9400


@dataclass(frozen=True)
class Replica:
    """One vLLM container: replica ``index`` of ``deployment`` on ``device_ids``."""

    deployment: str
    index: int
    container: str
    device_ids: tuple[int, ...]

    @property
    def address(self) -> str:
        return f"{self.container}:{ENGINE_PORT}"


@dataclass(frozen=True)
class PublishedPort:
    """A host port: ``address:port`` on the host forwards to ``container:container_port``."""

    owner: str
    container: str
    address: str
    port: int
    container_port: int


@dataclass(frozen=True)
class DockerLayout:
    """Every container of the stack on its host, named as the network resolves it."""

    stack: StackSpec
    network: str
    model_cache_volume: str
    replicas: tuple[Replica, ...]
    routers: Mapping[str, str]
    prometheus: str
    grafana: str | None
    dcgm: str | None
    ports: tuple[PublishedPort, ...]

    def replicas_of(self, deployment: str) -> list[Replica]:
        return [r for r in self.replicas if r.deployment == deployment]

    def engine_targets(self) -> dict[str, list[str]]:
        """deployment -> ``container:port`` of each replica (Prometheus static targets)."""
        return {d.name: [r.address for r in self.replicas_of(d.name)] for d in self.stack.deployments}

    def assignment(self) -> dict[str, list[list[int]]]:
        """deployment -> device ids per replica, as the state file and the stack output keep it."""
        return {d.name: [list(r.device_ids) for r in self.replicas_of(d.name)] for d in self.stack.deployments}

    def ports_of(self, container: str) -> list[PublishedPort]:
        return [p for p in self.ports if p.container == container]


def container_name(stack: StackSpec, *parts: str | int) -> str:
    """``<stack>-<part>-...``: unique per stack, so two stacks can share a host."""
    return "-".join([stack.name, *(str(p) for p in parts)])


def plan(stack: StackSpec, previous: Mapping[str, Sequence[Sequence[int]]] | None = None) -> DockerLayout:
    """Check ``stack`` for one Docker host and place its containers (``previous``: the last GPU assignment)."""
    devices = pool_devices(stack)
    planning.check_stack(stack)
    demands = [
        allocation.GpuDemand(d.name, d.pool, d.replicas.start, d.gpus_per_replica) for d in stack.deployments
    ]
    assigned = allocation.allocate(demands, devices, previous)
    replicas = tuple(
        Replica(d.name, k, container_name(stack, d.name, k), ids)
        for d in stack.deployments
        for k, ids in enumerate(assigned[d.name])
    )
    routers = {r.name: container_name(stack, "router", r.name) for r in stack.routers}
    prometheus = container_name(stack, "prometheus")
    grafana = container_name(stack, "grafana") if stack.monitoring.grafana else None
    dcgm = container_name(stack, "dcgm-exporter") if stack.monitoring.dcgm_exporter else None
    names = [r.container for r in replicas] + list(routers.values()) + [prometheus]
    names += [n for n in (grafana, dcgm) if n is not None]
    _require_unique_containers(names)
    return DockerLayout(
        stack=stack,
        network=container_name(stack, "net"),
        model_cache_volume=container_name(stack, "hf-cache"),
        replicas=replicas,
        routers=routers,
        prometheus=prometheus,
        grafana=grafana,
        dcgm=dcgm,
        ports=published_ports(stack, routers, prometheus, grafana),
    )


def pool_devices(stack: StackSpec) -> dict[str, tuple[int, ...]]:
    """Device ids of every pool a deployment uses; each must be one host's GPUs."""
    used = {d.pool for d in stack.deployments}
    devices: dict[str, tuple[int, ...]] = {}
    for pool in stack.pools:
        if pool.name in used:
            devices[pool.name] = _devices(pool)
    allocation.allocate([], devices)  # distinct, non-negative, disjoint across pools
    return devices


def _devices(pool: PoolSpec) -> tuple[int, ...]:
    path = f"pools[{pool.name}]"
    if pool.nodes.max != 1:
        raise LlmstackError(
            f"nodes.max is {pool.nodes.max}; the docker target runs every pool on one host",
            path=f"{path}.nodes.max",
            hint="set nodes: {min: 1, max: 1} with gpus_per_node = the host's GPUs, or use --target kubernetes",
        )
    if pool.device_ids is None:
        return tuple(range(pool.gpus_per_node))
    missing = [i for i in pool.device_ids if not 0 <= i < pool.gpus_per_node]
    if missing:
        raise LlmstackError(
            f"device ids {missing} do not exist on a host with gpus_per_node {pool.gpus_per_node} "
            f"(ids 0..{pool.gpus_per_node - 1})",
            path=f"{path}.device_ids",
            hint="list indices as nvidia-smi shows them, or raise gpus_per_node to the host's GPU count",
        )
    return tuple(pool.device_ids)


def published_ports(stack: StackSpec, routers: Mapping[str, str], prometheus: str,
                    grafana: str | None) -> tuple[PublishedPort, ...]:
    """The host ports the stack publishes; two owners of one port raise naming both."""
    address = stack.docker.publish_address
    ports = [PublishedPort(f"routers[{r.name}].port", routers[r.name], address, r.port, r.port)
             for r in stack.routers]
    if stack.docker.prometheus_port is not None:
        ports.append(PublishedPort("docker.prometheus_port", prometheus, address, stack.docker.prometheus_port,
                                   PROMETHEUS_PORT))
    if grafana is not None and stack.docker.grafana_port is not None:
        ports.append(PublishedPort("docker.grafana_port", grafana, address, stack.docker.grafana_port,
                                   GRAFANA_PORT))
    owners: dict[int, str] = {}
    for p in ports:
        if p.port in owners:
            raise LlmstackError(
                f"port {p.port} is published by both {owners[p.port]} and {p.owner}",
                path=p.owner,
                hint="give each published port its own number",
            )
        owners[p.port] = p.owner
    return tuple(ports)


def _require_unique_containers(names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise LlmstackError(f"two containers would be named {name!r}", path="deployments",
                                hint="rename the deployment or router whose name repeats another container's")
        seen.add(name)
