"""One naming scheme for the Pulumi resources of both targets, so URNs never collide.

Every resource and child component under an ``LlmStack`` (Kubernetes) or ``DockerLlmStack``
is named ``<the stack component's name>-<local name>``: two stacks in one program differ in
every URN. The local name is what already tells the object apart inside its stack: a
Kubernetes object's ``metadata.name`` (namespace-local), a Docker object's name without its
``<spec name>-`` prefix, a child component's deployment, router or job name.

Stacks deployed before this scheme named their children by the object's own name; each
child carries that name as an ``alias``, so ``pulumi up`` on an existing stack renames state
instead of replacing the objects (a Pulumi URN holds the parent's type chain, not its name,
so an alias with only the old name reproduces the old URN).
"""

from __future__ import annotations

import pulumi


def child(component: str, local: str) -> str:
    """Logical name of a resource that belongs to the stack component ``component``."""
    return f"{component}-{local}"


def aliases(previous: str, name: str) -> list[pulumi.Input[str | pulumi.Alias]]:
    """The alias that keeps a stack created under the ``previous`` name (none when unchanged)."""
    return [] if previous == name else [pulumi.Alias(name=previous)]


def options(previous: str, name: str, parent: pulumi.Resource,
            opts: pulumi.ResourceOptions | None = None) -> pulumi.ResourceOptions:
    """``opts`` with ``parent`` and the alias from ``previous``; the parent's provider, protect and
    transformations reach the child through ``parent`` (Pulumi inherits them)."""
    own = pulumi.ResourceOptions(parent=parent, aliases=aliases(previous, name))
    return pulumi.ResourceOptions.merge(own, opts)
