"""Object names: DNS-1123/1035 labels, stable across runs, safe in Pulumi URNs.

Spec names are already DNS-1123 labels of at most 40 characters (``spec.models.Name``);
Kubernetes Services additionally need DNS-1035 (start with a letter), and label values
built from two names must stay within 63 characters. :func:`check_names` rejects what
cannot be fixed without renaming the user's objects; :func:`dns_name` normalises
derived names (it lowercases, replaces invalid characters and shortens with a stable hash);
the names themselves are spelled in :mod:`llmstack.artifacts.addressing`.
"""

from __future__ import annotations

import re

from llmstack.artifacts.addressing import MAX_LABEL, dns_name, engine, headless, picker, pool, router
from llmstack.errors import LlmstackError
from llmstack.spec.models import StackSpec

__all__ = ["DNS_1035", "MAX_LABEL", "check_names", "dns_name", "engine", "headless", "picker", "pool", "router"]

DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def check_names(stack: StackSpec) -> None:
    """Reject names that would make an invalid Service name or label value, with the rule."""
    rule = "Kubernetes Service names are DNS-1035 labels: start with a lowercase letter, then letters, digits, '-'"
    for kind, names in (("deployments", [d.name for d in stack.deployments]),
                        ("routers", [r.name for r in stack.routers])):
        for name in names:
            if not DNS_1035.match(name):
                raise LlmstackError(f"{name!r} is not a DNS-1035 label", path=f"{kind}[{name}].name", hint=rule)
    for kind, names in (("deployments", [d.name for d in stack.deployments]),
                        ("routers", [r.name for r in stack.routers])):
        for name in names:
            instance = f"{stack.name}-{name}"
            if len(instance) > MAX_LABEL:
                raise LlmstackError(
                    f"label app.kubernetes.io/instance={instance!r} is {len(instance)} characters; "
                    f"label values are at most {MAX_LABEL}",
                    path=f"{kind}[{name}].name",
                    hint=f"shorten the stack name or this name to {MAX_LABEL} characters together (plus one '-')",
                )
