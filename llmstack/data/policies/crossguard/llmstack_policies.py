"""Pulumi CrossGuard policies for llmstack on Kubernetes, as pure validators plus their policy objects.

Each ``*_violations`` function takes a resource's type and properties (as Pulumi passes
them to a policy: camelCase Kubernetes fields) and returns the violation messages, so
tests call them without a Pulumi engine. :data:`POLICIES` wraps them for ``__main__.py``.

- ``gpu-requests-match-parallelism``: an engine pod's GPU requests equal its limits and the
  count the capacity model expects (annotation ``llmstack.io/gpus-per-pod`` = TP x PP per pod).
- ``no-latest-images``: every container image has a tag (or digest) other than ``latest``.
- ``hf-token-from-secret``: ``HF_TOKEN`` (and its aliases) only via ``valueFrom.secretKeyRef``.
- ``engines-cluster-internal``: engine Services are ClusterIP (only the router is exposed).
- ``engines-scraped`` (stack): every engine pod template is selected by a PodMonitor or
  ServiceMonitor in its namespace, or scraped by a plain Prometheus configured for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import yaml
from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

GPUS_PER_POD_ANNOTATION = "llmstack.io/gpus-per-pod"
ENGINE_COMPONENT = ("app.kubernetes.io/component", "engine")
TOKEN_ENV_NAMES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HUGGINGFACE_HUB_TOKEN")
GPU_RESOURCE_SUFFIXES = ("/gpu", "/tpu")

Props = Mapping[str, Any]


def _kind(resource_type: str) -> str:
    return resource_type.rsplit(":", 1)[-1]


def pod_templates(resource_type: str, props: Props) -> list[Props]:
    """Pod templates of a workload (Deployment, StatefulSet, DaemonSet, Job, LeaderWorkerSet); [] otherwise."""
    kind = _kind(resource_type)
    spec = props.get("spec") or {}
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        return [spec.get("template") or {}]
    if kind == "CronJob":
        return [((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}]
    if kind == "LeaderWorkerSet":
        lwt = spec.get("leaderWorkerTemplate") or {}
        return [t for t in (lwt.get("leaderTemplate"), lwt.get("workerTemplate")) if t]
    if kind == "Pod":
        return [{"metadata": props.get("metadata") or {}, "spec": spec}]
    return []


def _containers(template: Props) -> list[Props]:
    spec = template.get("spec") or {}
    return [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]


def _is_gpu(resource: str) -> bool:
    return resource.endswith(GPU_RESOURCE_SUFFIXES)


def gpu_violations(resource_type: str, props: Props) -> list[str]:
    """GPU requests = limits, and their sum per pod = the ``llmstack.io/gpus-per-pod`` annotation."""
    out: list[str] = []
    for template in pod_templates(resource_type, props):
        annotations = (template.get("metadata") or {}).get("annotations") or {}
        expected = annotations.get(GPUS_PER_POD_ANNOTATION)
        total = 0
        for container in _containers(template):
            resources = container.get("resources") or {}
            requests = resources.get("requests") or {}
            limits = resources.get("limits") or {}
            for name in sorted({*requests, *limits}):
                if not _is_gpu(name):
                    continue
                if str(requests.get(name, limits.get(name))) != str(limits.get(name)):
                    out.append(f"container {container.get('name')}: {name} requests "
                               f"{requests.get(name)} != limits {limits.get(name)}")
                total += int(str(limits.get(name, requests.get(name, 0))))
        if expected is not None and total != int(expected):
            out.append(f"pod requests {total} GPU(s); the capacity model expects {expected} "
                       f"(annotation {GPUS_PER_POD_ANNOTATION}: TP x PP per pod)")
    return out


def image_violations(resource_type: str, props: Props) -> list[str]:
    """Images pinned to a tag or digest that is not ``latest``."""
    out = []
    for template in pod_templates(resource_type, props):
        for container in _containers(template):
            image = str(container.get("image") or "")
            if "@" in image:
                continue
            last = image.rsplit("/", 1)[-1]
            tag = last.split(":", 1)[1] if ":" in last else None
            if tag is None or tag == "latest":
                out.append(f"container {container.get('name')}: image {image!r} is not pinned "
                           "(use an explicit version tag or digest, never latest)")
    return out


def token_violations(resource_type: str, props: Props) -> list[str]:
    """The Hugging Face token comes from a Secret, never a literal env value."""
    out = []
    for template in pod_templates(resource_type, props):
        for container in _containers(template):
            for env in container.get("env") or []:
                if env.get("name") in TOKEN_ENV_NAMES and env.get("value") not in (None, ""):
                    out.append(f"container {container.get('name')}: {env['name']} has a literal value; "
                               "use valueFrom.secretKeyRef")
                source = env.get("valueFrom") or {}
                if env.get("name") in TOKEN_ENV_NAMES and source and "secretKeyRef" not in source:
                    out.append(f"container {container.get('name')}: {env['name']} must come from a Secret")
    return out


def _labels(props: Props) -> Mapping[str, str]:
    return (props.get("metadata") or {}).get("labels") or {}


def _is_engine(labels: Mapping[str, str]) -> bool:
    key, value = ENGINE_COMPONENT
    return labels.get(key) == value and "llmstack.io/deployment" in labels


def exposure_violations(resource_type: str, props: Props) -> list[str]:
    """Engine Services stay inside the cluster (ClusterIP or headless)."""
    if _kind(resource_type) != "Service" or not _is_engine(_labels(props)):
        return []
    service_type = (props.get("spec") or {}).get("type") or "ClusterIP"
    if service_type != "ClusterIP":
        return [f"engine Service is {service_type}; engines are reached only through the router (use ClusterIP)"]
    return []


def _selects(selector: Props | None, labels: Mapping[str, str]) -> bool:
    if not selector:
        return False
    match = selector.get("matchLabels") or {}
    if any(labels.get(k) != v for k, v in match.items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if (op == "In" and labels.get(key) not in values) or (op == "NotIn" and labels.get(key) in values) \
                or (op == "Exists" and key not in labels) or (op == "DoesNotExist" and key in labels):
            return False
    return bool(match or selector.get("matchExpressions"))


def _namespace(props: Props) -> str:
    return str((props.get("metadata") or {}).get("namespace") or "default")


def _monitor_namespaces(props: Props) -> tuple[bool, set[str]]:
    chosen = (props.get("spec") or {}).get("namespaceSelector") or {}
    if chosen.get("any"):
        return True, set()
    names = set(chosen.get("matchNames") or [])
    return False, names or {_namespace(props)}


def _plain_prometheus_namespaces(text: str) -> set[str]:
    """Namespaces whose pods a plain Prometheus's ``vllm`` job discovers."""
    try:
        config = yaml.safe_load(text) if text else None
    except yaml.YAMLError:
        return set()
    found: set[str] = set()
    jobs = config.get("scrape_configs") or [] if isinstance(config, dict) else []
    for job in jobs:
        if not isinstance(job, dict) or job.get("job_name") != "vllm":
            continue
        for sd in job.get("kubernetes_sd_configs") or []:
            if sd.get("role") == "pod":
                found |= set((sd.get("namespaces") or {}).get("names") or [])
    return found


def unscraped_engines(resources: Iterable[tuple[str, str, Props]]) -> list[str]:
    """Engine pod templates no PodMonitor / ServiceMonitor / plain Prometheus scrapes.

    ``resources`` are (type, name, props). A plain Prometheus counts for a namespace when a
    ConfigMap holds a ``prometheus.yml`` with a ``vllm`` job discovering pods there.
    """
    items = list(resources)
    engines: list[tuple[str, str, Mapping[str, str]]] = []
    for typ, name, props in items:
        for template in pod_templates(typ, props):
            labels = (template.get("metadata") or {}).get("labels") or {}
            if _is_engine(labels):
                engines.append((name, _namespace(props), labels))
    pod_monitors, services, service_monitors, plain = [], [], [], set()
    for typ, _, props in items:
        kind = _kind(typ)
        if kind == "PodMonitor":
            pod_monitors.append(props)
        elif kind == "ServiceMonitor":
            service_monitors.append(props)
        elif kind == "Service":
            services.append(props)
        elif kind == "ConfigMap":
            plain |= _plain_prometheus_namespaces(str((props.get("data") or {}).get("prometheus.yml") or ""))
    out = []
    for name, namespace, labels in engines:
        if namespace in plain:
            continue
        covered = False
        for monitor in pod_monitors:
            anywhere, names = _monitor_namespaces(monitor)
            if (anywhere or namespace in names) and _selects((monitor.get("spec") or {}).get("selector"), labels):
                covered = True
        for monitor in service_monitors:
            anywhere, names = _monitor_namespaces(monitor)
            if not (anywhere or namespace in names):
                continue
            for svc in services:
                selector = (svc.get("spec") or {}).get("selector") or {}
                if (_namespace(svc) == namespace and selector and all(labels.get(k) == v for k, v in selector.items())
                        and _selects((monitor.get("spec") or {}).get("selector"), _labels(svc))):
                    covered = True
        if not covered:
            out.append(f"engine {namespace}/{name} is not scraped by any PodMonitor or ServiceMonitor")
    return out


def _resource_policy(name: str, description: str, check: Any) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for message in check(args.resource_type, args.props):
            report_violation(message, None)

    return ResourceValidationPolicy(name=name, description=description, validate=validate,
                                    enforcement_level=EnforcementLevel.MANDATORY)


def _validate_stack(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    for message in unscraped_engines((r.resource_type, r.name, r.props) for r in args.resources):
        report_violation(message, None)


POLICIES: list[ResourceValidationPolicy | StackValidationPolicy] = [
    _resource_policy("gpu-requests-match-parallelism",
                     "GPU requests equal limits and TP x PP of the variant per pod", gpu_violations),
    _resource_policy("no-latest-images", "container images are pinned (no latest tag)", image_violations),
    _resource_policy("hf-token-from-secret", "the Hugging Face token comes only from a Secret", token_violations),
    _resource_policy("engines-cluster-internal", "engine Services are ClusterIP", exposure_violations),
    StackValidationPolicy(name="engines-scraped", description="every vLLM engine is scraped by monitoring",
                          validate=_validate_stack, enforcement_level=EnforcementLevel.MANDATORY),
]
