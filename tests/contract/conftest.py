"""The contract suite runs every test against each target: the stand-in always, the real engine in the engine tier."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from tests.contract.targets import Target, real_engine, standin


@pytest.fixture(scope="module", params=["stand-in", pytest.param("vllm", marks=pytest.mark.engine)])
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    if request.param == "stand-in":
        with standin() as served:
            yield served
    else:
        yield real_engine(request)


@pytest.fixture
def client(target: Target) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{target.base_url}/v1", api_key="unused", max_retries=0, timeout=120) as c:
        yield c
