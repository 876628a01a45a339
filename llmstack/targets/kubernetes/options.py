"""Cluster-side settings that are not part of the stack spec: namespace, model cache, secrets.

The same stack spec can land in different clusters; what differs between them (namespace,
storage class of the model cache, labels the Prometheus Operator selects on) lives here.
``llmstack render`` takes them as flags and the Pulumi program as stack configuration, with
the same names (:data:`FLAGS`): ``--namespace`` / ``llmstack:namespace``, ``--storage-class`` /
``llmstack:storageClass``, ``--model-cache`` / ``llmstack:modelCache`` (pvc, hostpath,
emptydir), ``--monitor-labels k=v,...`` / ``llmstack:monitorLabels``; they apply on top of
the optional configuration object ``llmstack:kubernetes`` (every field of :class:`KubernetesOptions`).
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import Field, ValidationError

from llmstack.errors import LlmstackError
from llmstack.spec.loading import validation_error
from llmstack.spec.models import DNS_LABEL, Spec

CONFIG_KEY = "llmstack:kubernetes"
HF_CACHE_PATH = "/root/.cache/huggingface"
"""Where the vLLM image (running as root) keeps the Hugging Face cache (``HF_HOME``)."""


class ModelCache(Spec):
    """The volume mounted at the Hugging Face cache of every engine pod."""

    kind: Literal["pvc", "hostPath", "emptyDir"] = Field(
        default="pvc", description="pvc: one shared claim per namespace; hostPath: a node-local folder"
    )
    claim_name: str = Field(default="llmstack-model-cache", pattern=DNS_LABEL.pattern, max_length=63)
    storage_class: str | None = Field(default=None, description="None: the cluster's default storage class")
    size: str = Field(default="500Gi", pattern=r"^\d+(Mi|Gi|Ti)$")
    access_mode: Literal["ReadWriteMany", "ReadWriteOnce", "ReadOnlyMany"] = "ReadWriteMany"
    host_path: str = Field(default="/var/lib/llmstack/hf-cache", pattern=r"^/[A-Za-z0-9._/-]*$")


class KubernetesOptions(Spec):
    """Where and how the stack lands in one cluster."""

    namespace: str = Field(default="llmstack", pattern=DNS_LABEL.pattern, max_length=63)
    create_namespace: bool = True
    hf_token_secret: str = Field(
        default="llmstack-hf-token", pattern=DNS_LABEL.pattern, max_length=63,
        description="Secret holding the Hugging Face token under key `token`; Pulumi creates it from "
                    "llmstack:hfToken, rendered YAML expects the user to create it",
    )
    model_cache: ModelCache = Field(default_factory=ModelCache)
    monitor_labels: dict[str, str] = Field(
        default_factory=dict, description="labels the Prometheus Operator selects monitors and rules by, "
                                          "e.g. {release: kube-prometheus-stack}",
    )
    prometheus_namespace: str | None = Field(
        default=None, pattern=DNS_LABEL.pattern,
        description="namespace of an existing Prometheus (NetworkPolicy); None: any namespace",
    )
    cluster_domain: str = "cluster.local"
    dns_resolver: str | None = Field(
        default=None,
        description="host:port (an IP is safest) of the DNS server HAProxy resolves the engines' headless "
                    "Services with; None: the router pod's /etc/resolv.conf (kube-dns)",
    )


def from_config(raw: Any) -> KubernetesOptions:
    """Validate the ``llmstack:kubernetes`` configuration object (None: defaults)."""
    if raw is None or raw == "":
        return KubernetesOptions()
    if not isinstance(raw, dict):
        raise LlmstackError(f"must be a mapping, got {type(raw).__name__}", path=CONFIG_KEY)
    try:
        return KubernetesOptions.model_validate(raw)
    except ValidationError as exc:
        raise validation_error(exc, raw, None, prefix=CONFIG_KEY) from exc


MODEL_CACHE_KINDS = {"pvc": "pvc", "hostpath": "hostPath", "emptydir": "emptyDir"}
"""``--model-cache`` value -> :attr:`ModelCache.kind`."""
FLAGS = {"namespace": "--namespace", "storageClass": "--storage-class", "modelCache": "--model-cache",
         "monitorLabels": "--monitor-labels"}
"""Pulumi config key (``llmstack:<key>``) -> ``llmstack render`` flag; the two take the same values."""
_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$")


def parse_labels(text: str, path: str = "--monitor-labels") -> dict[str, str]:
    """``k=v,k2=v2`` -> labels, each key and value checked against Kubernetes' label syntax."""
    labels: dict[str, str] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep or not _LABEL_KEY.match(key.strip()) or not _LABEL_VALUE.match(value.strip()):
            raise LlmstackError(f"{item!r} is not a label key=value", path=path,
                                hint="e.g. release=kube-prometheus-stack,team=ml")
        labels[key.strip()] = value.strip()
    return labels


def with_overrides(base: KubernetesOptions, *, namespace: str | None = None, storage_class: str | None = None,
                   model_cache: str | None = None, monitor_labels: dict[str, str] | None = None,
                   source: str = "flag") -> KubernetesOptions:
    """``base`` with the GitOps options applied (the render flags, or the same Pulumi config keys)."""
    data = base.model_dump()
    if namespace is not None:
        data["namespace"] = namespace
    if storage_class is not None:
        data["model_cache"]["storage_class"] = storage_class
    if model_cache is not None:
        if model_cache.lower() not in MODEL_CACHE_KINDS:
            raise LlmstackError(f"unknown model cache {model_cache!r}", path=_where("modelCache", source),
                                hint=f"use one of {', '.join(MODEL_CACHE_KINDS)}")
        data["model_cache"]["kind"] = MODEL_CACHE_KINDS[model_cache.lower()]
    if monitor_labels is not None:
        data["monitor_labels"] = {**data["monitor_labels"], **monitor_labels}
    try:
        return KubernetesOptions.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = {"namespace": "namespace", "model_cache": "storageClass"}.get(str(first["loc"][0]), "namespace")
        raise LlmstackError(first["msg"], path=_where(key, source)) from exc


def _where(key: str, source: str) -> str:
    return FLAGS[key] if source == "flag" else f"llmstack:{key}"


def from_stack_config(raw_object: Any, flat: dict[str, Any]) -> KubernetesOptions:
    """``llmstack:kubernetes`` with the flat keys of :data:`FLAGS` (``llmstack:namespace``, ...) on top."""
    labels = flat.get("monitorLabels")
    if isinstance(labels, str) and labels.lstrip().startswith("{"):
        labels = json.loads(labels)
    if isinstance(labels, str):
        labels = parse_labels(labels, "llmstack:monitorLabels")
    elif labels is not None and not isinstance(labels, dict):
        raise LlmstackError("must be k=v,... or a mapping", path="llmstack:monitorLabels")
    return with_overrides(from_config(raw_object), namespace=flat.get("namespace"),
                          storage_class=flat.get("storageClass"), model_cache=flat.get("modelCache"),
                          monitor_labels=labels, source="config")
