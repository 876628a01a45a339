"""Gateway API Inference Extension objects of ``inference-gateway`` routers (pure data).

A router with ``implementation: inference-gateway`` is not a proxy llmstack runs: the
cluster's Gateway (Istio, Agentgateway, NGINX Gateway Fabric, ...) carries the traffic and
asks an endpoint picker (Envoy ext_proc) which pod takes each request. Per deployment
(one accelerator class per pool):

- an ``InferencePool`` (inference.networking.k8s.io/v1) selecting the deployment's serving
  pods on the engine port and naming its endpoint picker (``endpointPickerRef``);
- the endpoint picker: ServiceAccount, a namespaced Role to watch pods and InferencePools
  (nothing cluster-wide: the metrics endpoint runs without token review,
  ``--metrics-endpoint-auth=false``, and a NetworkPolicy admits only Prometheus to it),
  RoleBinding, ConfigMap with its scorer configuration (``EndpointPickerConfig``: queue,
  KV-cache utilisation and prefix-cache scorers, upstream's default weights 2/2/3; for a
  deployment that may be at zero replicas also flow control, which holds requests while the
  first replica starts: :func:`picker_config`),
  Deployment (pinned image, gRPC probes, resources, restricted security context), Service
  and NetworkPolicy.

Per router: an ``HTTPRoute`` attached to the named Gateway (``parentRefs``), one rule per
route with weighted ``backendRefs`` to the InferencePools (canaries between variants; the
weights are the ``route_weight`` knob of ``llmstack:scaling``). With several routes a rule
matches the ``X-Gateway-Model-Name`` header, which the Inference Extension's body-based
router sets from the OpenAI ``model`` field; a single route takes every request. With
``gateway.class_name`` set, the Gateway itself is created too.
"""

from __future__ import annotations

import hashlib
from typing import Any

import yaml

from llmstack.artifacts import addressing, images, labels, security
from llmstack.spec.models import RouterSpec, StackSpec

POOL_API = "inference.networking.k8s.io/v1"
GATEWAY_API = "gateway.networking.k8s.io/v1"
MODEL_HEADER = "X-Gateway-Model-Name"
PICKER_GRPC_PORT = 9002
PICKER_HEALTH_PORT = 9003
PICKER_METRICS_PORT = 9090
PICKER_UID = 65532
"""The distroless image's ``nonroot`` user."""
PICKER_CONFIG_FILE = "config.yaml"
PICKER_COMPONENT = "endpoint-picker"
ROUTE_TIMEOUT_S = 600
ROUTE_TIMEOUT = f"{ROUTE_TIMEOUT_S}s"
"""Whole-request timeout of a route (a held request's wait included): token streams run for minutes."""
FLOW_CONTROL_GATE = "flowControl"
SATURATION_DETECTOR = "utilization-detector"
HOLD_MAX_BYTES = "1Gi"
"""Request bodies the picker may hold at once (flow control ``maxBytes``): a quarter of its 4 GiB limit."""
SCORER_WEIGHTS = {"queue-scorer": 2, "kv-cache-utilization-scorer": 2, "prefix-cache-scorer": 3}
Manifest = dict[str, Any]


def _metadata(name: str, namespace: str | None, obj_labels: dict[str, str]) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": dict(obj_labels)}
    if namespace is not None:
        meta["namespace"] = namespace
    return meta


def pooled_deployments(stack: StackSpec) -> list[str]:
    """Deployments some inference-gateway router routes to (each gets an InferencePool and a picker)."""
    names = {d for r in stack.routers if r.implementation == "inference-gateway"
             for route in r.routes for d in route.backends}
    return sorted(names)


def gateway_namespace(router: RouterSpec, namespace: str) -> str:
    return router.gateway.namespace or namespace


def inference_pool(address: addressing.DeploymentAddress, namespace: str, obj_labels: dict[str, str]) -> Manifest:
    """The deployment's serving pods on the engine port, scheduled by its endpoint picker."""
    return {
        "apiVersion": POOL_API,
        "kind": "InferencePool",
        "metadata": _metadata(address.pool, namespace, obj_labels),
        "spec": {
            "selector": {"matchLabels": dict(address.serving_selector)},
            "targetPorts": [{"number": address.port}],
            "endpointPickerRef": {"name": address.picker, "port": {"number": PICKER_GRPC_PORT},
                                  "failureMode": "FailClose"},
        },
    }


def picker_labels(stack: StackSpec, address: addressing.DeploymentAddress) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": PICKER_COMPONENT,
        "app.kubernetes.io/instance": addressing.dns_name(stack.name, address.picker),
        labels.K8S_COMPONENT: PICKER_COMPONENT,
        "app.kubernetes.io/part-of": "llmstack",
        "app.kubernetes.io/managed-by": "llmstack",
        labels.K8S_DEPLOYMENT: address.deployment,
    }


def picker_selector(pod_labels: dict[str, str]) -> dict[str, str]:
    return {k: pod_labels[k] for k in ("app.kubernetes.io/instance", labels.K8S_COMPONENT)}


def picker_config(hold_s: int | None = None) -> str:
    """The endpoint picker's configuration (``EndpointPickerConfig``): scorers, and the hold when ``hold_s`` is set.

    ``hold_s`` (a deployment that may be at zero replicas): the picker's flow control holds each
    request up to ``hold_s`` while the pool is saturated, which with no ready pod it always is
    (the ``utilization-detector`` rates an empty pool 1.0), and dispatches it once the first
    replica is ready and its metrics are fresh. Field names are gateway-api-inference-extension
    v1.5.0's (``apix/config/v1alpha1``: ``featureGates: [flowControl]``, ``saturationDetector.pluginRef``,
    ``flowControl.maxBytes`` / ``defaultRequestTTL``), the pinned picker image.
    """
    plugins: list[dict[str, Any]] = [{"type": name} for name in SCORER_WEIGHTS]
    config: dict[str, Any] = {"apiVersion": "inference.networking.x-k8s.io/v1alpha1", "kind": "EndpointPickerConfig"}
    if hold_s is not None:
        config["featureGates"] = [FLOW_CONTROL_GATE]
        plugins.append({"type": SATURATION_DETECTOR})
    config["plugins"] = plugins
    config["schedulingProfiles"] = [{"name": "default", "plugins": [
        {"pluginRef": name, "weight": weight} for name, weight in SCORER_WEIGHTS.items()]}]
    if hold_s is not None:
        config["saturationDetector"] = {"pluginRef": SATURATION_DETECTOR}
        config["flowControl"] = {"maxBytes": HOLD_MAX_BYTES, "defaultRequestTTL": f"{hold_s}s"}
    return yaml.safe_dump(config, sort_keys=False)


def picker_rbac(address: addressing.DeploymentAddress, namespace: str, pod_labels: dict[str, str]) -> list[Manifest]:
    """ServiceAccount, Role (watch pods and InferencePools in this namespace only) and RoleBinding."""
    read = ["get", "list", "watch"]
    rules = [
        {"apiGroups": [""], "resources": ["pods"], "verbs": read},
        {"apiGroups": ["inference.networking.k8s.io"], "resources": ["inferencepools"], "verbs": read},
        {"apiGroups": ["inference.networking.x-k8s.io"], "resources": ["inferenceobjectives"], "verbs": read},
    ]
    name = address.picker
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _metadata(name, namespace, pod_labels),
         "automountServiceAccountToken": True},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
         "metadata": _metadata(name, namespace, pod_labels), "rules": rules},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": _metadata(name, namespace, pod_labels),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
         "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}]},
    ]


def picker_container(address: addressing.DeploymentAddress, namespace: str) -> dict[str, Any]:
    health = {"grpc": {"port": PICKER_HEALTH_PORT, "service": "inference-extension"}}
    return {
        "name": "epp",
        "image": images.ENDPOINT_PICKER_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "args": ["--pool-name", address.pool, "--pool-namespace", namespace,
                 "--config-file", f"/config/{PICKER_CONFIG_FILE}", "--zap-encoder", "json",
                 "--metrics-endpoint-auth=false"],
        "env": [{"name": "NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}],
        "ports": [{"name": "grpc", "containerPort": PICKER_GRPC_PORT, "protocol": "TCP"},
                  {"name": "grpc-health", "containerPort": PICKER_HEALTH_PORT, "protocol": "TCP"},
                  {"name": "metrics", "containerPort": PICKER_METRICS_PORT, "protocol": "TCP"}],
        "readinessProbe": {**health, "periodSeconds": 2},
        "livenessProbe": {**health, "initialDelaySeconds": 5, "periodSeconds": 10},
        "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "4Gi"}},
        "volumeMounts": [{"name": "config", "mountPath": "/config", "readOnly": True}],
        "securityContext": security.container(read_only_root=True),
    }


def picker_deployment(address: addressing.DeploymentAddress, namespace: str, pod_labels: dict[str, str],
                      config: str) -> Manifest:
    """One active replica (upstream's advice: the prefix-cache index lives in the picker), Recreate on change."""
    checksum = hashlib.sha256(config.encode()).hexdigest()
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(address.picker, namespace, pod_labels),
        "spec": {
            "replicas": 1,
            "revisionHistoryLimit": 3,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": picker_selector(pod_labels)},
            "template": {
                "metadata": {"labels": pod_labels, "annotations": {"llmstack.io/config-checksum": checksum}},
                "spec": {
                    "serviceAccountName": address.picker,
                    "automountServiceAccountToken": True,
                    "securityContext": security.pod(PICKER_UID),
                    "terminationGracePeriodSeconds": 130,
                    "enableServiceLinks": False,
                    "containers": [picker_container(address, namespace)],
                    "volumes": [{"name": "config", "configMap": {"name": address.picker}}],
                },
            },
        },
    }


def picker_service(address: addressing.DeploymentAddress, namespace: str, pod_labels: dict[str, str]) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(address.picker, namespace, pod_labels),
        "spec": {
            "type": "ClusterIP",
            "selector": picker_selector(pod_labels),
            "ports": [
                {"name": "grpc", "port": PICKER_GRPC_PORT, "targetPort": "grpc", "protocol": "TCP",
                 "appProtocol": "kubernetes.io/h2c"},
                {"name": "metrics", "port": PICKER_METRICS_PORT, "targetPort": "metrics", "protocol": "TCP"},
            ],
        },
    }


def namespace_peer(namespace: str) -> dict[str, Any]:
    """NetworkPolicy peer: every pod of one namespace."""
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}


def picker_network_policy(address: addressing.DeploymentAddress, namespace: str, pod_labels: dict[str, str],
                          gateway_namespaces: list[str], metrics_peer: dict[str, Any]) -> Manifest:
    """ext_proc (gRPC) from the Gateway's namespaces only; /metrics from Prometheus only."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _metadata(address.picker, namespace, pod_labels),
        "spec": {
            "podSelector": {"matchLabels": picker_selector(pod_labels)},
            "policyTypes": ["Ingress"],
            "ingress": [
                {"from": [namespace_peer(ns) for ns in gateway_namespaces],
                 "ports": [{"port": PICKER_GRPC_PORT, "protocol": "TCP"}]},
                {"from": [metrics_peer], "ports": [{"port": PICKER_METRICS_PORT, "protocol": "TCP"}]},
            ],
        },
    }


def pool_objects(stack: StackSpec, address: addressing.DeploymentAddress, namespace: str,
                 deployment_labels: dict[str, str], metrics_peer: dict[str, Any],
                 hold_s: int | None = None) -> list[Manifest]:
    """InferencePool and endpoint picker of one deployment (``hold_s``: :func:`picker_config`)."""
    pod_labels = picker_labels(stack, address)
    config = picker_config(hold_s)
    gateways = sorted({gateway_namespace(r, namespace) for r in stack.routers
                       if r.implementation == "inference-gateway"
                       and any(address.deployment in route.backends for route in r.routes)})
    return [
        inference_pool(address, namespace, deployment_labels),
        *picker_rbac(address, namespace, pod_labels),
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _metadata(address.picker, namespace, pod_labels),
         "data": {PICKER_CONFIG_FILE: config}},
        picker_deployment(address, namespace, pod_labels, config),
        picker_service(address, namespace, pod_labels),
        picker_network_policy(address, namespace, pod_labels, gateways, metrics_peer),
    ]


def http_route(router: RouterSpec, namespace: str, obj_labels: dict[str, str]) -> Manifest:
    """HTTPRoute on the named Gateway: per route, weighted backendRefs to the deployments' InferencePools."""
    single = len(router.routes) == 1
    rules = []
    for route in router.routes:
        rule: dict[str, Any] = {
            "backendRefs": [{"group": "inference.networking.k8s.io", "kind": "InferencePool",
                             "name": addressing.pool(d), "weight": weight} for d, weight in route.backends.items()],
            "timeouts": {"request": ROUTE_TIMEOUT},
        }
        if not single:
            rule["matches"] = [{"headers": [{"type": "Exact", "name": MODEL_HEADER, "value": route.model}]}]
        rules.append(rule)
    parent = {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": router.gateway.name,
              "namespace": gateway_namespace(router, namespace)}
    return {
        "apiVersion": GATEWAY_API,
        "kind": "HTTPRoute",
        "metadata": _metadata(addressing.router(router.name), namespace, obj_labels),
        "spec": {"parentRefs": [parent], "rules": rules},
    }


def gateway(router: RouterSpec, namespace: str, obj_labels: dict[str, str]) -> Manifest | None:
    """The Gateway itself when ``gateway.class_name`` is set (None: it exists already)."""
    ref = router.gateway
    if ref.class_name is None:
        return None
    gw_namespace = gateway_namespace(router, namespace)
    allowed: dict[str, Any] = (
        {"from": "Same"} if gw_namespace == namespace
        else {"from": "Selector", "selector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}
    )
    return {
        "apiVersion": GATEWAY_API,
        "kind": "Gateway",
        "metadata": _metadata(ref.name, gw_namespace, obj_labels),
        "spec": {
            "gatewayClassName": ref.class_name,
            "listeners": [{"name": "http", "protocol": "HTTP", "port": ref.port,
                           "allowedRoutes": {"namespaces": allowed}}],
        },
    }


def router_objects(router: RouterSpec, namespace: str, obj_labels: dict[str, str]) -> list[Manifest]:
    """HTTPRoute (and the Gateway, when llmstack creates it) of one inference-gateway router."""
    gw = gateway(router, namespace, obj_labels)
    return [*([gw] if gw is not None else []), http_route(router, namespace, obj_labels)]
