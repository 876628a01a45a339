"""One candidate generator: the policy never proposes a shape the planner rejects.

The planner (``capacity.planning``) evaluates :func:`planning.shapes`; the policy's vertical and
variant options must be among them, and the planner must accept each as a shape (no validity
problem, the SLO met at low load: ``replicas_needed`` set; it may still say the pool is too small
for the declared demand, a sizing matter, not a shape one). Checked over every example and
benchmark spec and, with hypothesis, over stacks built from the catalog's accelerators.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmstack.capacity import planning
from llmstack.catalog.accelerators import all_accelerators
from llmstack.policy.deciding import variant_options, vertical_options
from llmstack.policy.predicting import CapacityView
from llmstack.spec.loading import load_spec
from llmstack.spec.models import DeploymentSpec, StackSpec
from llmstack.spec.scaling import Setting, Shape, settings_of
from tests.conftest import EXAMPLE_SPEC, ROOT

SPECS = [EXAMPLE_SPEC, ROOT / "examples" / "docker-stack.yaml", *sorted((ROOT / "benchmarks" / "specs").glob("*.yaml")),
         ROOT / "benchmarks" / "scenarios" / "stacks.yaml"]
WITH_OPTIONS = {"stack.yaml", "docker-stack.yaml", "stacks.yaml"}
"""The specs with more than one pool or variant to move between (the others have none to offer)."""
GPU_ACCELERATORS = sorted(n for n in all_accelerators() if not n.startswith(("TPU", "Gaudi")))


def planner_accepts(stack: StackSpec, d: DeploymentSpec, option: Setting) -> bool:
    resolved = planning.resolve(stack, d, pool=option.pool, variant=option.variant,
                                tensor_parallel=option.tensor_parallel)
    return planning.evaluate(stack, resolved, d.workload, declared=False).replicas_needed is not None


def check_deployment(stack: StackSpec, d: DeploymentSpec) -> int:
    """Every option the policy offers from every shape the planner generates; how many were offered."""
    generated = list(planning.shapes(stack, d))
    view = CapacityView(stack)
    accepted: dict[Shape, bool] = {}
    offered = 0
    for shape in generated:
        cur = Setting(1, shape.variant, shape.pool, shape.tensor_parallel)
        if not view.fits(d, cur):
            continue  # the policy never is in a shape that cannot run
        settings = settings_of(stack) | {d.name: cur}
        options = vertical_options(stack, d, cur, settings, view, min_kv_gain=1.0) + variant_options(stack, d, cur,
                                                                                                     view)
        for option in options:
            assert option.shape in generated, f"{d.name}: {cur.shape.label} -> {option.shape.label} not generated"
            if option.shape not in accepted:
                accepted[option.shape] = planner_accepts(stack, d, option)
            assert accepted[option.shape], f"{d.name}: planner rejects {option.shape.label}"
            offered += 1
    return offered


@pytest.mark.parametrize("path", SPECS, ids=lambda p: Path(p).name)
def test_policy_offers_only_planner_shapes_on_the_shipped_specs(path: Path) -> None:
    stack = load_spec(path)
    offered = sum(check_deployment(stack, d) for d in stack.deployments)
    assert (offered > 0) == (Path(path).name in WITH_OPTIONS)  # the check saw real options where there are some


def test_no_tp_across_one_gpu_nodes_nor_over_a_node() -> None:
    """The two defects of the old generator: TP 2+ on 1-GPU L4 nodes, TP 16 on 8-GPU H100 nodes."""
    stack = load_spec(EXAMPLE_SPEC)
    view = CapacityView(stack)
    for name in ("chat", "reasoning"):
        d = stack.deployment(name)
        cur = settings_of(stack)[name]
        options = vertical_options(stack, d, cur, settings_of(stack), view, min_kv_gain=1.0)
        assert options
        assert all(o.tensor_parallel <= stack.pool(o.pool).gpus_per_node for o in options), options


@st.composite
def catalog_stacks(draw: st.DrawFn) -> StackSpec:
    """One to three pools of catalog GPUs, the example stack's models, one deployment on the first pool."""
    pools = [{"name": f"p{i}", "accelerator": draw(st.sampled_from(GPU_ACCELERATORS)),
              "gpus_per_node": draw(st.sampled_from([1, 2, 4, 8])),
              "nodes": {"min": 0, "max": draw(st.integers(1, 4))},
              "cost_per_gpu_hour": draw(st.sampled_from([0.5, 2.5]))}
             for i in range(draw(st.integers(1, 3)))]
    example = load_spec(EXAMPLE_SPEC)
    model = draw(st.sampled_from(example.models))
    deployment = example.deployments[0].model_dump(exclude_none=True) | {
        "name": "d", "model": model.name, "variant": draw(st.sampled_from([v.name for v in model.variants])),
        "pool": "p0", "tensor_parallel": draw(st.sampled_from(planning.TP_CHOICES)),
        "quality_floor": draw(st.sampled_from([0.0, 0.9])),
        "replicas": {"min": 1, "max": 4, "initial": 1},
    }
    return StackSpec.model_validate({"name": "h", "pools": pools, "models": [model.model_dump(exclude_none=True)],
                                     "deployments": [deployment]})


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(catalog_stacks())
def test_policy_offers_only_planner_shapes_on_catalog_pools(stack: StackSpec) -> None:
    check_deployment(stack, stack.deployments[0])
