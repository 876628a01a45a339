"""``llmstack render --target artifacts``: every generated artifact as {relative path: text}.

Layout (relative to ``--out``)::

    haproxy.cfg                  the router (one router); haproxy-<router>.cfg each when several
    llmstack-hold.lua            the hold's Lua script, when a router serves a deployment with replicas.min 0
    prometheus.yml               Kubernetes pod discovery in the namespace
    rules/recording.yml          the signals
    rules/alerts.yml             the alerts
    dashboards/*.json            Grafana dashboards
    vllm-args/<deployment>.txt   `vllm serve` arguments, one per line (after `vllm serve`)

Addressing: the bundle shows what the Kubernetes target deploys, with the same names
(:mod:`llmstack.artifacts.addressing`): routers reach each deployment through its headless
Service ``<deployment>-vllm-pods.<namespace>.svc.cluster.local:8000`` (``replicas.max``
server slots) in the target's default namespace ``llmstack``, so haproxy.cfg here is the
router ConfigMap's. The Docker target renders its own files with static addresses
(``llmstack render --target docker``).
"""

from __future__ import annotations

import json

from llmstack import yaml_text
from llmstack.artifacts import addressing, grafana, haproxy_hold, prometheus, vllm_args
from llmstack.artifacts.vllm_args import ENGINE_PORT
from llmstack.spec.models import StackSpec


def haproxy_file_name(stack: StackSpec, router: str) -> str:
    """``haproxy.cfg`` for a stack with one router, ``haproxy-<router>.cfg`` otherwise."""
    return "haproxy.cfg" if len(stack.routers) == 1 else f"haproxy-{router}.cfg"


def render_artifacts(stack: StackSpec, *, namespace: str | None = None) -> dict[str, str]:
    """All artifacts of ``stack`` as file texts (nothing written); ``namespace`` None: ``llmstack``."""
    cluster = addressing.Cluster(namespace or addressing.DEFAULT_NAMESPACE)
    files: dict[str, str] = {}
    for router in stack.routers:
        files[haproxy_file_name(stack, router.name)] = addressing.router_config(stack, router.name, cluster)
    if haproxy_hold.holds(stack):  # haproxy.cfg loads it from beside itself in the router container
        files[haproxy_hold.SCRIPT_NAME] = haproxy_hold.HOLD_SCRIPT
    config = prometheus.build_prometheus_config(stack, prometheus.ScrapeTargets.kubernetes(cluster.namespace))
    files["prometheus.yml"] = yaml_text.dump(config)
    files["rules/recording.yml"] = yaml_text.dump(prometheus.build_recording_rules(stack))
    files["rules/alerts.yml"] = yaml_text.dump(prometheus.build_alert_rules(stack))
    for name, dashboard in grafana.build_dashboards(stack).items():
        files[f"dashboards/{name}"] = json.dumps(dashboard, indent=2, sort_keys=True) + "\n"
    for deployment in stack.deployments:
        args = vllm_args.serve_args(stack, deployment.name, port=ENGINE_PORT)
        files[f"vllm-args/{deployment.name}.txt"] = "\n".join(args) + "\n"
    return files
