"""Hardware discovery from nvidia-smi and Kubernetes nodes, and the starter spec."""

from __future__ import annotations

import json

import pytest

from llmstack.assess import hardware
from llmstack.errors import LlmstackError
from llmstack.spec.loading import spec_from_data

SMI_WITH_HEADER = """index, name, memory.total [MiB]
0, NVIDIA H100 80GB HBM3, 81559 MiB
1, NVIDIA H100 80GB HBM3, 81559 MiB
2, NVIDIA L4, 23034 MiB
"""


def test_nvidia_smi_csv_grouped_by_product() -> None:
    pools = hardware.parse_nvidia_smi(SMI_WITH_HEADER)
    assert [(p.accelerator, p.gpus_per_node, p.memory_mib) for p in pools] == [
        ("H100-SXM-80GB", 2, 81559), ("L4", 1, 23034),
    ]


def test_nvidia_smi_noheader_nounits() -> None:
    pools = hardware.parse_nvidia_smi("0, Tesla T4, 15360\n1, Tesla T4, 15360\n")
    assert [(p.accelerator, p.gpus_per_node) for p in pools] == [("T4", 2)]


def test_unknown_gpu_named_in_error() -> None:
    with pytest.raises(LlmstackError, match="'NVIDIA Quadro P1000' is not in the accelerator catalog"):
        hardware.parse_nvidia_smi("0, NVIDIA Quadro P1000, 4096\n")


def test_kubernetes_nodes_grouped_into_pools() -> None:
    def node(name: str, product: str, gpus: int, instance: str) -> dict[str, object]:
        return {"metadata": {"name": name, "labels": {hardware.PRODUCT_LABEL: product,
                                                        hardware.INSTANCE_LABEL: instance}},
                "status": {"capacity": {"nvidia.com/gpu": str(gpus), "cpu": "96"}}}

    doc = {"items": [node("a", "NVIDIA-H100-80GB-HBM3", 8, "p5.48xlarge"),
                     node("b", "NVIDIA-H100-80GB-HBM3", 8, "p5.48xlarge"),
                     node("c", "NVIDIA-L4", 1, "g6.xlarge"),
                     {"metadata": {"name": "cpu", "labels": {}}, "status": {"capacity": {"cpu": "8"}}}]}
    pools = hardware.parse_kubernetes_nodes(json.dumps(doc))
    assert [(p.accelerator, p.gpus_per_node, p.nodes) for p in pools] == [("H100-SXM-80GB", 8, 2), ("L4", 1, 1)]
    assert pools[0].node_selector[hardware.INSTANCE_LABEL] == "p5.48xlarge"


def test_starter_spec_is_a_valid_stack() -> None:
    data = hardware.starter_spec(hardware.parse_nvidia_smi(SMI_WITH_HEADER))
    stack = spec_from_data(data)
    assert [p.name for p in stack.pools] == ["h100-sxm-80gb", "l4"]
    assert stack.deployments[0].pool == "h100-sxm-80gb"
