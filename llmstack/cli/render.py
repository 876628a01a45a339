"""``llmstack render``: write what a target deploys as plain files (no cluster, no Pulumi CLI).

GitOps options (Kubernetes; ``--namespace`` also for the artifacts bundle): ``--namespace``,
``--storage-class`` (of the model cache claim), ``--model-cache pvc|hostpath|emptydir``,
``--monitor-labels k=v,...`` (the labels kube-prometheus-stack selects monitors by, e.g.
``release=kube-prometheus-stack``), the same options as the Pulumi config keys
``llmstack:namespace``, ``llmstack:storageClass``, ``llmstack:modelCache``, ``llmstack:monitorLabels``.
``--prune`` deletes files an earlier render into ``--out`` wrote that this one does not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from llmstack.cli._checks import preflight
from llmstack.cli.app import app
from llmstack.cli.output import console, print_json
from llmstack.errors import LlmstackError
from llmstack.spec import scaling
from llmstack.spec.loading import load_spec, load_yaml, read_text
from llmstack.spec.models import StackSpec

RENDERERS = ("artifacts", "kubernetes", "docker")
"""The targets ``--target`` names."""


@dataclass(frozen=True)
class GitOpsFlags:
    namespace: str | None = None
    storage_class: str | None = None
    model_cache: str | None = None
    monitor_labels: str | None = None

    def given(self) -> list[str]:
        names = {"namespace": "--namespace", "storage_class": "--storage-class", "model_cache": "--model-cache",
                 "monitor_labels": "--monitor-labels"}
        return [flag for field, flag in names.items() if getattr(self, field) is not None]


def renderer(target: str) -> Callable[..., dict[str, str]]:
    """The function taking a StackSpec and returning {relative path: file text} for ``target``.

    Imported on use (a target's Pulumi modules are slow to import), as plain imports so the
    layers contract sees the edges.
    """
    if target == "artifacts":
        from llmstack.artifacts.bundle import render_artifacts

        return render_artifacts
    if target == "kubernetes":
        from llmstack.targets.kubernetes.rendering import render as render_kubernetes

        return render_kubernetes
    if target == "docker":
        from llmstack.targets.docker.rendering import render as render_docker

        return render_docker
    raise LlmstackError(f"unknown target {target!r}", path="--target", hint=f"use one of {sorted(RENDERERS)}")


def render_files(stack: StackSpec, target: str, flags: GitOpsFlags) -> dict[str, str]:
    """The files of ``target``, with the GitOps flags the target takes (others are refused by name)."""
    render_fn = renderer(target)
    allowed = {"kubernetes": {"--namespace", "--storage-class", "--model-cache", "--monitor-labels"},
               "artifacts": {"--namespace"}, "docker": set()}[target]
    for flag in flags.given():
        if flag not in allowed:
            raise LlmstackError(f"{flag} does not apply to target {target}", path=flag,
                                hint="use it with --target kubernetes")
    if target == "artifacts":
        return render_fn(stack, namespace=flags.namespace)
    if target == "docker":
        return render_fn(stack)
    from llmstack.targets.kubernetes import options

    labels = options.parse_labels(flags.monitor_labels) if flags.monitor_labels is not None else None
    opts = options.with_overrides(options.KubernetesOptions(), namespace=flags.namespace,
                                  storage_class=flags.storage_class, model_cache=flags.model_cache,
                                  monitor_labels=labels)
    return render_fn(stack, opts)


@app.command()
def render(
    spec: Path | None = typer.Option(None, "--spec", help="stack spec YAML (default: llmstack:spec of --scaling)"),
    target: str = typer.Option("artifacts", "--target", help="artifacts | kubernetes | docker"),
    out: Path = typer.Option(..., "--out", help="output folder"),
    scaling_file: Path | None = typer.Option(
        None, "--scaling", help="Pulumi.<stack>.yaml (its llmstack:scaling, as apply writes it) or a bare "
                                "deployment -> overrides JSON/YAML mapping"),
    namespace: str | None = typer.Option(None, "--namespace", help="Kubernetes namespace (default llmstack)"),
    storage_class: str | None = typer.Option(None, "--storage-class", help="storage class of the model cache"),
    model_cache: str | None = typer.Option(None, "--model-cache", help="pvc | hostpath | emptydir"),
    monitor_labels: str | None = typer.Option(None, "--monitor-labels", help="k=v,... on PodMonitors and rules"),
    prune: bool = typer.Option(False, "--prune", help="delete files an earlier render wrote and this one does not"),
    as_json: bool = typer.Option(False, "--json", help="print the written paths as JSON"),
) -> None:
    """Render the files a target deploys (configs, manifests, dashboards) into --out."""
    from llmstack.targets import render_output

    stack = _stack(spec, scaling_file)
    preflight(stack, spec or scaling_file)
    files = render_files(stack, target, GitOpsFlags(namespace, storage_class, model_cache, monitor_labels))
    result = render_output.write(out, files, prune=prune, target=target)
    if as_json:
        print_json(sorted(str(out / r) for r in result.written))
        return
    console.print(f"wrote {len(result.written)} files for target {target} under {out}")
    if result.removed:
        console.print(f"pruned {len(result.removed)} files an earlier render wrote: {', '.join(result.removed)}")
    if result.stale:
        console.print(f"{len(result.stale)} files of an earlier render are no longer rendered (use --prune to "
                      f"delete them): {', '.join(result.stale)}")


def _stack(spec: Path | None, scaling_file: Path | None) -> StackSpec:
    """The spec with the scaling file's overrides; a stack file's ``llmstack:spec`` when --spec is absent."""
    document = _read_yaml(scaling_file) if scaling_file is not None else None
    if spec is None:
        spec = _spec_of_stack_file(document, scaling_file)
    stack = load_spec(spec)
    if scaling_file is None:
        return stack
    return scaling.apply_scaling(stack, scaling.from_document(document, str(scaling_file)))


def _read_yaml(path: Path) -> Any:
    """The scaling file (YAML or JSON), read strictly: unreadable, binary or duplicate keys are one error."""
    return load_yaml(read_text(path, "scaling file"), str(path))


def _spec_of_stack_file(document: Any, path: Path | None) -> Path:
    config = document.get("config") if isinstance(document, dict) else None
    value = config.get("llmstack:spec") if isinstance(config, dict) else None
    if path is None or not isinstance(value, str):
        raise LlmstackError("no spec given", path="--spec",
                            hint="pass --spec, or --scaling with a Pulumi.<stack>.yaml that sets llmstack:spec")
    # a stack file's relative paths are relative to its project: the folder holding it
    spec = Path(value)
    return spec if spec.is_absolute() else path.parent / spec
