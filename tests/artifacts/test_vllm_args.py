"""`vllm serve` arguments: every generated argument is in the pinned vLLM 0.33.0 list."""

from __future__ import annotations

import pytest

from llmstack.artifacts import drain, images, vllm_args
from llmstack.errors import LlmstackError
from llmstack.spec.models import StackSpec
from tests.conftest import make_stack


def test_every_example_deployment_args_validate_against_pinned_list(example_stack: StackSpec) -> None:
    known = vllm_args.options()
    for deployment in example_stack.deployments:
        args = vllm_args.serve_args(example_stack, deployment.name)
        vllm_args.validate_args(args)
        assert all(a.partition("=")[0] in known or a.startswith("--no-") for a in args if a.startswith("--"))


def test_served_model_names_are_the_routed_names(example_stack: StackSpec) -> None:
    args = vllm_args.serve_args(example_stack, "chat")
    assert args[0] == "hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4"
    assert args[1:3] == ["--served-model-name", "llama-3.1-8b"]


def test_served_model_name_defaults_to_model_without_routes() -> None:
    args = vllm_args.serve_args(make_stack(), "chat")
    assert args[args.index("--served-model-name") + 1] == "m"


def test_engine_fields_become_flags() -> None:
    stack = make_stack(tensor_parallel=2, pipeline_parallel=2,
                       engine={"max_model_len": 4096, "max_num_seqs": 32, "max_num_batched_tokens": 2048,
                               "gpu_memory_utilization": 0.85, "enable_prefix_caching": False})
    args = vllm_args.serve_args(stack, "chat", port=9000, host="127.0.0.1")
    pairs = dict(zip(args[1::2], args[2::2], strict=False))
    assert "--no-enable-prefix-caching" in args
    for flag, value in {"--tensor-parallel-size": "2", "--pipeline-parallel-size": "2", "--max-model-len": "4096",
                        "--max-num-seqs": "32", "--max-num-batched-tokens": "2048",
                        "--gpu-memory-utilization": "0.85", "--port": "9000", "--host": "127.0.0.1"}.items():
        assert args[args.index(flag) + 1] == value, (flag, pairs)


def _quantized(**variant: object) -> list[str]:
    stack = make_stack(variant="q", model_spec={"name": "m", "architecture": "Llama-3.1-8B", "variants": [
        {"name": "q", "weights": "org/q", "kv_cache_dtype": "fp8", **variant}]})
    return vllm_args.serve_args(stack, "chat")


@pytest.mark.parametrize("variant", [
    pytest.param({"quantization": "awq"}, id="awq-left-to-vllm-so-it-picks-marlin"),
    pytest.param({"quantization": "awq_marlin"}, id="awq_marlin"),
    pytest.param({"quantization": "gptq"}, id="gptq"),
    pytest.param({"quantization": "compressed-tensors", "quantization_scheme": "w8a8-fp8"}, id="llm-compressor-fp8"),
    pytest.param({"quantization": "modelopt"}, id="modelopt"),
])
def test_checkpoint_declared_quantization_passes_no_flag(variant: dict[str, object]) -> None:
    args = _quantized(**variant)
    assert "--quantization" not in args
    assert args[args.index("--kv-cache-dtype") + 1] == "fp8"


@pytest.mark.parametrize("method", ["fp8", "experts_int8"])
def test_load_time_quantization_passes_its_flag(method: str) -> None:
    args = _quantized(quantization=method)
    assert args[args.index("--quantization") + 1] == method


def test_extra_args_appended_and_validated() -> None:
    stack = make_stack(engine={"extra_args": ["--enforce-eager", "--seed", "7"]})
    assert vllm_args.serve_args(stack, "chat")[-3:] == ["--enforce-eager", "--seed", "7"]


@pytest.mark.parametrize("extra, message", [
    pytest.param(["--not-a-flag"], "not a `vllm serve` option", id="unknown-option"),
    pytest.param(["--load-format"], "needs a value", id="missing-value"),
    pytest.param(["--distributed-executor-backend", "slurm"], "not a choice", id="bad-choice"),
    pytest.param(["--no-seed"], "not a boolean option", id="negated-non-boolean"),
    pytest.param(["--enforce-eager=true"], "takes no value", id="boolean-with-value"),
    pytest.param(["stray"], "unexpected argument", id="stray-positional"),
    pytest.param(["-tp", "2"], "not a `vllm serve` option", id="short-alias"),
])
def test_bad_extra_args_rejected_naming_deployment(extra: list[str], message: str) -> None:
    stack = make_stack(engine={"extra_args": extra})
    with pytest.raises(LlmstackError, match=message) as info:
        vllm_args.serve_args(stack, "chat")
    assert info.value.path == "deployments[chat].engine.extra_args"


def test_extra_arg_repeating_spec_field_rejected() -> None:
    stack = make_stack(engine={"extra_args": ["--max-model-len", "1024"]})
    with pytest.raises(LlmstackError, match="already set"):
        vllm_args.serve_args(stack, "chat")


def test_validate_args_accepts_list_values_and_inline_form() -> None:
    vllm_args.validate_args(["org/model", "--served-model-name", "a", "b", "--max-model-len=-1", "--dtype", "half"])


def test_vllm_image_matches_the_pinned_serve_args() -> None:
    assert images.VLLM_IMAGE.startswith(f"vllm/vllm-openai:v{images.VLLM_VERSION}")
    assert "4.5.3-4.8.2" in images.DCGM_EXPORTER_IMAGE


def test_shutdown_timeout_is_the_longest_request_in_drain_mode(example_stack: StackSpec) -> None:
    """chat: 1 s TTFT + 8192 tokens x 60 ms = 492.5 s; reasoning: 2 s + 32768 x 50 ms = 1640 s, capped at 600."""
    timeouts = {d.name: vllm_args.serve_args(example_stack, d.name) for d in example_stack.deployments}
    values = {name: args[args.index("--shutdown-timeout") + 1] for name, args in timeouts.items()}
    assert values == {"chat": "493", "reasoning": str(drain.DRAIN_CAP_S)}
    assert "--shutdown-timeout" in vllm_args.options()  # the pinned list knows it (vLLM >= 0.32)


def test_shutdown_timeout_is_reserved_for_the_spec() -> None:
    stack = make_stack(engine={"extra_args": ["--shutdown-timeout", "5"]})
    with pytest.raises(LlmstackError, match="--shutdown-timeout is already set from the deployment spec"):
        vllm_args.serve_args(stack, "chat")
