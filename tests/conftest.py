"""Shared fixtures: the example spec, small inline stacks, and the real vLLM engines of the engine tier.

Real engines (issue 13) are started once per session and shared by every directory that uses them
(tests/engine/, tests/contract/). Every test that uses an engine fixture carries the ``engine`` marker.
Without an engine (no ``.venv-engine`` or ``LLMSTACK_ENGINE_PYTHON``) the tier is skipped with the reason,
except in CI (``CI=true``), where a missing engine is a failure: ``.ci/run`` installs it with
``scripts/bootstrap.sh --engine``. Engine start-ups are the tier's cost (tens of seconds and about 3 GB each
on 2 cores), so one session starts two engines together (:func:`vllm_engines`: ``tiny-a`` and ``tiny-b``)
and every test shares them; only the scaling test starts one more. While working on the tier, start two
engines once (served names ``tiny-a`` and ``tiny-b``) and set ``LLMSTACK_TEST_ENGINE_PORTS=PA,PB``: the
session then uses them and leaves them running.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmstack.engine import launcher, tiny_model
from llmstack.engine.launcher import EngineConfig, VllmEngine
from llmstack.spec.loading import load_spec
from llmstack.spec.models import StackSpec

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_SPEC = ROOT / "examples" / "stack.yaml"


@pytest.fixture
def example_stack() -> StackSpec:
    return load_spec(EXAMPLE_SPEC)


def make_stack(**deployment: object) -> StackSpec:
    """A one-pool, one-model stack with a single deployment; keyword arguments override it."""
    base: dict[str, object] = {
        "name": "chat", "model": "m", "variant": "bf16", "pool": "gpu", "tensor_parallel": 1,
    }
    pool = deployment.pop("pool_spec", {"name": "gpu", "accelerator": "H100-SXM-80GB", "gpus_per_node": 8,
                                         "cost_per_gpu_hour": 2.5})
    model = deployment.pop("model_spec", {
        "name": "m", "architecture": "Llama-3.1-8B",
        "variants": [{"name": "bf16", "weights": "meta-llama/Llama-3.1-8B-Instruct"}],
    })
    base.update(deployment)
    return StackSpec.model_validate({"name": "t", "pools": [pool], "models": [model], "deployments": [base]})


SERVED = ("tiny-a", "tiny-b")
REUSE_ENV = "LLMSTACK_TEST_ENGINE_PORTS"


ENGINE_FIXTURES = frozenset({"vllm_engines", "vllm_engine", "engine_python"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if ENGINE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.engine)


def require_engine() -> None:
    """Skip (fail under CI=true) when no engine can start here."""
    reason = launcher.missing_engine()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and the real vLLM engine is missing: {reason}", pytrace=False)
    pytest.skip(f"real vLLM engine not installed: {reason}")


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    return tiny_model.ensure_tiny_model()


@pytest.fixture(scope="session")
def engine_python() -> Path:
    require_engine()
    return launcher.engine_python()


@pytest.fixture(scope="session")
def vllm_engines(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[VllmEngine]]:
    """Two real engines, serving ``tiny-a`` and ``tiny-b``, started together and shared by the session."""
    require_engine()
    configs = [EngineConfig(tiny_model_dir, served_model_names=(name,)) for name in SERVED]
    if os.environ.get(REUSE_ENV):
        ports = [int(p) for p in os.environ[REUSE_ENV].split(",")]
        yield [VllmEngine(c, Path(os.devnull), port=p) for c, p in zip(configs, ports, strict=True)]
        return
    engines = launcher.start_engines(configs, tmp_path_factory.mktemp("vllm"))
    try:
        yield engines
    finally:
        for engine in engines:
            engine.stop()


@pytest.fixture(scope="session")
def vllm_engine(vllm_engines: list[VllmEngine]) -> VllmEngine:
    """The session's first engine (``tiny-a``)."""
    return vllm_engines[0]


def engine_stack(*, max_replicas: int = 2) -> StackSpec:
    """The engine tier's stack: ``alpha`` serves ``tiny-a``, ``beta`` ``tiny-b``; ``gamma`` (``tiny-c``) has no
    running engine. The pool and architecture only feed the capacity model; the engines are the tiny model."""
    deployment = {"model": "tiny", "variant": "awq", "pool": "cpu", "slo": {"ttft_p95_ms": 1000},
                  "engine": {"max_model_len": 1024, "max_num_seqs": 8}}
    return StackSpec.model_validate({
        "name": "engine-tier",
        "pools": [{"name": "cpu", "accelerator": "L4", "gpus_per_node": 1, "cost_per_gpu_hour": 0.45}],
        "models": [{"name": "tiny", "architecture": "Llama-3.1-8B", "variants": [
            {"name": "awq", "weights": "hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4", "quantization": "awq"}]}],
        "deployments": [{**deployment, "name": name, "replicas": {"min": 1, "max": max_replicas, "initial": 1}}
                        for name in ("alpha", "beta", "gamma")],
        "routers": [{"name": "gw", "strategy": "least_request", "routes": [
            {"model": "tiny-a", "backends": {"alpha": 100}}, {"model": "tiny-b", "backends": {"beta": 100}},
            {"model": "tiny-c", "backends": {"gamma": 100}}]}],
        "monitoring": {"scrape_interval": "1s", "evaluation_interval": "1s", "dcgm_exporter": False},
    })
