"""Hardware an environment has, from ``nvidia-smi`` CSV or ``kubectl get nodes -o json`` (pure parsing).

Both become :class:`FoundPool` objects (accelerator catalog name, GPUs per node, node
count, selector labels), from which :func:`starter_spec` writes a stack spec to start from.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from llmstack.errors import LlmstackError

GPU_NAME_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"H200", "H200-SXM-141GB"),
    (r"H100.*PCIe", "H100-PCIe-80GB"),
    (r"H100", "H100-SXM-80GB"),
    (r"B200", "B200"),
    (r"A100.*40GB", "A100-SXM-40GB"),
    (r"A100", "A100-SXM-80GB"),
    (r"L40S", "L40S"),
    (r"\bL4\b", "L4"),
    (r"A10G", "A10G"),
    (r"\bA10\b", "A10"),
    (r"\bT4\b", "T4"),
    (r"RTX 4090", "RTX-4090"),
    (r"RTX 3090", "RTX-3090"),
    (r"MI300X", "MI300X"),
)
"""nvidia-smi / GPU feature discovery product names -> catalog names (first match wins)."""

PRODUCT_LABEL = "nvidia.com/gpu.product"
INSTANCE_LABEL = "node.kubernetes.io/instance-type"


@dataclass(frozen=True)
class FoundPool:
    accelerator: str
    product: str
    gpus_per_node: int
    nodes: int
    memory_mib: int | None = None
    node_selector: dict[str, str] = field(default_factory=dict)


def catalog_name(product: str) -> str:
    """The catalog name for a GPU product string; an error naming the product if none matches."""
    for pattern, name in GPU_NAME_PATTERNS:
        if re.search(pattern, product, flags=re.IGNORECASE):
            return name
    raise LlmstackError(f"GPU {product!r} is not in the accelerator catalog",
                        hint="define it inline under accelerators: in the spec")


def parse_nvidia_smi(text: str) -> list[FoundPool]:
    """Parse ``nvidia-smi --query-gpu=index,name,memory.total --format=csv[,noheader][,nounits]`` of one host."""
    rows = [r for r in csv.reader(io.StringIO(text)) if r and any(c.strip() for c in r)]
    if not rows:
        raise LlmstackError("nvidia-smi output is empty", path="--nvidia-smi")
    header = [c.strip().lower() for c in rows[0]]
    if "name" in header:
        name_col = header.index("name")
        mem_col = next((i for i, h in enumerate(header) if h.startswith("memory.total")), None)
        rows = rows[1:]
    else:
        name_col, mem_col = 1, 2
    products: Counter[str] = Counter()
    memory: dict[str, int] = {}
    for number, row in enumerate(rows, start=1):
        if len(row) <= name_col:
            raise LlmstackError(f"row {number} has no name column: {','.join(row)!r}", path="--nvidia-smi",
                                hint="use --query-gpu=index,name,memory.total --format=csv")
        product = row[name_col].strip()
        products[product] += 1
        if mem_col is not None and len(row) > mem_col:
            digits = re.sub(r"[^0-9]", "", row[mem_col])
            if digits:
                memory[product] = int(digits)
    return [FoundPool(accelerator=catalog_name(p), product=p, gpus_per_node=n, nodes=1, memory_mib=memory.get(p))
            for p, n in sorted(products.items())]


def parse_kubernetes_nodes(data: str | dict[str, Any], resource: str = "nvidia.com/gpu") -> list[FoundPool]:
    """Group ``kubectl get nodes -o json`` by GPU product and GPU count into pools."""
    doc = json.loads(data) if isinstance(data, str) else data
    groups: Counter[tuple[str, int, str]] = Counter()
    for node in doc.get("items", []):
        labels = node.get("metadata", {}).get("labels", {})
        capacity = node.get("status", {}).get("capacity", {})
        count = int(capacity.get(resource, 0) or 0)
        if count == 0:
            continue
        product = labels.get(PRODUCT_LABEL)
        if not product:
            raise LlmstackError(f"node {node.get('metadata', {}).get('name')!r} has {count} {resource} but no "
                                f"{PRODUCT_LABEL} label", hint="install GPU feature discovery (the GPU operator)")
        groups[(product, count, labels.get(INSTANCE_LABEL, ""))] += 1
    pools = []
    for (product, count, instance), nodes in sorted(groups.items()):
        selector = {PRODUCT_LABEL: product}
        if instance:
            selector[INSTANCE_LABEL] = instance
        pools.append(FoundPool(accelerator=catalog_name(product), product=product, gpus_per_node=count, nodes=nodes,
                               node_selector=selector))
    return pools


def starter_spec(pools: list[FoundPool], name: str = "starter") -> dict[str, Any]:
    """A stack spec (as data) with one pool per hardware group; costs are left at 0 for the user to fill."""
    if not pools:
        raise LlmstackError("no GPUs found to build a starter spec from")
    spec_pools: list[dict[str, Any]] = []
    for i, found in enumerate(pools):
        pool_name = re.sub(r"[^a-z0-9-]", "-", found.accelerator.lower()).strip("-")
        if any(p["name"] == pool_name for p in spec_pools):
            pool_name = f"{pool_name}-{i}"
        spec_pools.append({
            "name": pool_name, "accelerator": found.accelerator, "gpus_per_node": found.gpus_per_node,
            "nodes": {"min": 0 if found.nodes > 1 else 1, "max": found.nodes}, "cost_per_gpu_hour": 0.0,
            **({"node_selector": dict(found.node_selector)} if found.node_selector else {}),
        })
    first = spec_pools[0]
    return {
        "name": name,
        "pools": spec_pools,
        "models": [{
            "name": "llama-3-1-8b", "architecture": "Llama-3.1-8B",
            "variants": [
                {"name": "bf16", "weights": "meta-llama/Llama-3.1-8B-Instruct"},
                {"name": "awq", "weights": "hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4",
                 "quantization": "awq", "quality": 0.97},
            ],
        }],
        "deployments": [{
            "name": "chat", "model": "llama-3-1-8b", "variant": "awq", "pool": first["name"],
            "replicas": {"min": 1, "max": max(1, pools[0].gpus_per_node * pools[0].nodes), "initial": 1},
            "engine": {"max_model_len": 8192},
        }],
        "routers": [{"name": "gateway", "routes": [{"model": "llama-3.1-8b", "backends": {"chat": 100}}]}],
    }
