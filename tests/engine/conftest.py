"""Real vLLM engines for the engine tier, started once per session and shared.

Every test that uses an engine fixture carries the ``engine`` marker. Without an engine (no ``.venv-engine`` or
``LLMSTACK_ENGINE_PYTHON``) the tier is skipped with the reason, except in CI (``CI=true``),
where a missing engine is a failure: ``.ci/run`` installs it with ``scripts/bootstrap.sh --engine``.

Engine start-ups are the tier's cost (tens of seconds and about 3 GB each on 2 cores), so one
session starts two engines together (:func:`vllm_engines`: ``tiny-a`` and ``tiny-b``) and every
test shares them; only the scaling test starts one more.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmstack.engine import launcher, tiny_model
from llmstack.engine.launcher import EngineConfig, VllmEngine

SERVED = ("tiny-a", "tiny-b")


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
