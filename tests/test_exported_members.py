"""``llmstack``'s public names: sorted, the library's own documented objects, and enough to load a spec."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

import llmstack
from tests.conftest import EXAMPLE_SPEC


def test_all_sorted_and_each_name_is_a_documented_llmstack_object() -> None:
    assert list(llmstack.__all__) == sorted(llmstack.__all__)
    for name in llmstack.__all__:
        obj = getattr(llmstack, name)
        assert inspect.isclass(obj) or inspect.isfunction(obj), f"{name} is {type(obj).__name__}"
        assert obj.__name__ == name and obj.__module__.startswith("llmstack."), f"{name} is {obj!r}"
        assert inspect.getdoc(obj), f"{name} has no docstring"


def test_public_names_load_a_spec_and_refuse_a_bad_one(tmp_path: Path) -> None:
    stack = llmstack.load_spec(EXAMPLE_SPEC)
    assert isinstance(stack, llmstack.StackSpec)
    assert all(isinstance(p, llmstack.PoolSpec) for p in stack.pools)
    assert all(isinstance(m, llmstack.ModelSpec) and all(isinstance(v, llmstack.VariantSpec) for v in m.variants)
               for m in stack.models)
    assert {d.name for d in stack.deployments} == {"chat", "reasoning"}
    assert all(isinstance(d, llmstack.DeploymentSpec) for d in stack.deployments)
    assert all(isinstance(r, llmstack.RouterSpec) for r in stack.routers)
    broken = tmp_path / "stack.yaml"
    broken.write_text(EXAMPLE_SPEC.read_text().replace("gpus_per_node:", "gpus_per_nod:", 1))
    with pytest.raises(llmstack.LlmstackError, match="gpus_per_nod"):
        llmstack.load_spec(broken)
