"""The in-cluster policy engine (``controller:`` in the spec): ``llmstack controller`` and what it needs.

Objects (all named ``llmstack-controller``, in ``controller.namespace`` or the stack's):

- ConfigMap with the stack spec (``stack.yaml``) the controller decides from; a checksum of
  the spec without the knobs the policy engine turns (``llmstack:scaling``) rolls the pod when
  the spec changes, but not after each of the controller's own changes (it follows those itself).
- ServiceAccount, and for the ``pulumi-operator`` path a Role and RoleBinding in the Stack's
  namespace granting ``get`` and ``patch`` on that one ``stacks.pulumi.com`` object
  (``resourceNames``), nothing else. The ``gitops`` path gets no Role and no API token at all:
  git credentials come from a Secret mounted as a volume (the kubelet reads it; no RBAC).
- PersistentVolumeClaim for the audit log, the guards' state and the desired replicas
  (ReadWriteOnce, so the Deployment is ``Recreate`` with one replica: one writer).
- Deployment, hardened like the other workloads: non-root (UID 10001), read-only root
  filesystem (``/tmp`` an emptyDir), no capabilities, ``RuntimeDefault`` seccomp, no service
  links; ``/healthz`` liveness, ``/readyz`` readiness; requests and a memory limit.
- Service (the metrics port) and a ServiceMonitor (Prometheus Operator), or the plain
  Prometheus's scrape job (:mod:`llmstack.artifacts.prometheus`); a NetworkPolicy admitting
  only Prometheus to the metrics port.
- With ``keda.enabled``, one KEDA ScaledObject per deployment (named like its workload):
  Prometheus trigger on ``max(llmstack_desired_replicas{deployment=..., namespace=...})``,
  ``AverageValue`` target 1, so the HPA's desired count is the gauge itself. The HPA's
  stabilization windows are 0: the policy engine already applied its cooldowns and scale-in
  window. ``ignoreNullValues: "false"``: when the series is missing (controller down) the
  scaler errors and KEDA keeps the replicas instead of reading the gap as 0. The HPA's default
  10 % tolerance still ignores a one-replica change above ten replicas (Kubernetes 1.33+ can
  lower it per HPA; not set here).

The Prometheus the controller and KEDA query defaults to the stack's plain Prometheus Service
or, with the Prometheus Operator, its ``prometheus-operated`` Service in
``options.prometheus_namespace`` (``monitoring`` when unset).
"""

from __future__ import annotations

import hashlib
from typing import Any

from llmstack import yaml_text
from llmstack.artifacts import images, labels, security
from llmstack.errors import LlmstackError
from llmstack.spec.models import ControllerSpec, StackSpec
from llmstack.targets.kubernetes import meta, naming, networking
from llmstack.targets.kubernetes.dcgm import MONITORING_API
from llmstack.targets.kubernetes.options import KubernetesOptions
from llmstack.targets.kubernetes.plain_prometheus import PROMETHEUS_PORT
from llmstack.targets.kubernetes.resolved import KubeDeployment

NAME = "llmstack-controller"
SPEC_DIR = "/etc/llmstack"
SPEC_FILE = "stack.yaml"
DATA_DIR = "/var/lib/llmstack"
GIT_DIR = "/etc/llmstack/git"
GIT_CREDENTIALS_KEY = "git-credentials"
OPERATOR_PROMETHEUS = "prometheus-operated"
"""The Service the Prometheus Operator creates for every Prometheus (kube-prometheus-stack's too)."""
DEFAULT_PROMETHEUS_NAMESPACE = "monitoring"
KEDA_API = "keda.sh/v1alpha1"
RBAC_API = "rbac.authorization.k8s.io/v1"


def namespace(stack: StackSpec, options: KubernetesOptions) -> str:
    return stack.controller.namespace or options.namespace


def pod_labels(stack: StackSpec) -> dict[str, str]:
    return {"app.kubernetes.io/name": NAME, "app.kubernetes.io/instance": naming.dns_name(stack.name, "controller"),
            labels.K8S_COMPONENT: labels.CONTROLLER_ROLE, **meta.PART_OF}


def selector(stack: StackSpec) -> dict[str, str]:
    return {"app.kubernetes.io/instance": naming.dns_name(stack.name, "controller"),
            labels.K8S_COMPONENT: labels.CONTROLLER_ROLE}


def prometheus_url(stack: StackSpec, options: KubernetesOptions) -> str:
    """``controller.prometheus_url``, else the in-cluster Prometheus this target deploys or expects."""
    if stack.controller.prometheus_url:
        return stack.controller.prometheus_url
    if stack.monitoring.prometheus_operator:
        ns = options.prometheus_namespace or DEFAULT_PROMETHEUS_NAMESPACE
        return f"http://{OPERATOR_PROMETHEUS}.{ns}.svc.{options.cluster_domain}:{PROMETHEUS_PORT}"
    service = naming.dns_name(stack.name, "prometheus")
    return f"http://{service}.{options.namespace}.svc.{options.cluster_domain}:{PROMETHEUS_PORT}"


def check(stack: StackSpec, options: KubernetesOptions) -> None:
    """What the controller cannot do yet, refused before anything is built."""
    for d in stack.deployments:
        if d.profile is not None:
            raise LlmstackError("the controller's spec ConfigMap cannot carry calibrated profile files",
                                path=f"deployments[{d.name}].profile",
                                hint="leave profile unset for a stack with controller.enabled, or run "
                                     "`llmstack watch` beside the profile files")
    if not stack.monitoring.prometheus_operator and namespace(stack, options) != options.namespace:
        raise LlmstackError(f"the plain Prometheus discovers pods only in namespace {options.namespace}",
                            path="controller.namespace",
                            hint="leave controller.namespace unset, or use the Prometheus Operator")


def spec_text(stack: StackSpec) -> str:
    """The spec as the controller reads it back (only what the user set; catalog names stay names)."""
    return yaml_text.dump(stack.model_dump(mode="json", by_alias=True, exclude_unset=True))


def spec_checksum(stack: StackSpec) -> str:
    """sha256 of the spec less what ``llmstack:scaling`` sets (replicas.initial, variant, pool, tensor_parallel)."""
    data = stack.model_dump(mode="json", by_alias=True)
    for d in data["deployments"]:
        d["replicas"].pop("initial", None)
        for knob in ("variant", "pool", "tensor_parallel"):
            d.pop(knob, None)
    return hashlib.sha256(yaml_text.dump(data).encode()).hexdigest()


def config_map(stack: StackSpec, ns: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta.metadata(NAME, ns, pod_labels(stack)),
            "data": {SPEC_FILE: spec_text(stack)}}


def rbac(stack: StackSpec, ns: str) -> list[dict[str, Any]]:
    """ServiceAccount; for the operator path, get/patch on the one Stack object, in the Stack's namespace."""
    obj_labels = pod_labels(stack)
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta.metadata(NAME, ns, obj_labels),
               "automountServiceAccountToken": False}
    spec = stack.controller
    if spec.apply != "pulumi-operator":
        return [account]
    operator = spec.pulumi_operator
    stack_ns = operator.namespace or ns
    rules = [{"apiGroups": ["pulumi.com"], "resources": ["stacks"], "resourceNames": [operator.stack_object],
              "verbs": ["get", "patch"]}]
    return [
        account,
        {"apiVersion": RBAC_API, "kind": "Role", "metadata": meta.metadata(NAME, stack_ns, obj_labels),
         "rules": rules},
        {"apiVersion": RBAC_API, "kind": "RoleBinding", "metadata": meta.metadata(NAME, stack_ns, obj_labels),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": NAME},
         "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": ns}]},
    ]


def claim(stack: StackSpec, ns: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": stack.controller.audit_volume_size}}}
    if stack.controller.storage_class:
        spec["storageClassName"] = stack.controller.storage_class
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": meta.metadata(NAME, ns, pod_labels(stack)), "spec": spec}


def _env(spec: ControllerSpec) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "HOME", "value": "/tmp"},
        {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"},
    ]
    if spec.gitops is not None and spec.gitops.credentials_secret:
        env += [{"name": "GIT_CONFIG_COUNT", "value": "1"},
                {"name": "GIT_CONFIG_KEY_0", "value": "credential.helper"},
                {"name": "GIT_CONFIG_VALUE_0", "value": f"store --file={GIT_DIR}/{GIT_CREDENTIALS_KEY}"}]
    return env


def _volumes(spec: ControllerSpec) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    volumes: list[dict[str, Any]] = [
        {"name": "spec", "configMap": {"name": NAME}},
        {"name": "data", "persistentVolumeClaim": {"claimName": NAME}},
        {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
    ]
    mounts: list[dict[str, Any]] = [
        {"name": "spec", "mountPath": SPEC_DIR, "readOnly": True},
        {"name": "data", "mountPath": DATA_DIR},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    if spec.apply == "gitops" and spec.gitops is not None and spec.gitops.credentials_secret:
        volumes.append({"name": "git-credentials", "secret": {
            "secretName": spec.gitops.credentials_secret, "defaultMode": 0o440,
            "items": [{"key": GIT_CREDENTIALS_KEY, "path": GIT_CREDENTIALS_KEY}]}})
        mounts.append({"name": "git-credentials", "mountPath": GIT_DIR, "readOnly": True})
    return volumes, mounts


def container(stack: StackSpec, options: KubernetesOptions) -> dict[str, Any]:
    spec = stack.controller
    health = {"port": labels.CONTROLLER_METRICS_PORT_NAME}
    _, mounts = _volumes(spec)
    return {
        "name": "controller",
        "image": spec.image or images.CONTROLLER_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "command": ["llmstack"],
        "args": ["controller", "--spec", f"{SPEC_DIR}/{SPEC_FILE}", "--data-dir", DATA_DIR,
                 "--listen", f"0.0.0.0:{labels.CONTROLLER_PORT}", "--prometheus", prometheus_url(stack, options)],
        "env": _env(spec),
        "ports": [{"name": labels.CONTROLLER_METRICS_PORT_NAME, "containerPort": labels.CONTROLLER_PORT,
                   "protocol": "TCP"}],
        "readinessProbe": {"httpGet": {"path": "/readyz", **health}, "periodSeconds": 10, "failureThreshold": 3},
        "livenessProbe": {"httpGet": {"path": "/healthz", **health}, "periodSeconds": 20, "failureThreshold": 3,
                          "initialDelaySeconds": 10},
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
        "volumeMounts": mounts,
        "securityContext": security.container(read_only_root=True),
    }


def deployment(stack: StackSpec, options: KubernetesOptions, ns: str) -> dict[str, Any]:
    """One replica, ``Recreate``: one writer of the audit log and one decider of each change."""
    spec = stack.controller
    volumes, _ = _volumes(spec)
    checksum = spec_checksum(stack)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta.metadata(NAME, ns, pod_labels(stack)),
        "spec": {
            "replicas": 1,
            "revisionHistoryLimit": 3,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": selector(stack)},
            "template": {
                "metadata": {"labels": pod_labels(stack), "annotations": {meta.CONFIG_CHECKSUM_ANNOTATION: checksum}},
                "spec": {
                    "serviceAccountName": NAME,
                    "automountServiceAccountToken": spec.apply == "pulumi-operator",
                    "enableServiceLinks": False,
                    "securityContext": security.pod(security.HIGH_UID, fs_group=security.HIGH_UID),
                    "containers": [container(stack, options)],
                    "volumes": volumes,
                },
            },
        },
    }


def service(stack: StackSpec, ns: str) -> dict[str, Any]:
    port = {"name": labels.CONTROLLER_METRICS_PORT_NAME, "port": labels.CONTROLLER_PORT,
            "targetPort": labels.CONTROLLER_METRICS_PORT_NAME, "protocol": "TCP"}
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta.metadata(NAME, ns, pod_labels(stack)),
            "spec": {"type": "ClusterIP", "selector": selector(stack), "ports": [port]}}


def service_monitor(stack: StackSpec, options: KubernetesOptions, ns: str) -> dict[str, Any]:
    """Prometheus Operator: scrape the controller's /metrics (it adds ``namespace`` the ScaledObjects filter on)."""
    return {
        "apiVersion": MONITORING_API,
        "kind": "ServiceMonitor",
        "metadata": meta.metadata(NAME, ns, {**pod_labels(stack), **options.monitor_labels}),
        "spec": {"selector": {"matchLabels": selector(stack)},
                 "endpoints": [{"port": labels.CONTROLLER_METRICS_PORT_NAME, "path": "/metrics",
                                "interval": stack.monitoring.scrape_interval}]},
    }


def network_policy(stack: StackSpec, options: KubernetesOptions, ns: str) -> dict[str, Any]:
    ingress = [{"from": [networking.prometheus_peer(options)],
                "ports": [{"port": labels.CONTROLLER_PORT, "protocol": "TCP"}]}]
    return networking.policy(NAME, ns, pod_labels(stack), selector(stack), ingress)


def scaled_object(stack: StackSpec, kd: KubeDeployment, options: KubernetesOptions) -> dict[str, Any]:
    """KEDA: the deployment's workload follows ``llmstack_desired_replicas`` between replicas.min and max."""
    keda, d = stack.controller.keda, kd.spec
    query = (f'max(llmstack_desired_replicas{{deployment="{kd.name}",'
             f'namespace="{namespace(stack, options)}"}})')
    workload = ({"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet"} if kd.shape.multi_node
                else {"apiVersion": "apps/v1", "kind": "Deployment"})
    immediate = {"stabilizationWindowSeconds": 0,
                 "policies": [{"type": "Pods", "value": d.replicas.max, "periodSeconds": 15}]}
    return {
        "apiVersion": KEDA_API,
        "kind": "ScaledObject",
        "metadata": meta.metadata(kd.address.workload, kd.namespace, kd.labels),
        "spec": {
            "scaleTargetRef": {**workload, "name": kd.address.workload},
            "minReplicaCount": d.replicas.min,
            "maxReplicaCount": d.replicas.max,
            "pollingInterval": keda.polling_interval_s,
            "cooldownPeriod": keda.cooldown_period_s,
            "advanced": {"horizontalPodAutoscalerConfig": {"behavior": {"scaleUp": immediate,
                                                                        "scaleDown": immediate}}},
            "triggers": [{"type": "prometheus", "metricType": "AverageValue", "metadata": {
                "serverAddress": prometheus_url(stack, options), "query": query, "threshold": "1",
                "ignoreNullValues": "false"}}],
        },
    }


def objects(stack: StackSpec, kds: list[KubeDeployment], options: KubernetesOptions) -> list[dict[str, Any]]:
    """Every object of the controller (none when ``controller.enabled`` is false)."""
    if not stack.controller.enabled:
        return []
    check(stack, options)
    ns = namespace(stack, options)
    out = [config_map(stack, ns), *rbac(stack, ns), claim(stack, ns), deployment(stack, options, ns),
           service(stack, ns), network_policy(stack, options, ns)]
    if stack.monitoring.prometheus_operator:
        out.append(service_monitor(stack, options, ns))
    if stack.controller.keda.enabled:
        out += [scaled_object(stack, kd, options) for kd in kds]
    return out
