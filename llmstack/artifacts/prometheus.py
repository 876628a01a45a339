"""Prometheus: scrape configuration, recording rules (the signals) and alert rules.

Scrape jobs: ``vllm`` (every engine's ``/metrics``, labelled with
:func:`llmstack.artifacts.labels.engine_labels`), ``llmstack-router`` (HAProxy's exporter
on the stats port), ``dcgm`` (GPU metrics, given the ``deployment`` label of the engine
that holds the GPU) and ``node`` (node exporter, when there is one). Engines are found by
:class:`ScrapeTargets`: fixed addresses, files that the deploy target writes, or Kubernetes
pod discovery that maps the ``llmstack.io/*`` pod labels onto the target labels.

Recording rules are exactly :func:`llmstack.catalog.signals.signals` (``record``/``expr``);
alert rules build on them. Thresholds that differ per deployment (the TTFT and TPOT SLOs,
GPU memory allowed by ``gpu_memory_utilization``) make one alert rule per deployment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from llmstack.artifacts import haproxy_hold, labels
from llmstack.catalog import signals
from llmstack.errors import LlmstackError
from llmstack.spec.models import DeploymentSpec, StackSpec

ENGINE_JOB = "vllm"
ROUTER_JOB = "llmstack-router"
ROUTER_HELD_JOB = "llmstack-router-held"
"""The router's held-request metrics (:mod:`llmstack.artifacts.haproxy_hold`), scraped when a deployment
may scale to zero."""
DCGM_JOB = "dcgm"
NODE_JOB = "node"
CONTROLLER_JOB = "llmstack-controller"
RECORDING_GROUP = "llmstack-signals"
ALERT_GROUP = "llmstack-alerts"

_TARGET = re.compile(
    r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_PATH = re.compile(r"^/?[A-Za-z0-9._/-]+$")

# k8s pod labels as Prometheus service discovery spells them (non-alphanumerics -> "_")
_POD_LABEL = "__meta_kubernetes_pod_label_"


def _meta(label: str) -> str:
    return _POD_LABEL + re.sub(r"[^A-Za-z0-9_]", "_", label)


ENGINE_POD_LABELS = (("deployment", labels.K8S_DEPLOYMENT), ("model", labels.K8S_MODEL),
                     ("variant", labels.K8S_VARIANT), ("pool", labels.K8S_POOL))
"""Target label <- pod label of an engine scrape."""
ROUTER_POD_LABELS = (("router", labels.K8S_ROUTER),)
DCGM_POD_LABELS = (("node_pool", labels.K8S_POOL),)
GPU_ROLE = "gpu"


def pod_label_relabelings(mapping: Sequence[tuple[str, str]], role: str) -> list[dict[str, Any]]:
    """Relabel configs that copy pod labels onto target labels and set ``role``.

    The one spelling of the pod-label mapping: the plain Prometheus's Kubernetes jobs use it as
    is, the Prometheus Operator's PodMonitors in camelCase
    (:func:`llmstack.targets.kubernetes.observability.operator_relabeling`).
    """
    rules: list[dict[str, Any]] = [
        {"action": "replace", "source_labels": [_meta(pod_label)], "target_label": target}
        for target, pod_label in mapping
    ]
    rules.append({"action": "replace", "target_label": labels.ROLE_LABEL, "replacement": role})
    return rules


Discovery = Literal["static", "file_sd", "kubernetes"]


@dataclass(frozen=True)
class ScrapeTargets:
    """How Prometheus finds engines, routers, GPU exporters and node exporters."""

    discovery: Discovery
    engines: tuple[tuple[str, tuple[str, ...]], ...] = ()
    router: tuple[str, ...] = ()
    dcgm: tuple[tuple[str, tuple[str, ...]], ...] = ()
    dcgm_hosts: tuple[str, ...] = ()
    gpu_assignment: tuple[tuple[str, tuple[int, ...]], ...] = ()
    node: tuple[str, ...] = ()
    directory: str | None = None
    namespace: str | None = None

    @classmethod
    def static(
        cls,
        engines: Mapping[str, Sequence[str]],
        router: Sequence[str] = (),
        dcgm: Mapping[str, Sequence[str]] | Sequence[str] = (),
        node: Sequence[str] = (),
        *,
        gpu_assignment: Mapping[str, Sequence[int]] | None = None,
    ) -> ScrapeTargets:
        """Fixed ``host:port`` targets.

        ``dcgm`` is either deployment -> the exporters of that deployment's GPUs (their series
        get its labels), or a list of host-wide exporters whose ``gpu`` index label is mapped
        to a deployment through ``gpu_assignment`` (deployment -> GPU indices on that host).
        """
        per_deployment, hosts = _split_dcgm(dcgm)
        return cls(
            discovery="static",
            engines=_per_deployment(engines, "engines"),
            router=_targets(router, "router"),
            dcgm=per_deployment,
            dcgm_hosts=hosts,
            gpu_assignment=_assignment(gpu_assignment or {}),
            node=_targets(node, "node"),
        )

    @classmethod
    def file_sd(
        cls,
        directory: str,
        *,
        router: Sequence[str] = (),
        dcgm: Sequence[str] = (),
        gpu_assignment: Mapping[str, Sequence[int]] | None = None,
        node: Sequence[str] = (),
    ) -> ScrapeTargets:
        """Engines from ``<directory>/<deployment>.json`` (see :func:`file_sd_targets`); the
        rest static. Prometheus rereads the files when they change: no reload on scaling."""
        if not _PATH.match(directory):
            raise LlmstackError(f"file_sd directory {directory!r} has unexpected characters")
        return cls(
            discovery="file_sd",
            directory=directory.rstrip("/"),
            router=_targets(router, "router"),
            dcgm_hosts=_targets(dcgm, "dcgm"),
            gpu_assignment=_assignment(gpu_assignment or {}),
            node=_targets(node, "node"),
        )

    @classmethod
    def kubernetes(cls, namespace: str) -> ScrapeTargets:
        """Pod discovery in ``namespace``: engines, routers and DCGM exporters by their labels."""
        if not _NAME.match(namespace):
            raise LlmstackError(f"namespace {namespace!r} is not a DNS-1123 label")
        return cls(discovery="kubernetes", namespace=namespace)


def file_sd_targets(stack: StackSpec, deployment: str, targets: Sequence[str]) -> list[dict[str, Any]]:
    """The content of ``<directory>/<deployment>.json`` for :meth:`ScrapeTargets.file_sd`."""
    return [{"targets": list(_targets(targets, f"targets of {deployment}")),
             "labels": labels.engine_labels(stack, deployment)}]


def build_prometheus_config(
    stack: StackSpec,
    targets: ScrapeTargets,
    *,
    rule_files: Sequence[str] = ("rules/*.yml",),
) -> dict[str, Any]:
    """prometheus.yml as data."""
    for deployment, _ in (*targets.engines, *targets.dcgm, *targets.gpu_assignment):
        stack.deployment(deployment)  # raises for an unknown deployment
    config: dict[str, Any] = {
        "global": {
            "scrape_interval": stack.monitoring.scrape_interval,
            "evaluation_interval": stack.monitoring.evaluation_interval,
            "external_labels": {"llmstack_stack": stack.name},
        },
        "rule_files": list(rule_files),
        "scrape_configs": [],
    }
    jobs: list[dict[str, Any]] = config["scrape_configs"]
    if targets.discovery == "kubernetes":
        assert targets.namespace is not None
        jobs += _kubernetes_jobs(stack, targets.namespace)
        return config
    if targets.discovery == "file_sd":
        jobs.append({"job_name": ENGINE_JOB, "metrics_path": "/metrics",
                     "file_sd_configs": [{"files": [f"{targets.directory}/*.json"], "refresh_interval": "30s"}]})
    else:
        jobs.append({"job_name": ENGINE_JOB, "metrics_path": "/metrics", "static_configs": [
            {"targets": list(addresses), "labels": labels.engine_labels(stack, deployment)}
            for deployment, addresses in targets.engines]})
    if targets.router:
        router_targets = [{"targets": list(targets.router), "labels": {labels.ROLE_LABEL: labels.ROUTER_ROLE}}]
        jobs.append({"job_name": ROUTER_JOB, "metrics_path": "/metrics", "static_configs": router_targets})
        if haproxy_hold.holds(stack):
            jobs.append({"job_name": ROUTER_HELD_JOB, "metrics_path": haproxy_hold.HELD_METRICS_PATH,
                         "static_configs": router_targets})
    if targets.dcgm or targets.dcgm_hosts:
        static = [{"targets": list(addresses), "labels": {**labels.engine_labels(stack, deployment),
                                                          labels.ROLE_LABEL: GPU_ROLE}}
                  for deployment, addresses in targets.dcgm]
        if targets.dcgm_hosts:
            static.append({"targets": list(targets.dcgm_hosts), "labels": {labels.ROLE_LABEL: GPU_ROLE}})
        job: dict[str, Any] = {"job_name": DCGM_JOB, "metrics_path": "/metrics", "static_configs": static}
        if targets.gpu_assignment:
            job["metric_relabel_configs"] = [
                {"source_labels": ["gpu"], "regex": "|".join(str(i) for i in gpus),
                 "target_label": "deployment", "replacement": deployment, "action": "replace"}
                for deployment, gpus in targets.gpu_assignment]
        jobs.append(job)
    if targets.node:
        jobs.append({"job_name": NODE_JOB, "static_configs": [{"targets": list(targets.node)}]})
    return config


def _kubernetes_jobs(stack: StackSpec, namespace: str) -> list[dict[str, Any]]:
    """Pod discovery in ``namespace``: engines, routers, DCGM exporters and node exporters (when monitored)."""
    jobs = [_engine_pod_job(namespace), _router_pod_job(namespace)]
    if haproxy_hold.holds(stack):
        jobs.append({**_router_pod_job(namespace), "job_name": ROUTER_HELD_JOB,
                     "metrics_path": haproxy_hold.HELD_METRICS_PATH})
    if stack.controller.enabled:
        jobs.append(_controller_pod_job(namespace))
    if stack.monitoring.dcgm_exporter:
        jobs.append(_dcgm_pod_job(stack, namespace))
    if stack.monitoring.node_exporter:
        jobs.append({
            "job_name": NODE_JOB,
            "kubernetes_sd_configs": [{"role": "node"}],
            "relabel_configs": [
                {"source_labels": ["__address__"], "regex": "(.+):[0-9]+", "target_label": "__address__",
                 "replacement": "${1}:9100"},
            ],
        })
    return jobs


def _pod_discovery(namespace: str) -> list[dict[str, Any]]:
    return [{"role": "pod", "namespaces": {"names": [namespace]}}]


_RUNNING = {"source_labels": ["__meta_kubernetes_pod_phase"], "regex": "Running", "action": "keep"}
_POD_META = [
    {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
    {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
]


def _keep_port(name: str) -> dict[str, Any]:
    return {"source_labels": ["__meta_kubernetes_pod_container_port_name"], "regex": name, "action": "keep"}


def _engine_pod_job(namespace: str) -> dict[str, Any]:
    return {
        "job_name": ENGINE_JOB,
        "metrics_path": "/metrics",
        "kubernetes_sd_configs": _pod_discovery(namespace),
        "relabel_configs": [
            _RUNNING,
            {"source_labels": [_meta(labels.K8S_COMPONENT)], "regex": labels.ENGINE_ROLE, "action": "keep"},
            {"source_labels": [_meta(labels.K8S_DEPLOYMENT)], "regex": ".+", "action": "keep"},
            _keep_port(labels.ENGINE_PORT_NAME),
            *pod_label_relabelings(ENGINE_POD_LABELS, labels.ENGINE_ROLE),
            *_POD_META,
        ],
    }


def _router_pod_job(namespace: str) -> dict[str, Any]:
    return {
        "job_name": ROUTER_JOB,
        "metrics_path": "/metrics",
        "kubernetes_sd_configs": _pod_discovery(namespace),
        "relabel_configs": [
            _RUNNING,
            {"source_labels": [_meta(labels.K8S_COMPONENT)], "regex": labels.ROUTER_ROLE, "action": "keep"},
            _keep_port(labels.ROUTER_METRICS_PORT_NAME),
            *pod_label_relabelings(ROUTER_POD_LABELS, labels.ROUTER_ROLE),
            *_POD_META,
        ],
    }


def _controller_pod_job(namespace: str) -> dict[str, Any]:
    """The in-cluster policy engine's /metrics (``llmstack_desired_replicas``, which KEDA's ScaledObjects query)."""
    return {
        "job_name": CONTROLLER_JOB,
        "metrics_path": "/metrics",
        "kubernetes_sd_configs": _pod_discovery(namespace),
        "relabel_configs": [
            _RUNNING,
            {"source_labels": [_meta(labels.K8S_COMPONENT)], "regex": labels.CONTROLLER_ROLE, "action": "keep"},
            _keep_port(labels.CONTROLLER_METRICS_PORT_NAME),
            *_POD_META,
        ],
    }


def _dcgm_pod_job(stack: StackSpec, namespace: str) -> dict[str, Any]:
    return {
        "job_name": DCGM_JOB,
        "metrics_path": "/metrics",
        "kubernetes_sd_configs": _pod_discovery(namespace),
        # no pod/namespace target labels: the exporter's own `pod` label names the GPU's user
        "relabel_configs": [
            _RUNNING,
            {"source_labels": [_meta("app.kubernetes.io/name"), _meta("app")],
             "regex": "(nvidia-)?dcgm-exporter;.*|.*;(nvidia-)?dcgm-exporter", "action": "keep"},
            _keep_port("metrics"),
            *pod_label_relabelings(DCGM_POD_LABELS, GPU_ROLE),
        ],
        "metric_relabel_configs": dcgm_pod_relabelings(stack, namespace),
    }


def dcgm_pod_relabelings(stack: StackSpec, namespace: str) -> list[dict[str, Any]]:
    """Metric relabelings that give DCGM series the ``deployment`` of the pod using the GPU.

    dcgm-exporter (Kubernetes mode) labels each GPU with ``namespace`` and ``pod``; engine
    pods are named ``<deployment>-...``. Shorter names go first so that, of two deployments
    where one name prefixes the other (``chat``, ``chat-large``), the longer one wins.
    """
    rules: list[dict[str, Any]] = []
    for deployment in sorted((d.name for d in stack.deployments), key=lambda n: (len(n), n)):
        rules.append({"source_labels": ["namespace", "pod"], "regex": f"{namespace};{deployment}-.+",
                      "target_label": "deployment", "replacement": deployment, "action": "replace"})
    return rules


# ---------------------------------------------------------------- rules


def build_recording_rules(stack: StackSpec) -> dict[str, Any]:
    """The signals as one rule group (``record`` = signal.record, ``expr`` = signal.expr)."""
    return {"groups": [{
        "name": RECORDING_GROUP,
        "interval": stack.monitoring.evaluation_interval,
        "rules": [{"record": s.record, "expr": s.expr} for s in signals.signals()],
    }]}


GPU_MEMORY_MARGIN = 0.04
"""vLLM takes ``gpu_memory_utilization`` of each GPU up front; alert this far above it."""


def gpu_memory_threshold(gpu_memory_utilization: float) -> float:
    return round(min(0.99, gpu_memory_utilization + GPU_MEMORY_MARGIN), 4)


def build_alert_rules(stack: StackSpec) -> dict[str, Any]:
    """Alert rules, each with severity, summary and description, computed from the raw series.

    The expressions are the signals' own (:mod:`llmstack.catalog.signals`), not their recorded
    names: a rule group reading series another group records would see them one evaluation
    late or not, as Prometheus evaluates groups at one timestamp in no fixed order. So an alert
    and its value never depend on that order.
    """
    every = signals.by_name()
    rules: list[dict[str, Any]] = []
    for deployment in stack.deployments:
        _check_name(deployment.name)
        rules += _deployment_alerts(deployment, signals.by_name(where=f'deployment="{deployment.name}"'))
    queue = every["queue_length"].expr
    rules += [
        _alert("LlmstackQueueBuilding", f"{queue} > 0 and deriv(({queue})[5m:]) > 0", "5m", "warning",
               "Requests are queueing up on {{ $labels.deployment }}",
               "{{ printf \"%.0f\" $value }} requests wait for a batch slot and the queue has grown for 5 minutes: "
               "the deployment needs more replicas.", {}),
        _alert("LlmstackKvCacheNearlyFull", f"{every['kv_cache_usage_max'].expr} > 0.9", "5m", "warning",
               "KV cache of {{ $labels.deployment }} is above 90 %",
               "The fullest replica uses {{ printf \"%.3f\" $value }} of its KV cache for 5 minutes: "
               "requests will be preempted.", {}),
        _alert("LlmstackPreemptions", f"{every['preemption_rate'].expr} > 0", "5m", "warning",
               "{{ $labels.deployment }} preempts requests",
               "{{ printf \"%.3f\" $value }} preemptions per second for 5 minutes: the KV cache is too small "
               "for the load (more replicas, shorter max_model_len or fewer max_num_seqs).", {}),
        _alert("LlmstackEngineDown", f'up{{{labels.ROLE_LABEL}="{labels.ENGINE_ROLE}"}} == 0', "2m", "critical",
               "vLLM engine {{ $labels.instance }} of {{ $labels.deployment }} is down",
               "Prometheus could not scrape {{ $labels.instance }} for 2 minutes; the router has taken it "
               "out of rotation.", {}),
    ]
    return {"groups": [{"name": ALERT_GROUP, "interval": stack.monitoring.evaluation_interval, "rules": rules}]}


def _deployment_alerts(d: DeploymentSpec, mine: Mapping[str, signals.Signal]) -> list[dict[str, Any]]:
    """The alerts whose thresholds differ per deployment (SLOs, allowed GPU memory), over its series only."""
    ttft = _number(d.slo.ttft_p95_ms / 1000)
    tpot = _number(d.slo.tpot_p95_ms / 1000)
    limit = _number(gpu_memory_threshold(d.engine.gpu_memory_utilization))
    return [
        _alert("LlmstackTtftSloBurn", f"{mine['ttft_p95'].expr} > {ttft}", "5m", "warning",
               "TTFT p95 of {{ $labels.deployment }} is above its SLO",
               f"Time to first token p95 is {{{{ printf \"%.3f\" $value }}}} s, SLO {ttft} s, for 5 minutes: "
               "add replicas or a faster variant.",
               {"slo": "ttft_p95", "deployment": d.name}),
        _alert("LlmstackTpotSloBurn", f"{mine['tpot_p95'].expr} > {tpot}", "5m", "warning",
               "TPOT p95 of {{ $labels.deployment }} is above its SLO",
               f"Time per output token p95 is {{{{ printf \"%.3f\" $value }}}} s, SLO {tpot} s, for 5 minutes: "
               "batches are too large for the GPUs.",
               {"slo": "tpot_p95", "deployment": d.name}),
        _alert("LlmstackGpuMemoryNearlyFull", f"{mine['gpu_memory_used'].expr} > {limit}", "10m", "warning",
               "GPU memory of {{ $labels.deployment }} is nearly full",
               f"The fullest GPU uses {{{{ printf \"%.3f\" $value }}}} of its memory (vLLM is allowed "
               f"{_number(d.engine.gpu_memory_utilization)}): another process holds memory, out-of-memory errors "
               "are likely.",
               {"deployment": d.name}),
    ]


def _alert(name: str, expr: str, for_: str, severity: str, summary: str, description: str,
           extra: dict[str, str]) -> dict[str, Any]:
    return {
        "alert": name,
        "expr": expr,
        "for": for_,
        "labels": {"severity": severity, **extra},
        "annotations": {"summary": summary, "description": description},
    }


# ---------------------------------------------------------------- helpers


def _number(value: float) -> str:
    return f"{value:.6g}"


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise LlmstackError(f"deployment name {name!r} cannot be used in PromQL", path=f"deployments[{name}]",
                            hint="use a DNS-1123 label")


def _targets(values: Sequence[str], what: str) -> tuple[str, ...]:
    if isinstance(values, str):
        raise LlmstackError(f"{what}: expected a list of host:port targets, got the string {values!r}")
    for value in values:
        if not isinstance(value, str) or not _TARGET.match(value):
            raise LlmstackError(f"{what}: {value!r} is not a host:port target")
    return tuple(values)


def _per_deployment(values: Mapping[str, Sequence[str]], what: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    result = []
    for deployment, addresses in values.items():
        _check_name(deployment)
        result.append((deployment, _targets(addresses, f"{what}[{deployment}]")))
    return tuple(result)


def _split_dcgm(dcgm: Mapping[str, Sequence[str]] | Sequence[str]) -> tuple[
        tuple[tuple[str, tuple[str, ...]], ...], tuple[str, ...]]:
    if isinstance(dcgm, Mapping):
        return _per_deployment(dcgm, "dcgm"), ()
    return (), _targets(dcgm, "dcgm")


def _assignment(values: Mapping[str, Sequence[int]]) -> tuple[tuple[str, tuple[int, ...]], ...]:
    result = []
    seen: dict[int, str] = {}
    for deployment, gpus in values.items():
        _check_name(deployment)
        for gpu in gpus:
            if not isinstance(gpu, int) or gpu < 0:
                raise LlmstackError(f"gpu_assignment[{deployment}]: {gpu!r} is not a GPU index")
            if gpu in seen:
                raise LlmstackError(f"GPU {gpu} is assigned to both {seen[gpu]!r} and {deployment!r}")
            seen[gpu] = deployment
        if gpus:
            result.append((deployment, tuple(sorted(gpus))))
    return tuple(result)
