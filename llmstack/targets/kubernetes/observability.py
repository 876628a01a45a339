"""Monitoring manifests: PodMonitors and a PrometheusRule (Prometheus Operator), Grafana dashboard
ConfigMaps, DCGM exporter DaemonSets on GPU pools, or a plain Prometheus without the operator.

Engine pods carry ``llmstack.io/*`` labels; every scrape maps them onto the Prometheus
target labels of :func:`llmstack.artifacts.labels.engine_labels` (``deployment``, ``model``,
``variant``, ``pool``, ``llmstack_role``), so the recording rules can group ``by (deployment)``.
DCGM exporter samples name the pod that holds the GPU; the metric relabelings of
:func:`llmstack.artifacts.prometheus.dcgm_pod_relabelings` derive its ``deployment``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from llmstack import yaml_text
from llmstack.artifacts import grafana, images, labels, prometheus
from llmstack.spec.models import PoolSpec, StackSpec
from llmstack.targets.kubernetes import engines, meta, naming
from llmstack.targets.kubernetes.networking import PROMETHEUS_POD_LABELS
from llmstack.targets.kubernetes.options import KubernetesOptions

MONITORING_API = "monitoring.coreos.com/v1"
DCGM_PORT = 9400
PROMETHEUS_PORT = 9090
PROMETHEUS_CONFIG_DIR = "/etc/prometheus"
RECORDING_FILE = "llmstack-recording.yml"
ALERTING_FILE = "llmstack-alerts.yml"
_OPERATOR_KEYS = {"source_labels": "sourceLabels", "target_label": "targetLabel"}


def engine_relabelings() -> list[dict[str, Any]]:
    """Pod labels -> Prometheus target labels of an engine (the plain Prometheus's rules, Operator spelling)."""
    return [operator_relabeling(r) for r in prometheus.pod_label_relabelings(prometheus.ENGINE_POD_LABELS,
                                                                             labels.ENGINE_ROLE)]


def engine_pod_monitor(stack: StackSpec, deployment: str, options: KubernetesOptions) -> dict[str, Any]:
    """PodMonitor scraping ``/metrics`` of one deployment's serving pods (LeaderWorkerSet leaders)."""
    return {
        "apiVersion": MONITORING_API,
        "kind": "PodMonitor",
        "metadata": meta.metadata(naming.engine(deployment), options.namespace,
                                  {**labels.k8s_labels(stack, deployment), **options.monitor_labels}),
        "spec": {
            "selector": {"matchLabels": engines.selector(stack, deployment)},
            "podMetricsEndpoints": [{
                "port": labels.ENGINE_PORT_NAME,
                "path": "/metrics",
                "interval": stack.monitoring.scrape_interval,
                "relabelings": engine_relabelings(),
            }],
        },
    }


def router_pod_monitor(stack: StackSpec, router: str, options: KubernetesOptions) -> dict[str, Any]:
    pod_labels = labels.router_k8s_labels(stack, router)
    return {
        "apiVersion": MONITORING_API,
        "kind": "PodMonitor",
        "metadata": meta.metadata(naming.router(router), options.namespace, {**pod_labels, **options.monitor_labels}),
        "spec": {
            "selector": {"matchLabels": {k: pod_labels[k] for k in ("app.kubernetes.io/instance", labels.K8S_ROUTER)}},
            "podMetricsEndpoints": [{
                "port": labels.ROUTER_METRICS_PORT_NAME,
                "path": "/metrics",
                "interval": stack.monitoring.scrape_interval,
                "relabelings": [operator_relabeling(r) for r in prometheus.pod_label_relabelings(
                    prometheus.ROUTER_POD_LABELS, labels.ROUTER_ROLE)],
            }],
        },
    }


def dcgm_labels(stack: StackSpec, pool: PoolSpec) -> dict[str, str]:
    return {"app.kubernetes.io/name": "dcgm-exporter", "app.kubernetes.io/instance": naming.dns_name(stack.name,
            "dcgm", pool.name), labels.K8S_COMPONENT: "gpu-metrics", **meta.PART_OF, labels.K8S_POOL: pool.name}


def dcgm_daemon_set(stack: StackSpec, pool: PoolSpec, options: KubernetesOptions) -> dict[str, Any]:
    """DCGM exporter on every node of a GPU pool (same nodeSelector and tolerations as the engines)."""
    pod_labels = dcgm_labels(stack, pool)
    container = {
        "name": "dcgm-exporter",
        "image": images.DCGM_EXPORTER_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "env": [{"name": "DCGM_EXPORTER_KUBERNETES", "value": "true"},
                {"name": "DCGM_EXPORTER_LISTEN", "value": f":{DCGM_PORT}"},
                {"name": "NVIDIA_VISIBLE_DEVICES", "value": "all"}],
        "ports": [{"name": "metrics", "containerPort": DCGM_PORT, "protocol": "TCP"}],
        "securityContext": {"runAsNonRoot": False, "runAsUser": 0, "capabilities": {"add": ["SYS_ADMIN"]}},
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
        "volumeMounts": [{"name": "pod-resources", "mountPath": "/var/lib/kubelet/pod-resources", "readOnly": True}],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": meta.metadata(naming.dns_name("dcgm-exporter", pool.name), options.namespace, pod_labels),
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/instance": pod_labels["app.kubernetes.io/instance"]}},
            "updateStrategy": {"type": "RollingUpdate"},
            "template": {
                "metadata": {"labels": pod_labels},
                "spec": {
                    "containers": [container],
                    "volumes": [{"name": "pod-resources",
                                 "hostPath": {"path": "/var/lib/kubelet/pod-resources", "type": "Directory"}}],
                    **engines.pool_scheduling(pool),
                },
            },
        },
    }


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
            "selector": {"matchLabels": {"app.kubernetes.io/instance": pod_labels["app.kubernetes.io/instance"]}},
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


def prometheus_rule(stack: StackSpec, options: KubernetesOptions) -> dict[str, Any]:
    """Recording rules (the policy engine's signals) and alerts, as one PrometheusRule."""
    groups = [*prometheus.build_recording_rules(stack)["groups"], *prometheus.build_alert_rules(stack)["groups"]]
    return {
        "apiVersion": MONITORING_API,
        "kind": "PrometheusRule",
        "metadata": meta.metadata(naming.dns_name(stack.name, "llmstack-rules"), options.namespace,
                                  {**meta.PART_OF, **options.monitor_labels}),
        "spec": {"groups": groups},
    }


def dashboard_config_maps(stack: StackSpec, options: KubernetesOptions) -> list[dict[str, Any]]:
    """One ConfigMap per Grafana dashboard, labelled for the Grafana sidecar."""
    maps = []
    for key, dashboard in sorted(grafana.build_dashboards(stack).items()):
        stem = key.removesuffix(".json")
        maps.append({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": meta.metadata(naming.dns_name(stack.name, "dashboard", stem), options.namespace,
                                      {"grafana_dashboard": "1", **meta.PART_OF}),
            "data": {f"{naming.dns_name(stem)}.json": json.dumps(dashboard, indent=2, sort_keys=True) + "\n"},
        })
    return maps


def _yaml(data: Any) -> str:
    return yaml_text.dump(data)


def plain_prometheus(stack: StackSpec, options: KubernetesOptions) -> list[dict[str, Any]]:
    """A Prometheus Deployment with its configuration, rules and namespaced RBAC (no operator needed)."""
    name = naming.dns_name(stack.name, "prometheus")
    pod_labels = {**PROMETHEUS_POD_LABELS, "app.kubernetes.io/instance": name, labels.K8S_COMPONENT: "monitoring",
                  **meta.PART_OF}
    config = prometheus.build_prometheus_config(
        stack, prometheus.ScrapeTargets.kubernetes(options.namespace),
        rule_files=[f"{PROMETHEUS_CONFIG_DIR}/{RECORDING_FILE}", f"{PROMETHEUS_CONFIG_DIR}/{ALERTING_FILE}"],
    )
    data = {
        "prometheus.yml": _yaml(config),
        RECORDING_FILE: _yaml(prometheus.build_recording_rules(stack)),
        ALERTING_FILE: _yaml(prometheus.build_alert_rules(stack)),
    }
    checksum = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
    rbac_rules = [{"apiGroups": [""], "resources": ["pods", "services", "endpoints"],
                   "verbs": ["get", "list", "watch"]}]
    container = {
        "name": "prometheus",
        "image": images.PROMETHEUS_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "args": [f"--config.file={PROMETHEUS_CONFIG_DIR}/prometheus.yml", "--storage.tsdb.path=/prometheus",
                 f"--storage.tsdb.retention.time={stack.monitoring.retention}"],
        "ports": [{"name": "web", "containerPort": PROMETHEUS_PORT, "protocol": "TCP"}],
        "readinessProbe": {"httpGet": {"path": "/-/ready", "port": "web"}, "periodSeconds": 10},
        "livenessProbe": {"httpGet": {"path": "/-/healthy", "port": "web"}, "periodSeconds": 30},
        "resources": {"requests": {"cpu": "500m", "memory": "2Gi"}, "limits": {"memory": "4Gi"}},
        "volumeMounts": [{"name": "config", "mountPath": PROMETHEUS_CONFIG_DIR, "readOnly": True},
                         {"name": "data", "mountPath": "/prometheus"}],
        "securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True, "runAsUser": 65534,
                            "capabilities": {"drop": ["ALL"]}},
    }
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta.metadata(name, options.namespace, pod_labels)},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
         "metadata": meta.metadata(name, options.namespace, pod_labels), "rules": rbac_rules},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": meta.metadata(name, options.namespace, pod_labels),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
         "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": options.namespace}]},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta.metadata(name, options.namespace, pod_labels),
         "data": data},
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": meta.metadata(name, options.namespace, pod_labels),
         "spec": {
             "replicas": 1,
             "strategy": {"type": "Recreate"},
             "selector": {"matchLabels": {"app.kubernetes.io/instance": name}},
             "template": {
                 "metadata": {"labels": pod_labels, "annotations": {meta.CONFIG_CHECKSUM_ANNOTATION: checksum}},
                 "spec": {
                     "serviceAccountName": name,
                     "containers": [container],
                     "volumes": [{"name": "config", "configMap": {"name": name}}, {"name": "data", "emptyDir": {}}],
                 },
             },
         }},
        {"apiVersion": "v1", "kind": "Service", "metadata": meta.metadata(name, options.namespace, pod_labels),
         "spec": {"type": "ClusterIP", "selector": {"app.kubernetes.io/instance": name},
                  "ports": [{"name": "web", "port": PROMETHEUS_PORT, "targetPort": "web", "protocol": "TCP"}]}},
    ]


def gpu_pools(stack: StackSpec) -> list[PoolSpec]:
    """Pools with at least one deployment on them (where DCGM exporters run)."""
    used = {d.pool for d in stack.deployments}
    return [p for p in stack.pools if p.name in used]


def monitoring_objects(stack: StackSpec, options: KubernetesOptions) -> list[dict[str, Any]]:
    """Every monitoring object of the stack, for the operator or the plain Prometheus."""
    mon = stack.monitoring
    objects: list[dict[str, Any]] = []
    if mon.dcgm_exporter:
        objects += [dcgm_daemon_set(stack, pool, options) for pool in gpu_pools(stack)]
    if mon.prometheus_operator:
        objects += [engine_pod_monitor(stack, d.name, options) for d in stack.deployments]
        objects += [router_pod_monitor(stack, r.name, options) for r in stack.routers]
        if mon.dcgm_exporter:
            objects += [dcgm_pod_monitor(stack, pool, options) for pool in gpu_pools(stack)]
        objects.append(prometheus_rule(stack, options))
    else:
        objects += plain_prometheus(stack, options)
    if mon.grafana:
        objects += dashboard_config_maps(stack, options)
    return objects
