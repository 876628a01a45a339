"""NetworkPolicy: engines accept traffic only from the stack's routers and from Prometheus.

Pods of the same deployment may talk to each other on any port (a LeaderWorkerSet group
runs Ray and NCCL between its pods). Prometheus is matched by ``app.kubernetes.io/name:
prometheus`` (the Prometheus Operator's and this target's plain Prometheus pods), in the
namespace of ``options.prometheus_namespace`` or any namespace when it is unset.
"""

from __future__ import annotations

from typing import Any

from llmstack.artifacts import labels
from llmstack.targets.kubernetes import meta
from llmstack.targets.kubernetes.options import KubernetesOptions
from llmstack.targets.kubernetes.resolved import KubeDeployment

PROMETHEUS_POD_LABELS = {"app.kubernetes.io/name": "prometheus"}


def engine_policy(kd: KubeDeployment, options: KubernetesOptions) -> dict[str, Any]:
    """Ingress rules of one deployment's engine pods."""
    pods = kd.address.selector
    http = [{"port": meta.ENGINE_PORT, "protocol": "TCP"}]
    namespace_selector: dict[str, Any] = (
        {"matchLabels": {"kubernetes.io/metadata.name": options.prometheus_namespace}}
        if options.prometheus_namespace else {}
    )
    routers = {labels.K8S_COMPONENT: labels.ROUTER_ROLE, "app.kubernetes.io/part-of": "llmstack"}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta.metadata(kd.address.workload, kd.namespace, kd.labels),
        "spec": {
            "podSelector": {"matchLabels": pods},
            "policyTypes": ["Ingress"],
            "ingress": [
                {"from": [{"podSelector": {"matchLabels": routers}}], "ports": http},
                {"from": [{"namespaceSelector": namespace_selector,
                           "podSelector": {"matchLabels": PROMETHEUS_POD_LABELS}}], "ports": http},
                {"from": [{"podSelector": {"matchLabels": pods}}]},
            ],
        },
    }
