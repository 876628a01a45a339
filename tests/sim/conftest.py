"""Shared fixtures of the simulator tests: the example stack's chat deployment profile."""

from __future__ import annotations

import pytest

from llmstack.capacity import throughput
from llmstack.capacity.throughput import EngineProfile
from llmstack.spec.models import StackSpec
from llmstack.spec.resolving import resolve


@pytest.fixture
def chat_profile(example_stack: StackSpec) -> EngineProfile:
    return throughput.profile(resolve(example_stack, example_stack.deployment("chat")))
