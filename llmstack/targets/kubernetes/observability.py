"""Monitoring manifests: PodMonitors and a PrometheusRule (Prometheus Operator), Grafana dashboard
ConfigMaps, DCGM exporters on GPU pools (:mod:`.dcgm`), or a plain Prometheus without the operator
(:mod:`.plain_prometheus`); :func:`monitoring_objects` composes them.

Engine pods carry ``llmstack.io/*`` labels; every scrape maps them onto the Prometheus
target labels of :func:`llmstack.artifacts.labels.engine_labels` (``deployment``, ``model``,
``variant``, ``pool``, ``llmstack_role``), so the recording rules can group ``by (deployment)``.
"""

from __future__ import annotations

import json
from typing import Any

from llmstack.artifacts import grafana, labels, prometheus
from llmstack.spec.models import PoolSpec, StackSpec
from llmstack.targets.kubernetes import dcgm, meta, naming, plain_prometheus
from llmstack.targets.kubernetes.dcgm import MONITORING_API, operator_relabeling
from llmstack.targets.kubernetes.options import KubernetesOptions
from llmstack.targets.kubernetes.resolved import KubeDeployment, KubeRouter


def engine_relabelings() -> list[dict[str, Any]]:
    """Pod labels -> Prometheus target labels of an engine (the plain Prometheus's rules, Operator spelling)."""
    return [operator_relabeling(r) for r in prometheus.pod_label_relabelings(prometheus.ENGINE_POD_LABELS,
                                                                             labels.ENGINE_ROLE)]


def engine_pod_monitor(stack: StackSpec, kd: KubeDeployment, options: KubernetesOptions) -> dict[str, Any]:
    """PodMonitor scraping ``/metrics`` of one deployment's serving pods (LeaderWorkerSet leaders)."""
    return {
        "apiVersion": MONITORING_API,
        "kind": "PodMonitor",
        "metadata": meta.metadata(kd.address.workload, kd.namespace, {**kd.labels, **options.monitor_labels}),
        "spec": {
            "selector": {"matchLabels": kd.address.serving_selector},
            "podMetricsEndpoints": [{
                "port": labels.ENGINE_PORT_NAME,
                "path": "/metrics",
                "interval": stack.monitoring.scrape_interval,
                "relabelings": engine_relabelings(),
            }],
        },
    }


def router_pod_monitor(stack: StackSpec, router: KubeRouter, options: KubernetesOptions) -> dict[str, Any]:
    return {
        "apiVersion": MONITORING_API,
        "kind": "PodMonitor",
        "metadata": meta.metadata(router.object_name, router.namespace, {**router.labels, **options.monitor_labels}),
        "spec": {
            "selector": {"matchLabels": router.selector},
            "podMetricsEndpoints": [{
                "port": labels.ROUTER_METRICS_PORT_NAME,
                "path": "/metrics",
                "interval": stack.monitoring.scrape_interval,
                "relabelings": [operator_relabeling(r) for r in prometheus.pod_label_relabelings(
                    prometheus.ROUTER_POD_LABELS, labels.ROUTER_ROLE)],
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


def gpu_pools(stack: StackSpec) -> list[PoolSpec]:
    """Pools with at least one deployment on them (where DCGM exporters run)."""
    used = {d.pool for d in stack.deployments}
    return [p for p in stack.pools if p.name in used]


def monitoring_objects(stack: StackSpec, deployments: list[KubeDeployment], routers: list[KubeRouter],
                       options: KubernetesOptions) -> list[dict[str, Any]]:
    """Every monitoring object of the stack, for the operator or the plain Prometheus."""
    mon = stack.monitoring
    objects: list[dict[str, Any]] = []
    if mon.dcgm_exporter:
        for pool in gpu_pools(stack):
            objects += [dcgm.dcgm_daemon_set(stack, pool, options), dcgm.dcgm_network_policy(stack, pool, options)]
    if mon.prometheus_operator:
        objects += [engine_pod_monitor(stack, kd, options) for kd in deployments]
        objects += [router_pod_monitor(stack, router, options) for router in routers
                    if router.spec.implementation == "haproxy"]
        if mon.dcgm_exporter:
            objects += [dcgm.dcgm_pod_monitor(stack, pool, options) for pool in gpu_pools(stack)]
        objects.append(prometheus_rule(stack, options))
    else:
        objects += plain_prometheus.objects(stack, options)
    if mon.grafana:
        objects += dashboard_config_maps(stack, options)
    return objects
