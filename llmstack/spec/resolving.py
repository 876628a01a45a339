"""Resolve a deployment's names into the facts the capacity model needs.

Inline definitions in the stack (``accelerators:``, ``architectures:``, or an
object in place of a name) win over the shipped catalog.
"""

from __future__ import annotations

from dataclasses import dataclass

from llmstack.catalog import accelerators, architectures
from llmstack.catalog.entries import AcceleratorSpec, ArchitectureSpec
from llmstack.errors import LlmstackError
from llmstack.spec.models import (
    DeploymentSpec,
    ModelSpec,
    PoolSpec,
    StackSpec,
    VariantSpec,
)


@dataclass(frozen=True)
class ResolvedDeployment:
    """A deployment with its pool, model, variant, accelerator and architecture looked up."""

    deployment: DeploymentSpec
    pool: PoolSpec
    model: ModelSpec
    variant: VariantSpec
    accelerator: AcceleratorSpec
    architecture: ArchitectureSpec


def accelerator(stack: StackSpec, pool: PoolSpec) -> AcceleratorSpec:
    if isinstance(pool.accelerator, AcceleratorSpec):
        return pool.accelerator
    for inline in stack.accelerators:
        if inline.name == pool.accelerator:
            return inline
    return accelerators.get(pool.accelerator, path=f"pools[{pool.name}].accelerator")


def architecture(stack: StackSpec, model: ModelSpec, variant: VariantSpec | None = None) -> ArchitectureSpec:
    ref = variant.architecture if variant is not None and variant.architecture is not None else model.architecture
    path = (
        f"models[{model.name}].variants[{variant.name}].architecture"
        if variant is not None and variant.architecture is not None
        else f"models[{model.name}].architecture"
    )
    if isinstance(ref, ArchitectureSpec):
        return ref
    for inline in stack.architectures:
        if inline.name == ref:
            return inline
    return architectures.get(ref, path=path)


def resolve(
    stack: StackSpec,
    deployment: DeploymentSpec,
    *,
    pool: str | None = None,
    variant: str | None = None,
    tensor_parallel: int | None = None,
) -> ResolvedDeployment:
    """Resolve ``deployment``, optionally with a different pool, variant or TP (what-if)."""
    changes: dict[str, object] = {}
    if pool is not None:
        changes["pool"] = pool
    if variant is not None:
        changes["variant"] = variant
    if tensor_parallel is not None:
        changes["tensor_parallel"] = tensor_parallel
    if changes:
        deployment = deployment.model_copy(update=changes)
    pool_spec = stack.pool(deployment.pool)
    model_spec = stack.model(deployment.model)
    try:
        variant_spec = model_spec.variant(deployment.variant)
    except KeyError:
        raise LlmstackError(
            f"model {model_spec.name!r} has no variant {deployment.variant!r}",
            path=f"deployments[{deployment.name}].variant",
            hint=f"variants are {[v.name for v in model_spec.variants]}",
        ) from None
    return ResolvedDeployment(
        deployment=deployment,
        pool=pool_spec,
        model=model_spec,
        variant=variant_spec,
        accelerator=accelerator(stack, pool_spec),
        architecture=architecture(stack, model_spec, variant_spec),
    )
