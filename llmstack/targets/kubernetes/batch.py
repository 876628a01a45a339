"""Manifests of a batch inference job: ``vllm run-batch`` as a Kubernetes Job, data on a PVC.

The job borrows its deployment's variant, pool, parallelism and engine options (the same
validated ``vllm serve`` arguments minus the HTTP listener). The OpenAI batch file is read
from, and the results written to, a PersistentVolumeClaim mounted at ``/data``: copy the
input there before the job starts (e.g. ``kubectl cp`` into a pod that mounts the claim).
Sharded deployments that need more than one node are not supported as batch jobs.
"""

from __future__ import annotations

from typing import Any

from llmstack.artifacts import images, labels, vllm_args
from llmstack.errors import LlmstackError
from llmstack.spec.models import BatchJobSpec, StackSpec
from llmstack.targets.kubernetes import engines, meta, naming, networking
from llmstack.targets.kubernetes.options import KubernetesOptions
from llmstack.targets.kubernetes.resolved import KubeDeployment

DATA_PATH = "/data"
SERVER_ONLY_FLAGS = ("--host", "--port")


def job_labels(stack: StackSpec, job: BatchJobSpec, kd: KubeDeployment) -> dict[str, str]:
    spec = kd.spec
    return {
        "app.kubernetes.io/name": "vllm-batch",
        "app.kubernetes.io/instance": naming.dns_name(stack.name, job.name),
        labels.K8S_COMPONENT: "batch",
        **meta.PART_OF,
        "llmstack.io/batch-job": job.name,
        labels.K8S_MODEL: spec.model,
        labels.K8S_VARIANT: spec.variant,
        labels.K8S_POOL: spec.pool,
    }


def run_batch_args(stack: StackSpec, job: BatchJobSpec) -> list[str]:
    """``vllm run-batch`` arguments: input, output, the model, then the deployment's engine options."""
    serve = vllm_args.serve_args(stack, job.deployment)
    model, rest = serve[0], serve[1:]
    engine: list[str] = []
    skip = False
    for arg in rest:
        if skip:
            skip = False
            continue
        if arg in SERVER_ONLY_FLAGS:
            skip = True
            continue
        engine.append(arg)
    return ["-i", f"{DATA_PATH}/{job.input}", "-o", f"{DATA_PATH}/{job.output}", "--model", model, *engine]


def data_claim(stack: StackSpec, job: BatchJobSpec, kd: KubeDeployment, options: KubernetesOptions,
               ) -> dict[str, Any]:
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": job.volume_size}}}
    if job.storage_class is not None:
        spec["storageClassName"] = job.storage_class
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": meta.metadata(naming.dns_name(job.name, "batch-data"), options.namespace,
                                  job_labels(stack, job, kd)),
        "spec": spec,
    }


def job_manifest(stack: StackSpec, job: BatchJobSpec, kd: KubeDeployment, options: KubernetesOptions,
                 ) -> dict[str, Any]:
    """batch/v1 Job running ``vllm run-batch`` on the deployment's pool."""
    shape = kd.shape
    if shape.multi_node:
        raise LlmstackError(
            f"deployment {job.deployment!r} needs {shape.pods_per_replica} nodes per replica; batch jobs run on one",
            path=f"batch_jobs[{job.name}].deployment",
            hint="point the job at a deployment whose TP x PP fits one node of its pool",
        )
    pod_labels = job_labels(stack, job, kd)
    volumes, mounts = engines.engine_volumes(shape, options)
    container = {
        "name": "vllm-batch",
        "image": images.vllm_image(kd.accelerator),
        "imagePullPolicy": "IfNotPresent",
        "command": ["vllm", "run-batch"],
        "args": run_batch_args(stack, job),
        "env": engines.engine_env(options),
        "resources": engines.engine_resources(kd.pool, shape, kd.accelerator),
        "volumeMounts": [*mounts, {"name": "batch-data", "mountPath": DATA_PATH}],
        "securityContext": dict(engines.ENGINE_SECURITY),
    }
    spec: dict[str, Any] = {
        "backoffLimit": job.backoff_limit,
        "template": {
            "metadata": {"labels": pod_labels, "annotations": {
                meta.GPUS_PER_POD_ANNOTATION: str(shape.gpus_per_pod)}},
            "spec": {
                "restartPolicy": "Never",
                "containers": [container],
                "volumes": [*volumes, {"name": "batch-data", "persistentVolumeClaim": {
                    "claimName": naming.dns_name(job.name, "batch-data")}}],
                "enableServiceLinks": False,
                "automountServiceAccountToken": False,
                "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                **engines.pool_scheduling(kd.pool, kd.accelerator),
            },
        },
    }
    if job.active_deadline_s is not None:
        spec["activeDeadlineSeconds"] = job.active_deadline_s
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta.metadata(naming.dns_name(job.name, "batch"), options.namespace, pod_labels,
                                  {meta.GPUS_PER_POD_ANNOTATION: str(shape.gpus_per_pod)}),
        "spec": spec,
    }


def deny_ingress(stack: StackSpec, job: BatchJobSpec, kd: KubeDeployment, options: KubernetesOptions,
                 ) -> dict[str, Any]:
    """A batch job serves nothing: no ingress at all."""
    pod_labels = job_labels(stack, job, kd)
    pods = {k: pod_labels[k] for k in ("app.kubernetes.io/instance", "llmstack.io/batch-job")}
    return networking.policy(naming.dns_name(job.name, "batch"), options.namespace, pod_labels, pods, [])


def batch_objects(stack: StackSpec, job: BatchJobSpec, kd: KubeDeployment, options: KubernetesOptions,
                  ) -> list[dict[str, Any]]:
    return [data_claim(stack, job, kd, options), job_manifest(stack, job, kd, options),
            deny_ingress(stack, job, kd, options)]


