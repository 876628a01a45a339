"""DCGM exporters: a DaemonSet per GPU pool, its PodMonitor and NetworkPolicy.

DCGM exporter samples name the pod that holds the GPU; the metric relabelings of
:func:`llmstack.artifacts.prometheus.dcgm_pod_relabelings` derive its ``deployment``.

Security: the exporter maps GPUs to pods through the kubelet's pod-resources socket, not the
API server, so it gets no service account token. It keeps root and ``SYS_ADMIN`` (NVIDIA's
own manifests do the same: DCGM's profiling metrics, ``DCGM_FI_PROF_*``, need it) with every
other capability dropped, no privilege escalation and ``seccompProfile: RuntimeDefault``;
those two exceptions are allowlisted in the checkov test with this reason.
"""

from __future__ import annotations

from typing import Any

from llmstack.artifacts import images, labels, prometheus
from llmstack.spec.models import PoolSpec, StackSpec
from llmstack.targets.kubernetes import engines, meta, naming, networking
from llmstack.targets.kubernetes.options import KubernetesOptions

MONITORING_API = "monitoring.coreos.com/v1"
DCGM_PORT = 9400
_OPERATOR_KEYS = {"source_labels": "sourceLabels", "target_label": "targetLabel"}


def dcgm_labels(stack: StackSpec, pool: PoolSpec) -> dict[str, str]:
    return {"app.kubernetes.io/name": "dcgm-exporter", "app.kubernetes.io/instance": naming.dns_name(stack.name,
            "dcgm", pool.name), labels.K8S_COMPONENT: "gpu-metrics", **meta.PART_OF, labels.K8S_POOL: pool.name}


def dcgm_container() -> dict[str, Any]:
    """The exporter: root with SYS_ADMIN only (DCGM's profiling metrics need it), everything else dropped."""
    health = {"httpGet": {"path": "/health", "port": "metrics"}}
    return {
        "name": "dcgm-exporter",
        "image": images.DCGM_EXPORTER_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "env": [{"name": "DCGM_EXPORTER_KUBERNETES", "value": "true"},
                {"name": "DCGM_EXPORTER_LISTEN", "value": f":{DCGM_PORT}"},
                {"name": "NVIDIA_VISIBLE_DEVICES", "value": "all"}],
        "ports": [{"name": "metrics", "containerPort": DCGM_PORT, "protocol": "TCP"}],
        "readinessProbe": {**health, "initialDelaySeconds": 15, "periodSeconds": 10},
        "livenessProbe": {**health, "initialDelaySeconds": 45, "periodSeconds": 30, "failureThreshold": 3},
        "securityContext": {"runAsNonRoot": False, "runAsUser": 0, "allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"], "add": ["SYS_ADMIN"]},
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
        "volumeMounts": [{"name": "pod-resources", "mountPath": "/var/lib/kubelet/pod-resources", "readOnly": True}],
    }


def dcgm_daemon_set(stack: StackSpec, pool: PoolSpec, options: KubernetesOptions) -> dict[str, Any]:
    """DCGM exporter on every node of a GPU pool (same nodeSelector and tolerations as the engines)."""
    pod_labels = dcgm_labels(stack, pool)
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": meta.metadata(naming.dns_name("dcgm-exporter", pool.name), options.namespace, pod_labels),
        "spec": {
            "selector": {"matchLabels": dcgm_selector(pod_labels)},
            "updateStrategy": {"type": "RollingUpdate"},
            "template": {
                "metadata": {"labels": pod_labels},
                "spec": {
                    "automountServiceAccountToken": False,
                    "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [dcgm_container()],
                    "volumes": [{"name": "pod-resources",
                                 "hostPath": {"path": "/var/lib/kubelet/pod-resources", "type": "Directory"}}],
                    **engines.pool_scheduling(pool),
                },
            },
        },
    }


def dcgm_selector(pod_labels: dict[str, str]) -> dict[str, str]:
    return {"app.kubernetes.io/instance": pod_labels["app.kubernetes.io/instance"]}


def dcgm_network_policy(stack: StackSpec, pool: PoolSpec, options: KubernetesOptions) -> dict[str, Any]:
    pod_labels = dcgm_labels(stack, pool)
    return networking.exporter_policy(naming.dns_name("dcgm-exporter", pool.name), options.namespace, pod_labels,
                                      dcgm_selector(pod_labels), DCGM_PORT, options)


def operator_relabeling(rule: dict[str, Any]) -> dict[str, Any]:
    """A prometheus.yml relabel config in the Prometheus Operator's spelling (camelCase keys)."""
    return {_OPERATOR_KEYS.get(key, key): value for key, value in rule.items()}


def dcgm_metric_relabelings(stack: StackSpec, options: KubernetesOptions) -> list[dict[str, Any]]:
    """GPU samples -> the ``deployment`` whose pod holds the GPU (same rules as the plain Prometheus)."""
    return [operator_relabeling(r) for r in prometheus.dcgm_pod_relabelings(stack, options.namespace)]


def dcgm_pod_monitor(stack: StackSpec, pool: PoolSpec, options: KubernetesOptions) -> dict[str, Any]:
    """PodMonitor of a pool's DCGM exporters; ``honorLabels`` keeps the exporter's ``pod``/``namespace``
    (the GPU's user) instead of the exporter pod's own."""
    pod_labels = dcgm_labels(stack, pool)
    return {
        "apiVersion": MONITORING_API,
        "kind": "PodMonitor",
        "metadata": meta.metadata(naming.dns_name("dcgm-exporter", pool.name), options.namespace,
                                  {**pod_labels, **options.monitor_labels}),
        "spec": {
            "selector": {"matchLabels": dcgm_selector(pod_labels)},
            "podMetricsEndpoints": [{
                "port": "metrics",
                "path": "/metrics",
                "honorLabels": True,
                "interval": stack.monitoring.scrape_interval,
                "relabelings": [operator_relabeling(r) for r in prometheus.pod_label_relabelings(
                    prometheus.DCGM_POD_LABELS, prometheus.GPU_ROLE)],
                "metricRelabelings": dcgm_metric_relabelings(stack, options),
            }],
        },
    }
