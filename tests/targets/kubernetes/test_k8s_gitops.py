"""Render options for GitOps: namespace, storage class, model cache, monitor labels, prune, CRD README.

Design note: the flags and the Pulumi config keys of the same names go through one function
(``options.with_overrides``), so a test of each path checks the same objects. Prune deletes
only what the manifest of the previous render lists, so a file a user put in the folder stays.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from llmstack.cli.render import GitOpsFlags, render_files
from llmstack.errors import LlmstackError
from llmstack.targets import render_output
from llmstack.targets.kubernetes import options
from tests.targets.kubernetes.helpers import find, stack_with
from tests.targets.kubernetes.test_k8s_cli import run_cli
from tests.targets.kubernetes.test_k8s_gateway import gateway_stack


def _objects(files: dict[str, str]) -> list[dict[str, object]]:
    return [yaml.safe_load(t) for p, t in files.items() if p.endswith(".yaml") and p != "kustomization.yaml"]


def test_flags_set_namespace_storage_class_cache_and_monitor_labels() -> None:
    flags = GitOpsFlags(namespace="serving", storage_class="fast-rwx", model_cache="pvc",
                        monitor_labels="release=kube-prometheus-stack,team=ml")
    docs = _objects(render_files(stack_with(), "kubernetes", flags))
    assert {d["metadata"].get("namespace", "serving") for d in docs} == {"serving"}  # type: ignore[union-attr]
    claim = find(docs, "PersistentVolumeClaim")  # type: ignore[arg-type]
    assert claim["spec"]["storageClassName"] == "fast-rwx"
    for monitor in (d for d in docs if d["kind"] in ("PodMonitor", "PrometheusRule")):
        assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"  # type: ignore[index]


@pytest.mark.parametrize(("flag", "kind"), [("hostpath", "hostPath"), ("emptydir", "emptyDir")])
def test_model_cache_flag_replaces_the_claim(flag: str, kind: str) -> None:
    docs = _objects(render_files(stack_with(), "kubernetes", GitOpsFlags(model_cache=flag)))
    assert not [d for d in docs if d["kind"] == "PersistentVolumeClaim"]
    pod = find(docs, "Deployment", "chat-vllm")["spec"]["template"]["spec"]  # type: ignore[arg-type]
    assert kind in next(v for v in pod["volumes"] if v["name"] == "model-cache")


def test_bad_flags_are_one_line_errors_naming_the_flag() -> None:
    with pytest.raises(LlmstackError, match=r"--monitor-labels.*not a label"):
        render_files(stack_with(), "kubernetes", GitOpsFlags(monitor_labels="release"))
    with pytest.raises(LlmstackError, match=r"--model-cache.*unknown model cache"):
        render_files(stack_with(), "kubernetes", GitOpsFlags(model_cache="nfs"))
    with pytest.raises(LlmstackError, match=r"--storage-class does not apply to target artifacts"):
        render_files(stack_with(), "artifacts", GitOpsFlags(storage_class="x"))
    with pytest.raises(LlmstackError, match=r"--namespace"):
        render_files(stack_with(), "kubernetes", GitOpsFlags(namespace="Bad_NS"))


def test_pulumi_config_keys_mean_the_same_as_the_flags() -> None:
    from_config = options.from_stack_config(None, {"namespace": "serving", "storageClass": "fast-rwx",
                                                  "modelCache": "hostpath", "monitorLabels": "release=kps"})
    from_flags = options.with_overrides(options.KubernetesOptions(), namespace="serving", storage_class="fast-rwx",
                                        model_cache="hostpath", monitor_labels={"release": "kps"})
    assert from_config == from_flags
    with pytest.raises(LlmstackError, match=r"llmstack:modelCache"):
        options.from_stack_config(None, {"modelCache": "nfs"})


def test_readme_lists_the_crds_the_render_needs() -> None:
    readme = render_files(gateway_stack(), "kubernetes", GitOpsFlags())["README.md"]
    for crd in ("inferencepools.inference.networking.k8s.io", "httproutes.gateway.networking.k8s.io",
                "podmonitors.monitoring.coreos.com", "prometheusrules.monitoring.coreos.com"):
        assert crd in readme
    deployments = [d.model_dump() for d in stack_with().deployments]
    deployments[1].update({"tensor_parallel": 8, "pipeline_parallel": 2})
    lws = render_files(stack_with(deployments=deployments), "kubernetes", GitOpsFlags())["README.md"]
    assert "leaderworkersets.leaderworkerset.x-k8s.io" in lws and "httproutes" not in lws


def test_prune_removes_only_files_a_previous_render_wrote(tmp_path: Path) -> None:
    two = stack_with()
    one = stack_with(deployments=[two.deployments[0].model_dump()],
                     routers=[{"name": "gateway", "routes": [{"model": "small", "backends": {"chat": 1}}]}])
    render_output.write(tmp_path, render_files(two, "kubernetes", GitOpsFlags()), target="kubernetes")
    (tmp_path / "deployments" / "think" / "notes.txt").write_text("mine")
    kept = render_output.write(tmp_path, render_files(one, "kubernetes", GitOpsFlags()))
    assert kept.removed == [] and any(p.startswith("deployments/think/") for p in kept.stale)
    render_output.write(tmp_path, render_files(two, "kubernetes", GitOpsFlags()))
    pruned = render_output.write(tmp_path, render_files(one, "kubernetes", GitOpsFlags()), prune=True)
    assert pruned.removed and all(p.startswith(("deployments/think/", "monitoring/")) for p in pruned.removed)
    assert sorted(p.name for p in (tmp_path / "deployments" / "think").iterdir()) == ["notes.txt"]
    assert (tmp_path / "deployments" / "chat" / "deployment-chat-vllm.yaml").exists()


def test_cli_render_with_gitops_flags_and_prune(tmp_path: Path) -> None:
    spec = tmp_path / "stack.yaml"
    spec.write_text(yaml.safe_dump(stack_with().model_dump(mode="json", exclude_none=True)))
    out = tmp_path / "out"
    result = run_cli("render", "--spec", str(spec), "--target", "kubernetes", "--out", str(out),
                     "--namespace", "serving", "--model-cache", "emptydir", "--monitor-labels", "release=kps",
                     "--prune")
    assert result.returncode == 0, result.stderr
    deployment = yaml.safe_load((out / "deployments/chat/deployment-chat-vllm.yaml").read_text())
    assert deployment["metadata"]["namespace"] == "serving"
    assert (out / render_output.MANIFEST).exists() and (out / "README.md").exists()
    bad = run_cli("render", "--spec", str(spec), "--target", "docker", "--out", str(out), "--namespace", "x")
    assert bad.returncode == 2 and "--namespace does not apply to target docker" in bad.stderr + bad.stdout
