"""Small shared builders: object metadata, label selectors, resource quantities, annotations.

Every manifest builder takes its names and labels from here so that selectors, the
policy pack and the renderer agree on one spelling.
"""

from __future__ import annotations

from typing import Any

from llmstack.artifacts.vllm_args import ENGINE_PORT as ENGINE_PORT  # re-exported: the one definition

GPUS_PER_POD_ANNOTATION = "llmstack.io/gpus-per-pod"
"""The GPU count the capacity model expects each engine pod to request (checked by the policy pack)."""
GPUS_PER_REPLICA_ANNOTATION = "llmstack.io/gpus-per-replica"
CONFIG_CHECKSUM_ANNOTATION = "llmstack.io/config-checksum"
ENGINE_WORKER_COMPONENT = "engine-worker"
"""``app.kubernetes.io/component`` of LeaderWorkerSet workers (Ray only, no HTTP server)."""
PART_OF = {"app.kubernetes.io/part-of": "llmstack", "app.kubernetes.io/managed-by": "llmstack"}


def metadata(name: str, namespace: str | None, labels: dict[str, str] | None = None,
             annotations: dict[str, str] | None = None) -> dict[str, Any]:
    """ObjectMeta; ``namespace`` None for cluster-scoped objects."""
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    if labels:
        meta["labels"] = dict(labels)
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


def gib(value: int) -> str:
    return f"{value}Gi"
