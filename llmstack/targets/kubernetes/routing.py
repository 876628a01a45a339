"""Manifests of one router: HAProxy Deployment, its ConfigMap (haproxy.cfg) and Service.

Backends are addressed through each deployment's headless Service (``server-template``
slots filled from DNS), so scaling a deployment changes no router configuration. The
pod template carries a checksum of haproxy.cfg, so a configuration change rolls the router.
HAProxy runs restricted: a high non-root UID, read-only root filesystem (it writes nothing:
no runtime socket, logs to stdout), no capabilities (ports above 1024), no API token.
"""

from __future__ import annotations

import hashlib
from typing import Any

from llmstack.artifacts import addressing, haproxy, haproxy_hold, images, labels, security
from llmstack.spec.models import StackSpec
from llmstack.targets.kubernetes import meta, resolved
from llmstack.targets.kubernetes.options import KubernetesOptions
from llmstack.targets.kubernetes.resolved import KubeRouter

CONFIG_DIR = addressing.ROUTER_CONFIG_DIR
CONFIG_FILE = "haproxy.cfg"
STATS_PORT = addressing.STATS_PORT


def config_map(router: KubeRouter, config: str) -> dict[str, Any]:
    """haproxy.cfg, and the hold's Lua script when the configuration loads it (a deployment may scale to zero)."""
    data = {CONFIG_FILE: config}
    if f"lua-load {CONFIG_DIR}/{haproxy_hold.SCRIPT_NAME}" in config:
        data[haproxy_hold.SCRIPT_NAME] = haproxy_hold.HOLD_SCRIPT
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta.metadata(router.object_name, router.namespace, router.labels),
        "data": data,
    }


def deployment(router: KubeRouter, config: str) -> dict[str, Any]:
    """HAProxy Deployment; the config checksum annotation rolls it when haproxy.cfg changes."""
    spec = router.spec
    checksum = hashlib.sha256(config.encode()).hexdigest()
    health = {"httpGet": {"path": haproxy.ROUTER_HEALTH_PATH, "port": labels.ROUTER_PORT_NAME}}
    container = {
        "name": "haproxy",
        "image": images.HAPROXY_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "args": ["-f", f"{CONFIG_DIR}/{CONFIG_FILE}"],
        "ports": [
            {"name": labels.ROUTER_PORT_NAME, "containerPort": spec.port, "protocol": "TCP"},
            {"name": labels.ROUTER_METRICS_PORT_NAME, "containerPort": STATS_PORT, "protocol": "TCP"},
        ],
        "readinessProbe": {**health, "periodSeconds": 5},
        "livenessProbe": {**health, "periodSeconds": 10, "failureThreshold": 3},
        "resources": {"requests": {"cpu": "500m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
        "volumeMounts": [{"name": "config", "mountPath": CONFIG_DIR, "readOnly": True}],
        "securityContext": security.container(read_only_root=True),
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta.metadata(router.object_name, router.namespace, router.labels),
        "spec": {
            "replicas": spec.replicas,
            "revisionHistoryLimit": 3,
            "selector": {"matchLabels": router.selector},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {"labels": router.labels, "annotations": {meta.CONFIG_CHECKSUM_ANNOTATION: checksum}},
                "spec": {
                    "containers": [container],
                    "volumes": [{"name": "config", "configMap": {"name": router.object_name}}],
                    "enableServiceLinks": False,
                    "automountServiceAccountToken": False,
                    "securityContext": security.pod(security.HIGH_UID),
                },
            },
        },
    }


def service(router: KubeRouter) -> dict[str, Any]:
    """The router's Service, of the type the spec asks for (the only way into the stack)."""
    spec = router.spec
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta.metadata(router.object_name, router.namespace, router.labels),
        "spec": {
            "type": spec.service_type,
            "selector": router.selector,
            "ports": [
                {"name": labels.ROUTER_PORT_NAME, "port": spec.port, "targetPort": labels.ROUTER_PORT_NAME,
                 "protocol": "TCP"},
                {"name": labels.ROUTER_METRICS_PORT_NAME, "port": STATS_PORT,
                 "targetPort": labels.ROUTER_METRICS_PORT_NAME, "protocol": "TCP"},
            ],
        },
    }


def router_objects(stack: StackSpec, router: KubeRouter, options: KubernetesOptions) -> list[dict[str, Any]]:
    """ConfigMap with haproxy.cfg (:func:`llmstack.artifacts.addressing.router_config`), Deployment, Service."""
    config = addressing.router_config(stack, router.name, resolved.cluster(options), options.dns_resolver)
    return [config_map(router, config), deployment(router, config), service(router)]
