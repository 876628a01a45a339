"""Cluster-side settings that are not part of the stack spec: namespace, model cache, secrets.

The same stack spec can land in different clusters; what differs between them (namespace,
storage class of the model cache, labels the Prometheus Operator selects on) lives here.
``llmstack render`` uses the defaults; the Pulumi program reads the optional stack
configuration object ``llmstack:kubernetes``.
"""

from __future__ import annotations

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
