"""Pinned container images: the one place their tags and digests are set.

Both targets (Kubernetes and Docker) take their images from here, so an upgrade is one
edit, reviewed together with the generated configuration it must accept. No ``latest``:
the vLLM tag matches the pinned ``vllm-serve-args.json`` and ``vllm-metrics.json``;
dcgm-exporter matches ``dcgm-metrics.json`` (4.5.3-4.8.2); the endpoint picker serves the
InferencePool v1 API of the CRD shipped in tests/data/crds (Gateway API Inference Extension v1.6.0).
HAProxy is the maintained 3.2 LTS branch (2.6.12, Debian bookworm's, is what the tests'
``haproxy -c`` runs; the generated configuration uses nothing 3.2 dropped).

Pinning: a reference is ``repository:tag@sha256:<digest>`` (the digest wins, so a re-pushed
tag cannot change what runs). A digest is written here only when it was read from a
public source (noted beside it); images whose digest could not be looked up from this
workplace (no registry access) are listed in :data:`DIGEST_PENDING` with that reason and
stay tag-pinned until someone runs ``docker buildx imagetools inspect <ref>`` and fills the
digest in. ``tests/artifacts/test_images.py`` enforces both: every digest is well formed and
every image without one is in :data:`DIGEST_PENDING`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from llmstack.catalog.entries import AcceleratorSpec

DIGEST = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Image:
    repository: str
    tag: str
    digest: str | None = None
    """sha256 of the multi-platform index (hex, no ``sha256:`` prefix); None: not yet looked up."""

    @property
    def reference(self) -> str:
        pinned = f"{self.repository}:{self.tag}"
        return f"{pinned}@sha256:{self.digest}" if self.digest else pinned


VLLM_VERSION = "0.33.0"
VLLM = Image("vllm/vllm-openai", f"v{VLLM_VERSION}")
VLLM_TPU = Image("vllm/vllm-tpu", f"v{VLLM_VERSION}")
"""vLLM's TPU image (tpu-inference); UNVERIFIED that this exact tag is published: pin what your registry has."""
VLLM_GAUDI = Image("vault.habana.ai/gaudi-docker/vllm-gaudi", f"v{VLLM_VERSION}")
"""vLLM with the Gaudi plugin; UNVERIFIED tag (Intel publishes per SynapseAI release): pin what your registry has."""
HAPROXY = Image("haproxy", "3.2.24", "fa8c8825c5ca0e0f65c3fc2059b92e9d1735a640b2b38091823a959a64016c4f")
"""Digest: docker-library/repo-info repos/haproxy/remote/3.2.md (tag 3.2 = HAPROXY_VERSION 3.2.24)."""
PROMETHEUS = Image("prom/prometheus", "v2.42.0")
GRAFANA = Image("grafana/grafana", "10.4.2", "7d5faae481a4c6f436c99e98af11534f7fd5e8d3e35213552dd1dd02bc393d2e")
"""Digest: quoted from Docker Hub tag metadata by two independent public compose files."""
DCGM_EXPORTER = Image("nvcr.io/nvidia/k8s/dcgm-exporter", "4.5.3-4.8.2-ubuntu22.04")
NODE_EXPORTER = Image("prom/node-exporter", "v1.8.2",
                      "4032c6d5bfd752342c3e631c2f1de93ba6b86c41db6b167b9a35372c139e7706")
"""Digest: the same index digest quoted by several public deployments (quay.io and Docker Hub mirrors)."""
ENDPOINT_PICKER = Image("registry.k8s.io/gateway-api-inference-extension/epp", "v1.5.0")
"""The last release that ships the full picker in this repository (v1.6.0 moved it to llm-d's router and
keeps a lightweight one); it serves inference.networking.k8s.io/v1 InferencePools, which the v1.6.0 CRD defines."""
CONTROLLER = Image("ghcr.io/pulumi-llmstack/llmstack", "0.1.0")
"""llmstack itself at the package version (pyproject ``version``), running ``llmstack controller``: the policy
engine in the cluster; built from docker/controller.Dockerfile (python:3.12-slim, git, this package)."""

VLLM_IMAGE = VLLM.reference
VLLM_TPU_IMAGE = VLLM_TPU.reference
VLLM_GAUDI_IMAGE = VLLM_GAUDI.reference
HAPROXY_IMAGE = HAPROXY.reference
PROMETHEUS_IMAGE = PROMETHEUS.reference
GRAFANA_IMAGE = GRAFANA.reference
DCGM_EXPORTER_IMAGE = DCGM_EXPORTER.reference
NODE_EXPORTER_IMAGE = NODE_EXPORTER.reference
ENDPOINT_PICKER_IMAGE = ENDPOINT_PICKER.reference
CONTROLLER_IMAGE = CONTROLLER.reference

IMAGES = {
    "vllm": VLLM,
    "vllm-tpu": VLLM_TPU,
    "vllm-gaudi": VLLM_GAUDI,
    "haproxy": HAPROXY,
    "prometheus": PROMETHEUS,
    "grafana": GRAFANA,
    "dcgm_exporter": DCGM_EXPORTER,
    "node_exporter": NODE_EXPORTER,
    "endpoint_picker": ENDPOINT_PICKER,
    "controller": CONTROLLER,
}
ALL_IMAGES = {name: image.reference for name, image in IMAGES.items()}
"""component -> image reference (tests check every tag is pinned)."""

DIGEST_PENDING = {
    "vllm": "v0.33.0 index digest not found in any public source reachable from here",
    "vllm-tpu": "v0.33.0 tag not verified as published; no digest reachable from here",
    "vllm-gaudi": "vault.habana.ai tag not verified as published; no digest reachable from here",
    "prometheus": "v2.42.0 index digest not found in any public source reachable from here",
    "dcgm_exporter": "nvcr.io digest of 4.5.3-4.8.2-ubuntu22.04 not found in any public source reachable from here",
    "endpoint_picker": "registry.k8s.io digest of epp v1.5.0 not found in any public source reachable from here",
    "controller": "built from this repository (docker/controller.Dockerfile) per release; the digest is the "
                  "release's, which no registry reachable from here holds",
}
"""component -> why it is tag-pinned only (checkov CKV_K8S_43 is allowlisted for these images alone)."""


def vllm_image(accelerator: AcceleratorSpec) -> str:
    """The vLLM image for ``accelerator``: its platform's (TPU, Gaudi) or the CUDA image."""
    if accelerator.platform is None:
        return VLLM_IMAGE
    return ALL_IMAGES[accelerator.platform.image]
