"""Manifests of one model deployment: the vLLM workload, its Services and disruption budget.

A replica that fits one node is a pod of a ``Deployment``; a replica sharded beyond one
node is a group of a ``LeaderWorkerSet`` (leaderworkerset.x-k8s.io/v1), set up the way
vLLM documents multi-node serving: the leader starts a Ray head, waits for the group's
workers to join and runs ``vllm serve ... --distributed-executor-backend ray``; each
worker runs ``ray start --address=$(LWS_LEADER_ADDRESS):6379 --block``.

Pods get the pinned vLLM image, GPU requests = limits from :mod:`.sizing`, the pool's
nodeSelector, tolerations and affinity, a startup probe sized for the weights, readiness
and liveness on ``/health``, a graceful drain on scale-in (preStop wait, vLLM's
``--shutdown-timeout`` and the grace period sized to the longest request: :mod:`.draining`),
``/dev/shm`` in memory, the model cache at the Hugging Face
cache, and the Hugging Face token as a file from a Secret (``HF_TOKEN_PATH``; never a literal
value, never an environment variable).

Security: no service account token (vLLM never calls the API server), ``seccompProfile:
RuntimeDefault``, no privilege escalation and every capability dropped. Two things stay as the
image has them, on purpose: the vLLM image runs as root and has no other user (its caches,
``HF_HOME`` and torch.compile/Triton, live under ``/root/.cache``), so ``runAsNonRoot`` would
stop it from starting; and it writes those caches and ``/tmp`` at run time, so the root
filesystem stays writable. Both are allowlisted in the checkov test with this reason.
"""

from __future__ import annotations

import shlex
from typing import Any

from llmstack.artifacts import images, labels, vllm_args
from llmstack.spec.models import AcceleratorSpec, PoolSpec
from llmstack.targets.kubernetes import draining, meta
from llmstack.targets.kubernetes.options import HF_CACHE_PATH, KubernetesOptions
from llmstack.targets.kubernetes.resolved import KubeDeployment
from llmstack.targets.kubernetes.sizing import STARTUP_PERIOD_S, PodShape

RAY_PORT = 6379
RAY_JOIN_TIMEOUT_S = 600
LWS_API_VERSION = "leaderworkerset.x-k8s.io/v1"
HF_TOKEN_KEY = "token"
HF_TOKEN_DIR = "/var/run/secrets/llmstack/hf"
ENGINE_SECURITY = {"allowPrivilegeEscalation": False, "privileged": False, "capabilities": {"drop": ["ALL"]},
                   "seccompProfile": {"type": "RuntimeDefault"}}
"""Container securityContext of vLLM (root image: see the module docstring)."""


def platform_node_selector(pool: PoolSpec, accelerator: AcceleratorSpec | None) -> dict[str, str]:
    """The accelerator platform's node labels (TPU: accelerator and slice topology for the pool's chips)."""
    platform = accelerator.platform if accelerator is not None else None
    if platform is None:
        return {}
    labels_: dict[str, str] = dict(platform.node_selector)
    topology = platform.topologies.get(pool.gpus_per_node)
    if platform.topology_label and topology:
        labels_[platform.topology_label] = topology
    return labels_


def device_resource(pool: PoolSpec, accelerator: AcceleratorSpec | None) -> str:
    """The extended resource pods request: the pool's when set, else the accelerator platform's, else nvidia.com/gpu."""
    if "device_resource" not in pool.model_fields_set and accelerator is not None and accelerator.platform:
        return accelerator.platform.device_resource
    return pool.device_resource


def pool_scheduling(pool: PoolSpec, accelerator: AcceleratorSpec | None = None) -> dict[str, Any]:
    """nodeSelector (the platform's labels, then the pool's), tolerations and affinity of a pool, as pod spec fields."""
    fields: dict[str, Any] = {}
    selector_ = {**platform_node_selector(pool, accelerator), **pool.node_selector}
    if selector_:
        fields["nodeSelector"] = dict(sorted(selector_.items()))
    if pool.tolerations:
        fields["tolerations"] = [t.model_dump(by_alias=True, exclude_none=True) for t in pool.tolerations]
    if pool.affinity:
        fields["affinity"] = pool.affinity
    return fields


def engine_env(options: KubernetesOptions) -> list[dict[str, Any]]:
    return [
        {"name": "HF_HOME", "value": HF_CACHE_PATH},
        {"name": "HF_TOKEN_PATH", "value": f"{HF_TOKEN_DIR}/{HF_TOKEN_KEY}"},
        {"name": "VLLM_NO_USAGE_STATS", "value": "1"},
    ]


def engine_volumes(shape: PodShape, options: KubernetesOptions) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    cache = options.model_cache
    source: dict[str, Any]
    if cache.kind == "pvc":
        source = {"persistentVolumeClaim": {"claimName": cache.claim_name}}
    elif cache.kind == "hostPath":
        source = {"hostPath": {"path": cache.host_path, "type": "DirectoryOrCreate"}}
    else:
        source = {"emptyDir": {}}
    volumes = [
        {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": meta.gib(shape.shm_gib)}},
        {"name": "model-cache", **source},
        {"name": "hf-token", "secret": {"secretName": options.hf_token_secret, "optional": True,
                                        "defaultMode": 0o400}},
    ]
    mounts: list[dict[str, Any]] = [{"name": "dshm", "mountPath": "/dev/shm"},
              {"name": "model-cache", "mountPath": HF_CACHE_PATH},
              {"name": "hf-token", "mountPath": HF_TOKEN_DIR, "readOnly": True}]
    return volumes, mounts


def engine_resources(pool: PoolSpec, shape: PodShape, accelerator: AcceleratorSpec | None = None) -> dict[str, Any]:
    """GPU requests = limits (extended resources must); memory limit = request; no CPU limit (no throttling)."""
    gpus = str(shape.gpus_per_pod)
    memory = meta.gib(shape.memory_gib)
    resource = device_resource(pool, accelerator)
    return {
        "requests": {"cpu": str(shape.cpu), "memory": memory, resource: gpus},
        "limits": {"memory": memory, resource: gpus},
    }


def _probes(shape: PodShape) -> dict[str, Any]:
    http = {"path": "/health", "port": labels.ENGINE_PORT_NAME}
    return {
        "startupProbe": {"httpGet": http, "periodSeconds": STARTUP_PERIOD_S,
                         "failureThreshold": shape.startup_failure_threshold, "timeoutSeconds": 5},
        "readinessProbe": {"httpGet": http, "periodSeconds": 5, "failureThreshold": 3, "timeoutSeconds": 5},
        "livenessProbe": {"httpGet": http, "periodSeconds": 15, "failureThreshold": 4, "timeoutSeconds": 10},
    }


def _container(name: str, command: list[str], args: list[str], kd: KubeDeployment,
               options: KubernetesOptions, *, serves_http: bool) -> dict[str, Any]:
    shape = kd.shape
    _, mounts = engine_volumes(shape, options)
    container: dict[str, Any] = {
        "name": name,
        "image": images.vllm_image(kd.accelerator),
        "imagePullPolicy": "IfNotPresent",
        "command": command,
        "args": args,
        "env": engine_env(options),
        "resources": engine_resources(kd.pool, shape, kd.accelerator),
        "volumeMounts": mounts,
        "securityContext": dict(ENGINE_SECURITY),
    }
    if serves_http:
        container["ports"] = [{"name": labels.ENGINE_PORT_NAME, "containerPort": meta.ENGINE_PORT,
                               "protocol": "TCP"}]
        container.update(_probes(shape))
        container["lifecycle"] = draining.leader_pre_stop(kd.drain)
    else:
        container["ports"] = [{"name": "ray", "containerPort": RAY_PORT, "protocol": "TCP"}]
        container["lifecycle"] = draining.worker_pre_stop(kd.drain)
    return container


def _pod_spec(container: dict[str, Any], kd: KubeDeployment, options: KubernetesOptions) -> dict[str, Any]:
    volumes, _ = engine_volumes(kd.shape, options)
    return {
        "containers": [container],
        "volumes": volumes,
        "terminationGracePeriodSeconds": kd.drain.grace_period_s,
        "enableServiceLinks": False,
        "automountServiceAccountToken": False,
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        **pool_scheduling(kd.pool, kd.accelerator),
    }


def _annotations(shape: PodShape) -> dict[str, str]:
    return {meta.GPUS_PER_POD_ANNOTATION: str(shape.gpus_per_pod),
            meta.GPUS_PER_REPLICA_ANNOTATION: str(shape.gpus_per_replica)}


def deployment(kd: KubeDeployment, options: KubernetesOptions) -> dict[str, Any]:
    """apps/v1 Deployment of a single-node deployment (one pod per replica)."""
    d, shape = kd.spec, kd.shape
    container = _container("vllm", list(vllm_args.VLLM_ENTRYPOINT), list(kd.serve_args), kd, options,
                           serves_http=True)
    strategy: dict[str, Any] = (
        {"type": "Recreate"} if d.update_strategy == "Recreate"
        else {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
    )
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta.metadata(kd.address.workload, kd.namespace, kd.labels, _annotations(shape)),
        "spec": {
            "replicas": d.replicas.start,
            "revisionHistoryLimit": 3,
            "selector": {"matchLabels": kd.address.serving_selector},
            "strategy": strategy,
            "template": {
                "metadata": {"labels": kd.labels, "annotations": _annotations(shape)},
                "spec": _pod_spec(container, kd, options),
            },
        },
    }


def leader_script(serve: list[str]) -> str:
    """Leader of a LeaderWorkerSet group: Ray head, wait for the group, then ``vllm serve`` over Ray."""
    attempts = RAY_JOIN_TIMEOUT_S // 5
    count = ("python3 -c 'import ray; ray.init(address=\"auto\", logging_level=\"ERROR\"); "
             "print(sum(1 for n in ray.nodes() if n[\"Alive\"]))'")
    return "\n".join([
        "set -e",
        f"ray start --head --port={RAY_PORT}",
        f"for i in `seq 1 {attempts}`; do",
        f"  if [ \"`{count}`\" -ge \"$LWS_GROUP_SIZE\" ]; then break; fi",
        "  echo \"waiting for $LWS_GROUP_SIZE Ray nodes\"; sleep 5",
        "done",
        "exec " + shlex.join(serve),
    ]) + "\n"


def leader_worker_set(kd: KubeDeployment, options: KubernetesOptions) -> dict[str, Any]:
    """LeaderWorkerSet of a deployment sharded over ``shape.pods_per_replica`` nodes."""
    d, shape = kd.spec, kd.shape
    leader_labels = kd.labels
    worker_labels = {**leader_labels, labels.K8S_COMPONENT: meta.ENGINE_WORKER_COMPONENT}
    serve = [*vllm_args.VLLM_ENTRYPOINT, *kd.serve_args]
    leader = _container("vllm-leader", ["/bin/sh", "-c"], [leader_script(serve)], kd, options, serves_http=True)
    worker = _container("vllm-worker", ["ray", "start"],
                        [f"--address=$(LWS_LEADER_ADDRESS):{RAY_PORT}", "--block"], kd, options,
                        serves_http=False)
    rollout: dict[str, Any] = (
        {"type": "RollingUpdate", "rollingUpdateConfiguration": {"maxUnavailable": 1, "maxSurge": 0}}
        if d.update_strategy == "Recreate"
        else {"type": "RollingUpdate", "rollingUpdateConfiguration": {"maxUnavailable": 0, "maxSurge": 1}}
    )
    return {
        "apiVersion": LWS_API_VERSION,
        "kind": "LeaderWorkerSet",
        "metadata": meta.metadata(kd.address.workload, kd.namespace, leader_labels, _annotations(shape)),
        "spec": {
            "replicas": d.replicas.start,
            "startupPolicy": "LeaderCreated",
            "rolloutStrategy": rollout,
            "leaderWorkerTemplate": {
                "size": shape.pods_per_replica,
                "restartPolicy": "RecreateGroupOnPodRestart",
                "leaderTemplate": {
                    "metadata": {"labels": leader_labels, "annotations": _annotations(shape)},
                    "spec": _pod_spec(leader, kd, options),
                },
                "workerTemplate": {
                    "metadata": {"labels": worker_labels, "annotations": _annotations(shape)},
                    "spec": _pod_spec(worker, kd, options),
                },
            },
        },
    }


def service(kd: KubeDeployment) -> dict[str, Any]:
    """ClusterIP Service of the engines (in-cluster clients; never exposed outside)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta.metadata(kd.address.workload, kd.namespace, kd.labels),
        "spec": {
            "type": "ClusterIP",
            "selector": kd.address.serving_selector,
            "ports": [{"name": labels.ENGINE_PORT_NAME, "port": meta.ENGINE_PORT,
                       "targetPort": labels.ENGINE_PORT_NAME, "protocol": "TCP"}],
        },
    }


def headless_service(kd: KubeDeployment) -> dict[str, Any]:
    """Headless Service: one DNS record per ready engine pod, which the router resolves at run time."""
    svc = service(kd)
    svc["metadata"]["name"] = kd.address.headless
    svc["spec"] = {"clusterIP": "None", **svc["spec"]}
    return svc


def pod_disruption_budget(kd: KubeDeployment) -> dict[str, Any]:
    """At most one engine pod evicted at a time (drains proceed, capacity drops by one replica at most)."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": meta.metadata(kd.address.workload, kd.namespace, kd.labels),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": kd.address.selector}},
    }


def model_cache_claim(options: KubernetesOptions) -> dict[str, Any] | None:
    """The shared PersistentVolumeClaim of the model cache (None unless the cache is a PVC)."""
    cache = options.model_cache
    if cache.kind != "pvc":
        return None
    spec: dict[str, Any] = {"accessModes": [cache.access_mode], "resources": {"requests": {"storage": cache.size}}}
    if cache.storage_class is not None:
        spec["storageClassName"] = cache.storage_class
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": meta.metadata(cache.claim_name, options.namespace, meta.PART_OF),
        "spec": spec,
    }


def deployment_objects(kd: KubeDeployment, options: KubernetesOptions) -> list[dict[str, Any]]:
    """Every object of one model deployment, workload first."""
    workload = (leader_worker_set if kd.shape.multi_node else deployment)(kd, options)
    return [workload, service(kd), headless_service(kd), pod_disruption_budget(kd)]
