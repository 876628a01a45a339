"""The Kubernetes Pulumi program: checks the stack, then registers an :class:`LlmStack`.

Called by ``infra/__main__.py`` with the parsed stack configuration. Everything the
capacity model can reject is checked before the first resource is registered. Reads
the secret ``llmstack:hfToken`` (set with ``pulumi config set --secret llmstack:hfToken``),
the optional ``llmstack:kubernetes`` options object and the GitOps keys ``llmstack:namespace``,
``llmstack:storageClass``, ``llmstack:modelCache``, ``llmstack:monitorLabels`` (the
``render`` flags of the same names), and ``llmstack:kubeconfig`` /
``llmstack:context`` for an explicit provider (otherwise the ambient kubeconfig).
Exports the router endpoints, replicas per deployment, GPUs in use and cost per hour.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from llmstack.targets import stack_config
from llmstack.targets.kubernetes import crds, objects, options
from llmstack.targets.kubernetes.components import LlmStack, LlmStackArgs


def provider(config: pulumi.Config, namespace: str) -> k8s.Provider | None:
    """An explicit Kubernetes provider when kubeconfig or context is configured (None: ambient)."""
    kubeconfig = config.get("kubeconfig")
    context = config.get("context")
    if kubeconfig is None and context is None:
        return None
    return k8s.Provider("llmstack-k8s", kubeconfig=kubeconfig, context=context, namespace=namespace)


def build(settings: stack_config.StackConfig, config: pulumi.Config,
          crd_lookup: crds.CrdLookup | None = None) -> LlmStack:
    """Check the stack (capacity model, names, pools), then register it and export its summary.

    On ``pulumi preview`` each CRD the objects need and the cluster lacks is a warning
    (``crd_lookup`` None: ``kubectl get crd`` with the configured kubeconfig and context).
    """
    stack = settings.load()
    flat = {key: config.get(key) for key in options.FLAGS}
    opts = options.from_stack_config(config.get_object("kubernetes"), {k: v for k, v in flat.items() if v})
    built = objects.build(stack, opts)  # every check runs here, before any resource exists
    if pulumi.runtime.is_dry_run():
        lookup = crd_lookup or crds.KubectlLookup(config.get("kubeconfig"), config.get("context"))
        crds.warn_missing(built.all(), lookup)
    hf_token = config.get_secret("hfToken")
    k8s_provider = provider(config, opts.namespace)
    resource_opts = pulumi.ResourceOptions(provider=k8s_provider) if k8s_provider is not None else None
    llm = LlmStack(stack.name, LlmStackArgs(stack, built, hf_token), resource_opts)
    pulumi.export("routerEndpoints", llm.router_endpoints)
    pulumi.export("routerEndpoint", next(iter(llm.router_endpoints.values()), None))
    pulumi.export("replicas", llm.replicas)
    pulumi.export("gpusInUse", llm.gpus_in_use)
    pulumi.export("costPerHour", llm.cost_per_hour)
    return llm
