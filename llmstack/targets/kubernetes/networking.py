"""NetworkPolicies: every pod of the stack admits only the traffic it serves.

- Engines: HTTP from the stack's routers, from Prometheus, and, for deployments behind an
  InferencePool, from the Gateway's namespaces (the Gateway's proxy connects to the pod the
  picker chose) and from their endpoint picker (it scrapes ``/metrics``). Pods of the same
  deployment may talk to each other on any port (a LeaderWorkerSet group runs Ray and NCCL).
- Routers (HAProxy): the router port from anywhere (it is the stack's entry; the Service
  type decides who can reach it), the stats port from Prometheus.
- DCGM exporters: the metrics port from Prometheus. The endpoint picker's policy is built
  with its other objects in :mod:`llmstack.artifacts.gateway`.

Prometheus is matched by ``app.kubernetes.io/name: prometheus`` (the Prometheus Operator's
and this target's plain Prometheus pods), in ``options.prometheus_namespace`` or any
namespace when it is unset.
"""

from __future__ import annotations

from typing import Any

from llmstack.artifacts import addressing, gateway, labels
from llmstack.targets.kubernetes import meta
from llmstack.targets.kubernetes.options import KubernetesOptions
from llmstack.targets.kubernetes.resolved import KubeDeployment, KubeRouter

PROMETHEUS_POD_LABELS = {"app.kubernetes.io/name": "prometheus"}


def prometheus_peer(options: KubernetesOptions) -> dict[str, Any]:
    """NetworkPolicy peer: the Prometheus pods that scrape the stack."""
    namespace_selector: dict[str, Any] = (
        {"matchLabels": {"kubernetes.io/metadata.name": options.prometheus_namespace}}
        if options.prometheus_namespace else {}
    )
    return {"namespaceSelector": namespace_selector, "podSelector": {"matchLabels": dict(PROMETHEUS_POD_LABELS)}}


def policy(name: str, namespace: str, obj_labels: dict[str, str], pods: dict[str, str],
           ingress: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta.metadata(name, namespace, obj_labels),
        "spec": {"podSelector": {"matchLabels": dict(pods)}, "policyTypes": ["Ingress"], "ingress": ingress},
    }


def _tcp(port: int) -> list[dict[str, Any]]:
    return [{"port": port, "protocol": "TCP"}]


def engine_policy(kd: KubeDeployment, options: KubernetesOptions,
                  gateway_namespaces: list[str] | None = None) -> dict[str, Any]:
    """Ingress rules of one deployment's engine pods (``gateway_namespaces``: it sits behind an InferencePool)."""
    pods = kd.address.selector
    http = _tcp(meta.ENGINE_PORT)
    routers = {labels.K8S_COMPONENT: labels.ROUTER_ROLE, "app.kubernetes.io/part-of": "llmstack"}
    ingress: list[dict[str, Any]] = [
        {"from": [{"podSelector": {"matchLabels": routers}}], "ports": http},
        {"from": [prometheus_peer(options)], "ports": http},
        {"from": [{"podSelector": {"matchLabels": pods}}]},
    ]
    if gateway_namespaces:
        picker = {labels.K8S_COMPONENT: gateway.PICKER_COMPONENT, labels.K8S_DEPLOYMENT: kd.name}
        ingress.append({"from": [gateway.namespace_peer(ns) for ns in gateway_namespaces], "ports": http})
        ingress.append({"from": [{"podSelector": {"matchLabels": picker}}], "ports": http})
    return policy(kd.address.workload, kd.namespace, kd.labels, pods, ingress)


def router_policy(router: KubeRouter, options: KubernetesOptions) -> dict[str, Any]:
    """HAProxy: the router port from anywhere, the stats port (/metrics) from Prometheus only."""
    ingress = [
        {"ports": _tcp(router.spec.port)},
        {"from": [prometheus_peer(options)], "ports": _tcp(addressing.STATS_PORT)},
    ]
    return policy(router.object_name, router.namespace, router.labels, router.selector, ingress)


def exporter_policy(name: str, namespace: str, obj_labels: dict[str, str], pods: dict[str, str], port: int,
                    options: KubernetesOptions) -> dict[str, Any]:
    """A metrics exporter (DCGM): its port from Prometheus only."""
    return policy(name, namespace, obj_labels, pods, [{"from": [prometheus_peer(options)], "ports": _tcp(port)}])
