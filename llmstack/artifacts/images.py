"""Pinned container images: the one place their tags are set.

Both targets (Kubernetes and Docker) take their images from here, so an upgrade is one
edit, reviewed together with the generated configuration it must accept. No ``latest``:
the vLLM tag matches the pinned ``vllm-serve-args.json`` and ``vllm-metrics.json``; HAProxy
and Prometheus match the versions the tests run (Debian bookworm's haproxy 2.6.12 and
prometheus/promtool 2.42.0); dcgm-exporter matches ``dcgm-metrics.json`` (4.5.3-4.8.2).
"""

from __future__ import annotations

from llmstack.catalog.entries import AcceleratorSpec

VLLM_VERSION = "0.33.0"
VLLM_IMAGE = f"vllm/vllm-openai:v{VLLM_VERSION}"
VLLM_TPU_IMAGE = f"vllm/vllm-tpu:v{VLLM_VERSION}"
"""vLLM's TPU image (tpu-inference); UNVERIFIED that this exact tag is published: pin what your registry has."""
VLLM_GAUDI_IMAGE = f"vault.habana.ai/gaudi-docker/vllm-gaudi:v{VLLM_VERSION}"
"""vLLM with the Gaudi plugin; UNVERIFIED tag (Intel publishes per SynapseAI release): pin what your registry has."""
HAPROXY_IMAGE = "haproxy:2.6.12"
PROMETHEUS_IMAGE = "prom/prometheus:v2.42.0"
GRAFANA_IMAGE = "grafana/grafana:10.4.2"
DCGM_EXPORTER_IMAGE = "nvcr.io/nvidia/k8s/dcgm-exporter:4.5.3-4.8.2-ubuntu22.04"
NODE_EXPORTER_IMAGE = "prom/node-exporter:v1.8.2"

ALL_IMAGES = {
    "vllm": VLLM_IMAGE,
    "vllm-tpu": VLLM_TPU_IMAGE,
    "vllm-gaudi": VLLM_GAUDI_IMAGE,
    "haproxy": HAPROXY_IMAGE,
    "prometheus": PROMETHEUS_IMAGE,
    "grafana": GRAFANA_IMAGE,
    "dcgm_exporter": DCGM_EXPORTER_IMAGE,
    "node_exporter": NODE_EXPORTER_IMAGE,
}
"""component -> image reference (tests check every tag is pinned)."""


def vllm_image(accelerator: AcceleratorSpec) -> str:
    """The vLLM image for ``accelerator``: its platform's (TPU, Gaudi) or the CUDA image."""
    if accelerator.platform is None:
        return VLLM_IMAGE
    return ALL_IMAGES[accelerator.platform.image]
