"""The contract suite runs every test against each target: the stand-in (alone and behind the router) and the
real engine (engine tier)."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from tests.contract.targets import Target, behind_router, real_engine, standin


@pytest.fixture(scope="module", params=["stand-in", pytest.param("router", marks=pytest.mark.slow),
                                        pytest.param("vllm", marks=pytest.mark.engine)])
def target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    if request.param == "stand-in":
        with standin() as served:
            yield served
    elif request.param == "router":
        with behind_router(tmp_path_factory.mktemp("router")) as routed:
            yield routed
    else:
        yield real_engine(request)


@pytest.fixture
def client(target: Target) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{target.base_url}/v1", api_key="unused", max_retries=0, timeout=120) as c:
        yield c
