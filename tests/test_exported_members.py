"""The public API: each module's ``__all__`` is sorted, complete and resolvable.

Design note: "complete" means every public class or function a listed module defines (not
imported, not ``_private``) is in its ``__all__``, so a new component cannot ship unexported;
"resolvable" means every listed name is an object defined in llmstack (not None, not a
re-export of a third-party name). ``import llmstack`` must not import pulumi: the components
load on first attribute access.
"""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import llmstack
from tests.conftest import EXAMPLE_SPEC

MODULES = ["llmstack", "llmstack.targets.kubernetes.components", "llmstack.targets.docker.components"]


def _public_definitions(module: ModuleType) -> set[str]:
    return {name for name, obj in vars(module).items()
            if not name.startswith("_") and (inspect.isclass(obj) or inspect.isfunction(obj))
            and obj.__module__ == module.__name__}


@pytest.mark.parametrize("name", MODULES)
def test_all_is_sorted_unique_and_resolves_to_llmstack_objects(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert exported == sorted(exported) and len(set(exported)) == len(exported)
    for member in exported:
        obj = getattr(module, member)
        assert (inspect.isclass(obj) or inspect.isfunction(obj)) and obj.__module__.startswith("llmstack."), member


@pytest.mark.parametrize("name", MODULES[1:])
def test_all_lists_every_public_definition(name: str) -> None:
    module = importlib.import_module(name)
    assert _public_definitions(module) == set(module.__all__)


def test_top_level_exports_the_components_without_importing_pulumi() -> None:
    assert {"LlmStack", "LlmStackArgs", "DockerLlmStack", "DockerLlmStackArgs", "StackSpec"} <= set(llmstack.__all__)
    probe = "import sys, llmstack; print('pulumi' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
    with pytest.raises(AttributeError):
        _ = llmstack.NotAnExport  # type: ignore[attr-defined]


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
