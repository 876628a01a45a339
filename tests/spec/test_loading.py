"""Loading specs from YAML: valid input round-trips, bad input names the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmstack.errors import LlmstackError
from llmstack.spec.loading import load_spec, parse_spec
from tests.conftest import EXAMPLE_SPEC

GOOD = """
name: demo
pools: [{name: l4, accelerator: L4, gpus_per_node: 1, cost_per_gpu_hour: 0.5}]
models: [{name: m, architecture: Llama-3.1-8B, variants: [{name: bf16, weights: meta-llama/Llama-3.1-8B}]}]
deployments: [{name: chat, model: m, variant: bf16, pool: l4}]
"""


def test_example_spec_loads_with_two_pools_and_variants() -> None:
    stack = load_spec(EXAMPLE_SPEC)
    assert len(stack.pools) >= 2
    kinds = {v.effective_kind for m in stack.models for v in m.variants}
    assert {"base", "quantized", "distilled"} <= kinds
    assert any(d.tensor_parallel * d.pipeline_parallel > 1 for d in stack.deployments)


def test_spec_constructible_in_python_equals_yaml() -> None:
    from_yaml = parse_spec(GOOD)
    assert from_yaml.deployment("chat").pool == "l4"
    again = type(from_yaml).model_validate(from_yaml.model_dump(by_alias=True))
    assert again == from_yaml


@pytest.mark.parametrize(
    ("patch", "path", "words"),
    [
        pytest.param(("pool: l4}", "pool: l4, tensor_parallel: 0}"), "deployments[chat].tensor_parallel",
                     "greater than or equal to 1", id="tp-zero"),
        pytest.param(("cost_per_gpu_hour: 0.5}", "cost_per_gpu_hour: 0.5, colour: red}"), "pools[l4].colour",
                     "unknown field", id="extra-field"),
        pytest.param(("weights: meta-llama/Llama-3.1-8B}", "weights: x, quantization: bnb}"),
                     "models[m].variants[bf16].quantization", "'bnb' is not allowed", id="bad-quant"),
        pytest.param(("variant: bf16, pool", "variant: awq, pool"), "deployments[chat].variant",
                     "has no variant 'awq'", id="unknown-variant"),
        pytest.param(("pool: l4}", "pool: a100}"), "deployments[chat].pool", "unknown pool 'a100'",
                     id="unknown-pool"),
    ],
)
def test_bad_spec_error_names_field_path(patch: tuple[str, str], path: str, words: str) -> None:
    text = GOOD.replace(*patch)
    assert text != GOOD
    with pytest.raises(LlmstackError) as info:
        parse_spec(text)
    assert info.value.path == path
    assert words in info.value.message


def test_yaml_syntax_error_gives_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: demo\npools: [a\n  b: c\n")
    with pytest.raises(LlmstackError) as info:
        load_spec(bad)
    assert info.value.file is not None and info.value.file.startswith(f"{bad}:3:")
    assert "YAML syntax error" in info.value.message


def test_missing_spec_file_is_clear(tmp_path: Path) -> None:
    with pytest.raises(LlmstackError, match="does not exist"):
        load_spec(tmp_path / "missing.yaml")


def test_route_weights_summing_to_zero_rejected() -> None:
    text = GOOD + "routers: [{name: gw, routes: [{model: m, backends: {chat: 0}}]}]\n"
    with pytest.raises(LlmstackError, match="sum to zero"):
        parse_spec(text)


def test_route_to_unknown_deployment_rejected() -> None:
    text = GOOD + "routers: [{name: gw, routes: [{model: m, backends: {nope: 1}}]}]\n"
    with pytest.raises(LlmstackError) as info:
        parse_spec(text)
    assert info.value.path == "routers[gw].routes[m].backends"
    assert "unknown deployment 'nope'" in info.value.message


@pytest.mark.parametrize("name", ["Chat", "chat_1", "a" * 41, "-chat"])
def test_non_dns_names_rejected(name: str) -> None:
    with pytest.raises(LlmstackError) as info:
        parse_spec(GOOD.replace("name: chat", f"name: '{name}'"))
    assert info.value.path == f"deployments[{name}].name"


def test_strings_with_newlines_cannot_reach_configs() -> None:
    with pytest.raises(LlmstackError) as info:
        parse_spec(GOOD.replace("weights: meta-llama/Llama-3.1-8B", 'weights: "a\\nbind :80"'))
    assert info.value.path == "models[m].variants[bf16].weights"


@pytest.mark.parametrize(
    ("replicas", "path", "words"),
    [
        pytest.param("{min: 1, max: 2, idle_window: 5m}", "deployments[chat].replicas",
                     "replicas.idle_window applies only with replicas.min: 0 (min is 1)", id="idle-window-min-1"),
        pytest.param("{min: 0, max: 2, idle_window: 10s}", "deployments[chat].replicas",
                     "replicas.idle_window 10 s is outside 60..86400 s", id="idle-window-short"),
        pytest.param("{min: 0, max: 2, idle_window: soon}", "deployments[chat].replicas.idle_window",
                     "'soon' is not a duration", id="idle-window-not-duration"),
        pytest.param("{min: 0, max: 2, hold_timeout: 2h}", "deployments[chat].replicas",
                     "replicas.hold_timeout 7200 s is outside 10..3600 s", id="hold-timeout-long"),
        pytest.param("{min: 0, max: 2, hold_timeout: -5}", "deployments[chat].replicas.hold_timeout",
                     "cannot be negative", id="hold-timeout-negative"),
    ],
)
def test_scale_to_zero_fields_rejected_with_one_clear_line(replicas: str, path: str, words: str) -> None:
    text = GOOD.replace("pool: l4}", f"pool: l4, replicas: {replicas}}}")
    with pytest.raises(LlmstackError) as info:
        parse_spec(text)
    assert info.value.path == path
    assert words in info.value.message
    assert "\n" not in str(info.value)


def test_scale_to_zero_fields_read_as_seconds() -> None:
    stack = parse_spec(GOOD.replace("pool: l4}", "pool: l4, replicas: {min: 0, max: 3, idle_window: 10m, "
                                                 "hold_timeout: 4m}}"))
    replicas = stack.deployment("chat").replicas
    assert replicas.idle_window_s == 600.0 and replicas.hold_timeout == 240.0
    assert parse_spec(GOOD.replace("pool: l4}", "pool: l4, replicas: {min: 0, max: 3}}")) \
        .deployment("chat").replicas.idle_window_s == 300.0
