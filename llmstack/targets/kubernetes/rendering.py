"""``llmstack render --target kubernetes``: every object of the stack as YAML, one file per object.

Layout under the output folder: ``00-namespace/``, ``deployments/<name>/``,
``routers/<name>/``, ``monitoring/``, ``controller/``, ``batch/<name>/``, each file named
``<kind>-<name>.yaml``, plus ``kustomization.yaml`` listing them in apply order, so
``kubectl apply -k DIR`` works, and ``README.md`` naming the CRDs the objects need (installed
before the first apply) and how to apply. Output is deterministic: same spec, byte-identical files.
Secrets are never written: engine pods reference the Secret named in the options
(``llmstack-hf-token``, key ``token``), which the user creates.
"""

from __future__ import annotations

from typing import Any

from llmstack import yaml_text
from llmstack.spec.models import StackSpec
from llmstack.targets.kubernetes import crds, objects
from llmstack.targets.kubernetes.options import KubernetesOptions


def to_yaml(obj: dict[str, Any]) -> str:
    return yaml_text.dump(obj)


def _file(folder: str, obj: dict[str, Any]) -> str:
    return f"{folder}/{obj['kind'].lower()}-{obj['metadata']['name']}.yaml"


def render_objects(built: objects.StackObjects) -> dict[str, str]:
    files: dict[str, str] = {}

    def add(folder: str, items: list[dict[str, Any]]) -> None:
        for obj in items:
            path = _file(folder, obj)
            if path in files:
                raise AssertionError(f"two objects render to {path}")  # names are unique per kind by construction
            files[path] = to_yaml(obj)

    add("00-namespace", built.shared)
    for name in sorted(built.deployments):
        add(f"deployments/{name}", built.deployments[name])
    for name in sorted(built.routers):
        add(f"routers/{name}", built.routers[name])
    add("monitoring", built.monitoring)
    add("controller", built.controller)
    for name in sorted(built.batch_jobs):
        add(f"batch/{name}", built.batch_jobs[name])
    kustomization = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                     "resources": list(files)}
    files["kustomization.yaml"] = to_yaml(kustomization)
    files["README.md"] = readme(built)
    return files


def readme(built: objects.StackObjects) -> str:
    """What the rendered folder needs in the cluster first (CRDs, the HF token Secret) and how to apply it."""
    needed = crds.required(built.all())
    lines = ["# Rendered by llmstack: apply with `kubectl apply -k .`", "",
             "## CustomResourceDefinitions this render needs", ""]
    lines += [f"- `{crd.name}` ({crd.kind}): {crd.source}" for crd in needed] or ["- none"]
    lines += ["", "`pulumi preview` of the same stack warns for each one the cluster lacks.", "",
              "## Before the first apply", "",
              f"- namespace `{built.options.namespace}`" + (" (created by this render)"
                                                           if built.options.create_namespace else ""),
              f"- Secret `{built.options.hf_token_secret}` with key `token` (Hugging Face token, for gated "
              "weights; never rendered)", *controller_notes(built), ""]
    return "\n".join(lines)


def controller_notes(built: objects.StackObjects) -> list[str]:
    """What the in-cluster controller's apply path expects to exist (nothing when it is off)."""
    stack = built.stack
    if stack is None or not stack.controller.enabled:
        return []
    spec = stack.controller
    ns = spec.namespace or built.options.namespace
    notes = []
    if spec.apply == "pulumi-operator":
        operator = spec.pulumi_operator
        notes.append(f"- the Pulumi Kubernetes Operator v2 and its Stack `{operator.stack_object}` (pulumi.com/v1) "
                     f"in namespace `{operator.namespace or ns}`: llmstack-controller patches its "
                     "spec.config[llmstack:scaling]")
    elif spec.gitops is not None:
        notes.append(f"- write access for llmstack-controller to `{spec.gitops.repository}` (branch "
                     f"`{spec.gitops.push_branch or spec.gitops.branch}`)"
                     + (f": Secret `{spec.gitops.credentials_secret}` with key `git-credentials`"
                        if spec.gitops.credentials_secret else ""))
    if spec.keda.enabled:
        notes.append(f"- KEDA in namespace `{spec.keda.operator_namespace}`; its ScaledObjects own the engines' "
                     "replica counts (Pulumi ignores spec.replicas of those workloads; a `kubectl apply` of "
                     "this render resets them until the next KEDA poll)")
    return notes


def render(stack: StackSpec, options: KubernetesOptions | None = None) -> dict[str, str]:
    """Relative path -> YAML text of every object of ``stack`` (checked first)."""
    return render_objects(objects.build(stack, options))
