"""TPU and Gaudi pools in both renders, and the validity rules of their vLLM backends.

Design note: the stacks are the one-deployment stacks of tests/conftest.py on a catalog TPU
(v6e, 4 chips per node: the 2x2 single-host slice) or Gaudi 3 pool; what is checked is what
GKE and the Gaudi runtime need: the device resource (``google.com/tpu``, ``habana.ai/gaudi``),
the TPU node selectors, the backend's vLLM image, and on Docker the runtime / privileged
access with the device ids in the backend's visibility variable instead of NVIDIA requests.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from llmstack.artifacts import images
from llmstack.errors import LlmstackError
from llmstack.spec.models import StackSpec
from llmstack.targets.docker import rendering as docker_rendering
from llmstack.targets.kubernetes import objects
from tests.conftest import make_stack

TPU_POOL = {"name": "gpu", "accelerator": "TPU-v6e", "gpus_per_node": 4, "cost_per_gpu_hour": 2.7}
GAUDI_POOL = {"name": "gpu", "accelerator": "Gaudi3", "gpus_per_node": 8, "nodes": {"min": 1, "max": 1},
              "cost_per_gpu_hour": 1.5}


def _engine_pod(stack: StackSpec) -> dict[str, Any]:
    built = objects.build(stack)
    deployment = next(o for o in built.deployments["chat"] if o["kind"] == "Deployment")
    return dict(deployment["spec"]["template"]["spec"])


def test_tpu_pool_renders_gke_tpu_resource_selectors_and_image() -> None:
    pod = _engine_pod(make_stack(pool_spec=TPU_POOL, tensor_parallel=4))
    container = pod["containers"][0]
    assert container["resources"]["limits"]["google.com/tpu"] == "4"
    assert "nvidia.com/gpu" not in container["resources"]["limits"]
    assert pod["nodeSelector"] == {"cloud.google.com/gke-tpu-accelerator": "tpu-v6e-slice",
                                   "cloud.google.com/gke-tpu-topology": "2x2"}
    assert container["image"] == images.VLLM_TPU_IMAGE


def test_pool_node_selector_and_device_resource_override_the_platform() -> None:
    pool = {**TPU_POOL, "node_selector": {"cloud.google.com/gke-tpu-topology": "2x4"}, "device_resource": "x.io/tpu"}
    pod = _engine_pod(make_stack(pool_spec=pool, tensor_parallel=4))
    assert pod["nodeSelector"]["cloud.google.com/gke-tpu-topology"] == "2x4"
    assert pod["containers"][0]["resources"]["limits"]["x.io/tpu"] == "4"


@pytest.mark.parametrize("variant, message", [
    pytest.param({"quantization": "awq_marlin"}, "not supported by vLLM's tpu backend on TPU-v6e; it runs w8a8-int8",
                 id="awq-on-tpu"),
    pytest.param({"quantization": "compressed-tensors", "quantization_scheme": "w8a8-fp8"}, "tpu backend",
                 id="fp8-on-tpu"),
])
def test_tpu_refuses_quantization_its_backend_lacks(variant: dict[str, object], message: str) -> None:
    stack = make_stack(pool_spec=TPU_POOL, variant="q", model_spec={
        "name": "m", "architecture": "Llama-3.1-8B", "variants": [{"name": "q", "weights": "org/q", **variant}]})
    with pytest.raises(LlmstackError, match=message):
        objects.build(stack)


def test_tpu_accepts_int8_w8a8() -> None:
    stack = make_stack(pool_spec=TPU_POOL, variant="q", model_spec={
        "name": "m", "architecture": "Llama-3.1-8B", "variants": [
            {"name": "q", "weights": "org/q", "quantization": "compressed-tensors",
             "quantization_scheme": "w8a8-int8"}]})
    assert objects.build(stack).deployments["chat"]


def test_gaudi_refuses_pipeline_parallel_and_unsupported_tp() -> None:
    with pytest.raises(LlmstackError, match=r"hpu backend on Gaudi3 runs TP 1/2/4/8 without pipeline parallelism"):
        objects.build(make_stack(pool_spec=GAUDI_POOL, tensor_parallel=2, pipeline_parallel=2))


def test_gaudi_pool_on_docker_uses_the_habana_runtime_and_visible_devices() -> None:
    files = docker_rendering.render(make_stack(pool_spec=GAUDI_POOL, tensor_parallel=2))
    compose = yaml.safe_load(files["compose.yaml"])
    engine = next(s for name, s in compose["services"].items() if name.endswith("chat-0"))
    assert engine["runtime"] == "habana"
    assert engine["environment"]["HABANA_VISIBLE_DEVICES"] == "0,1"
    assert "deploy" not in engine  # no NVIDIA device reservations
    assert engine["image"] == images.VLLM_GAUDI_IMAGE
    assert engine["cap_add"] == ["SYS_NICE"]


def test_gaudi_pool_requests_habana_devices_on_kubernetes() -> None:
    pod = _engine_pod(make_stack(pool_spec={**GAUDI_POOL, "nodes": {"min": 1, "max": 2}}, tensor_parallel=8))
    assert pod["containers"][0]["resources"]["limits"]["habana.ai/gaudi"] == "8"


def test_tpu_pool_on_docker_is_privileged_with_the_vfio_devices() -> None:
    pool = {**TPU_POOL, "nodes": {"min": 1, "max": 1}}
    compose = yaml.safe_load(docker_rendering.render(make_stack(pool_spec=pool, tensor_parallel=4))["compose.yaml"])
    engine = next(s for name, s in compose["services"].items() if name.endswith("chat-0"))
    assert engine["privileged"] is True and engine["devices"] == ["/dev/vfio:/dev/vfio"]
    assert engine["environment"]["TPU_VISIBLE_CHIPS"] == "0,1,2,3"
