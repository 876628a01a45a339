"""Manifests of one router: HAProxy Deployment, its ConfigMap (haproxy.cfg) and Service.

Backends are addressed through each deployment's headless Service (``server-template``
slots filled from DNS), so scaling a deployment changes no router configuration. The
pod template carries a checksum of haproxy.cfg, so a configuration change rolls the router.
"""

from __future__ import annotations

import hashlib
from typing import Any

from llmstack.artifacts import haproxy, images, labels
from llmstack.spec.models import StackSpec
from llmstack.targets.kubernetes import meta, naming
from llmstack.targets.kubernetes.options import KubernetesOptions

CONFIG_DIR = "/usr/local/etc/haproxy"
CONFIG_FILE = "haproxy.cfg"
STATS_PORT = haproxy.HaproxyOptions().stats_port


def backend_host(deployment: str, options: KubernetesOptions) -> str:
    """Cluster DNS name of a deployment's headless Service."""
    return f"{naming.headless(deployment)}.{options.namespace}.svc.{options.cluster_domain}"


def router_config(stack: StackSpec, router: str, options: KubernetesOptions) -> str:
    """haproxy.cfg of ``router`` with DNS addressing of every deployment it routes to."""
    spec = next(r for r in stack.routers if r.name == router)
    deployments = sorted({d for route in spec.routes for d in route.backends})
    addressing = {
        d: haproxy.BackendAddressing.dns(backend_host(d, options), meta.ENGINE_PORT,
                                         max_servers=stack.deployment(d).replicas.max,
                                         resolver_nameserver=options.dns_resolver)
        for d in deployments
    }
    return haproxy.build_haproxy_config(stack, router, addressing, haproxy.HaproxyOptions(stats_port=STATS_PORT))


def config_map(stack: StackSpec, router: str, config: str, options: KubernetesOptions) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta.metadata(naming.router(router), options.namespace, labels.router_k8s_labels(stack, router)),
        "data": {CONFIG_FILE: config},
    }


def deployment(stack: StackSpec, router: str, config: str, options: KubernetesOptions) -> dict[str, Any]:
    """HAProxy Deployment; the config checksum annotation rolls it when haproxy.cfg changes."""
    spec = next(r for r in stack.routers if r.name == router)
    pod_labels = labels.router_k8s_labels(stack, router)
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
        "securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True, "runAsUser": 99,
                            "capabilities": {"drop": ["ALL"]}},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta.metadata(naming.router(router), options.namespace, pod_labels),
        "spec": {
            "replicas": spec.replicas,
            "revisionHistoryLimit": 3,
            "selector": {"matchLabels": {k: pod_labels[k] for k in ("app.kubernetes.io/instance",
                                                                     labels.K8S_ROUTER)}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {"labels": pod_labels, "annotations": {meta.CONFIG_CHECKSUM_ANNOTATION: checksum}},
                "spec": {
                    "containers": [container],
                    "volumes": [{"name": "config", "configMap": {"name": naming.router(router)}}],
                    "enableServiceLinks": False,
                },
            },
        },
    }


def service(stack: StackSpec, router: str, options: KubernetesOptions) -> dict[str, Any]:
    """The router's Service, of the type the spec asks for (the only way into the stack)."""
    spec = next(r for r in stack.routers if r.name == router)
    pod_labels = labels.router_k8s_labels(stack, router)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta.metadata(naming.router(router), options.namespace, pod_labels),
        "spec": {
            "type": spec.service_type,
            "selector": {k: pod_labels[k] for k in ("app.kubernetes.io/instance", labels.K8S_ROUTER)},
            "ports": [
                {"name": labels.ROUTER_PORT_NAME, "port": spec.port, "targetPort": labels.ROUTER_PORT_NAME,
                 "protocol": "TCP"},
                {"name": labels.ROUTER_METRICS_PORT_NAME, "port": STATS_PORT,
                 "targetPort": labels.ROUTER_METRICS_PORT_NAME, "protocol": "TCP"},
            ],
        },
    }


def endpoint(stack: StackSpec, router: str, options: KubernetesOptions) -> str:
    """In-cluster URL of a router."""
    spec = next(r for r in stack.routers if r.name == router)
    return f"http://{naming.router(router)}.{options.namespace}.svc.{options.cluster_domain}:{spec.port}"


def router_objects(stack: StackSpec, router: str, options: KubernetesOptions) -> list[dict[str, Any]]:
    config = router_config(stack, router, options)
    return [config_map(stack, router, config, options), deployment(stack, router, config, options),
            service(stack, router, options)]
