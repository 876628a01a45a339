"""Catalog entries: the facts of one accelerator type and of one model architecture.

They live below the spec (the catalog is the lower layer): the catalog ships these, and a stack
spec may define its own inline (:class:`llmstack.spec.models.PoolSpec` ``accelerator``,
:class:`llmstack.spec.models.VariantSpec` ``architecture``) with the same models.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SAFE_TEXT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@+-]*$")
"""Model ids, weights paths and catalog names: no spaces, quotes or newlines (they end up in
haproxy.cfg, PromQL and shell arguments)."""

SafeText = Annotated[str, Field(min_length=1, max_length=200, pattern=SAFE_TEXT.pattern)]
Vendor = Literal["nvidia", "amd", "google", "intel", "other"]


class Entry(BaseModel):
    """Base for catalog entries: unknown fields are errors; instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class DockerDevices(Entry):
    """How a container reaches this accelerator on one Docker host (off NVIDIA's device requests)."""

    runtime: str | None = Field(default=None, description="container runtime, e.g. habana")
    privileged: bool = False
    devices: list[str] = Field(default_factory=list, description="host device paths passed through, e.g. /dev/vfio")
    visible_devices_env: str = Field(description="variable listing the replica's device ids, e.g. TPU_VISIBLE_CHIPS")
    cap_add: list[str] = Field(default_factory=list)


class Platform(Entry):
    """How vLLM runs on an accelerator family that is not a CUDA GPU: its backend, the Kubernetes device
    resource and node selectors, the vLLM image, and what that backend supports (docs/catalog.md)."""

    backend: Literal["tpu", "hpu", "rocm", "neuron"]
    device_resource: str = Field(description="extended resource of the device plugin, e.g. google.com/tpu")
    image: Literal["vllm-tpu", "vllm-gaudi"] = Field(description="key of artifacts/images.py")
    node_selector: dict[str, str] = Field(default_factory=dict)
    topology_label: str | None = Field(default=None, description="node label holding the slice topology (TPU)")
    topologies: dict[int, str] = Field(default_factory=dict, description="devices per node -> topology value")
    quantization: list[str] = Field(default_factory=list,
                                    description="quantization methods/schemes this vLLM backend runs")
    tensor_parallel: list[int] = Field(default_factory=list, description="devices per replica the backend supports")
    docker: DockerDevices | None = None
    source: dict[str, str] | str | None = None


class AcceleratorSpec(Entry):
    """One accelerator type's facts. The catalog ships these; a spec may define its own inline."""

    name: SafeText
    display_name: str | None = None
    vendor: Vendor = "nvidia"
    memory_mib: int = Field(gt=0, description="device memory as the driver reports it (nvidia-smi memory.total, MiB)")
    memory_source: str | None = Field(default=None, description="where memory_mib was read")
    cuda_total_mib: int | None = Field(
        default=None, gt=0,
        description="total that torch.cuda.mem_get_info reports (what vLLM multiplies by gpu_memory_utilization); "
                    "None: memory_mib less the driver's usual reserve",
    )
    cuda_total_source: str | None = None
    memory_bandwidth_gb_s: float = Field(gt=0)
    bf16_tflops: float = Field(gt=0, description="dense BF16/FP16 tensor throughput")
    fp8_tflops: float | None = Field(default=None, gt=0, description="dense FP8; None = no FP8 hardware")
    int8_tops: float | None = Field(default=None, gt=0)
    compute_capability: str | None = Field(
        default=None, pattern=r"^\d+\.\d+$", description="NVIDIA SM version, e.g. '8.9'; None off NVIDIA"
    )
    interconnect: Literal["nvlink", "pcie", "xgmi", "ici", "other"] = "pcie"
    interconnect_gb_s: float = Field(default=64, gt=0)
    tdp_w: float | None = None
    platform: Platform | None = Field(default=None, description="None: a CUDA (or ROCm) GPU as vLLM's default image")
    source: dict[str, str] | str | None = None
    uncertain_fields: list[str] = Field(default_factory=list)
    verified: dict[str, bool | str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _legacy_memory_gb(cls, data: object) -> object:
        """Accept the old decimal ``memory_gb`` of inline accelerators: converted to MiB, source says so."""
        if isinstance(data, dict) and "memory_gb" in data and "memory_mib" not in data:
            data = dict(data)
            gb = data.pop("memory_gb")
            if isinstance(gb, int | float) and not isinstance(gb, bool) and gb > 0:
                data["memory_mib"] = int(gb * 1e9 / 2**20)
                data.setdefault("memory_source", f"converted from memory_gb={gb} (vendor decimal GB)")
            else:
                data["memory_mib"] = gb
        return data

    @property
    def compute_capability_tuple(self) -> tuple[int, int] | None:
        if self.compute_capability is None:
            return None
        major, minor = self.compute_capability.split(".")
        return int(major), int(minor)


class MoeSpec(Entry):
    num_experts: int = Field(ge=2)
    experts_per_token: int = Field(ge=1)
    active_params_b: float = Field(gt=0, description="parameters used per token, billions")


class ArchitectureSpec(Entry):
    """Transformer facts from a model's config.json."""

    name: SafeText
    hf_repo: str | None = None
    params_b: float = Field(gt=0, description="total parameters, billions")
    num_layers: int = Field(ge=1)
    hidden_size: int = Field(ge=1)
    num_attention_heads: int = Field(ge=1)
    num_kv_heads: int = Field(ge=1)
    head_dim: int = Field(ge=1)
    vocab_size: int = Field(ge=1)
    max_position_embeddings: int = Field(ge=1)
    intermediate_size: int = Field(ge=1)
    tie_word_embeddings: bool = False
    moe: MoeSpec | None = None
    source: str | None = None
    verified: bool | None = None

    @model_validator(mode="after")
    def _heads(self) -> ArchitectureSpec:
        if self.num_attention_heads % self.num_kv_heads:
            raise ValueError(
                f"num_attention_heads ({self.num_attention_heads}) must be a multiple of "
                f"num_kv_heads ({self.num_kv_heads})"
            )
        return self

    @property
    def active_params_b(self) -> float:
        return self.moe.active_params_b if self.moe else self.params_b
