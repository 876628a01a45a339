"""Addressing: the one place service names, ports and namespaces of a stack are spelled.

The artifacts bundle (``render --target artifacts``), the Kubernetes target and the
gateway objects all take names and cluster DNS hosts from here, so the haproxy.cfg of the
bundle is byte-identical to the one the target puts in the router's ConfigMap, and an
InferencePool names the same picker Service the picker's manifests create.

Names are DNS-1035 labels (:func:`dns_name`): ``<deployment>-vllm`` (workload and ClusterIP
Service), ``<deployment>-vllm-pods`` (headless Service the HAProxy router resolves),
``<deployment>-pool`` (InferencePool), ``<deployment>-epp`` (its endpoint picker) and
``<router>-router``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from dataclasses import dataclass

from llmstack.artifacts import haproxy, haproxy_hold, labels
from llmstack.artifacts.vllm_args import ENGINE_PORT
from llmstack.spec.models import StackSpec

__all__ = ["CLUSTER_DOMAIN", "DEFAULT_NAMESPACE", "ENGINE_PORT", "Cluster", "DeploymentAddress", "dns_name",
           "engine", "haproxy_addressing", "headless", "picker", "pool", "router", "router_config", "router_url"]
DEFAULT_NAMESPACE = "llmstack"
CLUSTER_DOMAIN = "cluster.local"
STATS_PORT = haproxy.HaproxyOptions().stats_port
ROUTER_CONFIG_DIR = "/usr/local/etc/haproxy"
"""Where the router image reads haproxy.cfg (and the hold's Lua script) in a container."""
MAX_LABEL = 63
_INVALID = re.compile(r"[^a-z0-9-]+")


def dns_name(*parts: str) -> str:
    """Join ``parts`` into one DNS-1035 label; longer than 63 characters: cut and add a stable hash."""
    joined = "-".join(p for p in parts if p)
    name = _INVALID.sub("-", joined.lower()).strip("-")
    name = re.sub(r"-{2,}", "-", name)
    if not name or not name[0].isalpha():
        name = f"x-{name}".rstrip("-")
    if len(name) > MAX_LABEL:
        digest = hashlib.sha256(joined.encode()).hexdigest()[:8]
        name = f"{name[:MAX_LABEL - 9].rstrip('-')}-{digest}"
    return name


def engine(deployment: str) -> str:
    """Deployment / LeaderWorkerSet / ClusterIP Service of one model deployment."""
    return dns_name(deployment, "vllm")


def headless(deployment: str) -> str:
    """Headless Service the HAProxy router resolves to find every ready engine pod."""
    return dns_name(deployment, "vllm-pods")


def pool(deployment: str) -> str:
    """InferencePool of one deployment (inference-gateway routers)."""
    return dns_name(deployment, "pool")


def picker(deployment: str) -> str:
    """Endpoint picker (Deployment, Service, ConfigMap, RBAC) of one deployment's InferencePool."""
    return dns_name(deployment, "epp")


def router(name: str) -> str:
    return dns_name(name, "router")


@dataclass(frozen=True)
class Cluster:
    """Where the stack's Services live: namespace and cluster DNS domain."""

    namespace: str = DEFAULT_NAMESPACE
    domain: str = CLUSTER_DOMAIN

    def host(self, service: str) -> str:
        """Cluster DNS name of a Service in this namespace."""
        return f"{service}.{self.namespace}.svc.{self.domain}"


@dataclass(frozen=True)
class DeploymentAddress:
    """One deployment's names and selectors, resolved once for every builder."""

    deployment: str
    workload: str
    headless: str
    pool: str
    picker: str
    selector: dict[str, str]
    """Immutable pod labels of every pod of the deployment (workload selector)."""
    serving_selector: dict[str, str]
    """Pods that serve HTTP (single-node pods, LeaderWorkerSet leaders)."""
    port: int = ENGINE_PORT

    @classmethod
    def of(cls, stack: StackSpec, deployment: str) -> DeploymentAddress:
        selector = labels.selector_labels(stack, deployment)
        return cls(
            deployment=deployment,
            workload=engine(deployment),
            headless=headless(deployment),
            pool=pool(deployment),
            picker=picker(deployment),
            selector=selector,
            serving_selector={**selector, labels.K8S_COMPONENT: labels.ENGINE_ROLE},
        )


def haproxy_addressing(stack: StackSpec, router_name: str, cluster: Cluster,
                       resolver: str | None = None) -> dict[str, haproxy.BackendAddressing]:
    """deployment -> DNS addressing through its headless Service, for every deployment ``router_name`` routes to."""
    spec = next(r for r in stack.routers if r.name == router_name)
    deployments = sorted({d for route in spec.routes for d in route.backends})
    return {
        d: haproxy.BackendAddressing.dns(cluster.host(headless(d)), ENGINE_PORT,
                                         max_servers=max(1, stack.deployment(d).replicas.max),
                                         resolver_nameserver=resolver)
        for d in deployments
    }


def router_config(stack: StackSpec, router_name: str, cluster: Cluster, resolver: str | None = None) -> str:
    """haproxy.cfg of ``router_name`` as deployed in ``cluster`` (the bundle and the target both use this)."""
    addressing = haproxy_addressing(stack, router_name, cluster, resolver)
    options = with_hold(stack, haproxy.HaproxyOptions(stats_port=STATS_PORT))
    return haproxy.build_haproxy_config(stack, router_name, addressing, options)


def with_hold(stack: StackSpec, options: haproxy.HaproxyOptions,
              config_dir: str = ROUTER_CONFIG_DIR) -> haproxy.HaproxyOptions:
    """``options`` with the hold on (its Lua script in ``config_dir``) when a deployment may scale to zero."""
    if not haproxy_hold.holds(stack):
        return options
    return dataclasses.replace(options, hold_timeout=haproxy_hold.hold_timeout(stack),
                               hold_script=f"{config_dir.rstrip('/')}/{haproxy_hold.SCRIPT_NAME}")


def router_url(stack: StackSpec, router_name: str, cluster: Cluster) -> str:
    """In-cluster URL of a router's Service."""
    spec = next(r for r in stack.routers if r.name == router_name)
    return f"http://{cluster.host(router(router_name))}:{spec.port}"
