"""A plain Prometheus for clusters without the Prometheus Operator: configuration, rules, RBAC,
Deployment, Service and NetworkPolicy.

It discovers the stack's pods with ``kubernetes_sd`` in the namespace, so it is the one
workload here that keeps a service account token (a namespaced Role to list pods, services
and endpoints). It runs restricted: ``nobody`` (65534), read-only root filesystem (the TSDB
lives on an ``emptyDir``), no capabilities, ``seccompProfile: RuntimeDefault``, and without
``--web.enable-lifecycle`` (no HTTP reload or shutdown: a configuration change rolls the pod
through the checksum annotation). Only pods of the stack's namespace reach its port (and, with the
controller's KEDA fast path, KEDA's operator, which queries ``llmstack_desired_replicas``).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from llmstack import yaml_text
from llmstack.artifacts import images, labels, prometheus, security
from llmstack.spec.models import StackSpec
from llmstack.targets.kubernetes import meta, naming, networking
from llmstack.targets.kubernetes.networking import PROMETHEUS_POD_LABELS
from llmstack.targets.kubernetes.options import KubernetesOptions

PROMETHEUS_PORT = 9090
PROMETHEUS_CONFIG_DIR = "/etc/prometheus"
RECORDING_FILE = "llmstack-recording.yml"
ALERTING_FILE = "llmstack-alerts.yml"
NOBODY = 65534


def _yaml(data: Any) -> str:
    return yaml_text.dump(data)


def config_data(stack: StackSpec, options: KubernetesOptions) -> dict[str, str]:
    """prometheus.yml and the rule files, as ConfigMap data."""
    config = prometheus.build_prometheus_config(
        stack, prometheus.ScrapeTargets.kubernetes(options.namespace),
        rule_files=[f"{PROMETHEUS_CONFIG_DIR}/{RECORDING_FILE}", f"{PROMETHEUS_CONFIG_DIR}/{ALERTING_FILE}"],
    )
    return {
        "prometheus.yml": _yaml(config),
        RECORDING_FILE: _yaml(prometheus.build_recording_rules(stack)),
        ALERTING_FILE: _yaml(prometheus.build_alert_rules(stack)),
    }


def container(stack: StackSpec) -> dict[str, Any]:
    return {
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
        "securityContext": security.container(read_only_root=True),
    }


def rbac(name: str, namespace: str, pod_labels: dict[str, str]) -> list[dict[str, Any]]:
    """ServiceAccount, Role (read pods, services, endpoints in the namespace) and RoleBinding."""
    rules = [{"apiGroups": [""], "resources": ["pods", "services", "endpoints"], "verbs": ["get", "list", "watch"]}]
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta.metadata(name, namespace, pod_labels)},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
         "metadata": meta.metadata(name, namespace, pod_labels), "rules": rules},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": meta.metadata(name, namespace, pod_labels),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
         "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}]},
    ]


def deployment(stack: StackSpec, name: str, namespace: str, pod_labels: dict[str, str],
               data: dict[str, str]) -> dict[str, Any]:
    checksum = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta.metadata(name, namespace, pod_labels),
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": {"app.kubernetes.io/instance": name}},
            "template": {
                "metadata": {"labels": pod_labels, "annotations": {meta.CONFIG_CHECKSUM_ANNOTATION: checksum}},
                "spec": {
                    "serviceAccountName": name,
                    "securityContext": security.pod(NOBODY, fs_group=NOBODY),
                    "containers": [container(stack)],
                    "volumes": [{"name": "config", "configMap": {"name": name}}, {"name": "data", "emptyDir": {}}],
                },
            },
        },
    }


def objects(stack: StackSpec, options: KubernetesOptions) -> list[dict[str, Any]]:
    """Every object of the plain Prometheus."""
    name = naming.dns_name(stack.name, "prometheus")
    namespace = options.namespace
    pod_labels = {**PROMETHEUS_POD_LABELS, "app.kubernetes.io/instance": name, labels.K8S_COMPONENT: "monitoring",
                  **meta.PART_OF}
    data = config_data(stack, options)
    same_namespace = [{"from": [{"podSelector": {}}], "ports": [{"port": PROMETHEUS_PORT, "protocol": "TCP"}]}]
    if stack.controller.enabled and stack.controller.keda.enabled:  # KEDA's operator queries the desired replicas
        keda = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name":
                                                      stack.controller.keda.operator_namespace}},
                "podSelector": {"matchLabels": {"app.kubernetes.io/name": "keda-operator"}}}
        same_namespace.append({"from": [keda], "ports": [{"port": PROMETHEUS_PORT, "protocol": "TCP"}]})
    return [
        *rbac(name, namespace, pod_labels),
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta.metadata(name, namespace, pod_labels),
         "data": data},
        deployment(stack, name, namespace, pod_labels, data),
        {"apiVersion": "v1", "kind": "Service", "metadata": meta.metadata(name, namespace, pod_labels),
         "spec": {"type": "ClusterIP", "selector": {"app.kubernetes.io/instance": name},
                  "ports": [{"name": "web", "port": PROMETHEUS_PORT, "targetPort": "web", "protocol": "TCP"}]}},
        networking.policy(name, namespace, pod_labels, {"app.kubernetes.io/instance": name}, same_namespace),
    ]
