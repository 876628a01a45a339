"""Object names: DNS-1123/1035 labels, stable across runs, safe in Pulumi URNs.

Spec names are already DNS-1123 labels of at most 40 characters (``spec.models.Name``);
Kubernetes Services additionally need DNS-1035 (start with a letter), and label values
built from two names must stay within 63 characters. :func:`check_names` rejects what
cannot be fixed without renaming the user's objects; :func:`dns_name` normalises
derived names (it lowercases, replaces invalid characters and shortens with a stable hash).
"""

from __future__ import annotations

import hashlib
import re

from llmstack.errors import LlmstackError
from llmstack.spec.models import StackSpec

MAX_LABEL = 63
DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_INVALID = re.compile(r"[^a-z0-9-]+")

ENGINE_SUFFIX = "vllm"
HEADLESS_SUFFIX = "vllm-pods"
ROUTER_SUFFIX = "router"


def dns_name(*parts: str) -> str:
    """Join ``parts`` into one DNS-1035 label; longer than 63 characters: cut and add a stable hash."""
    joined = "-".join(p for p in parts if p)
    name = _INVALID.sub("-", joined.lower()).strip("-")
    name = re.sub(r"-{2,}", "-", name)
    if not name or not name[0].isalpha():
        name = f"x-{name}".rstrip("-")
    if len(name) > MAX_LABEL:
        digest = hashlib.sha256(joined.encode()).hexdigest()[:8]
        name = f"{name[:MAX_LABEL - 9].rstrip('-')}-{digest}"
    return name


def engine(deployment: str) -> str:
    """Deployment / LeaderWorkerSet / ClusterIP Service of one model deployment."""
    return dns_name(deployment, ENGINE_SUFFIX)


def headless(deployment: str) -> str:
    """Headless Service the router resolves to find every ready engine pod."""
    return dns_name(deployment, HEADLESS_SUFFIX)


def router(name: str) -> str:
    return dns_name(name, ROUTER_SUFFIX)


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
