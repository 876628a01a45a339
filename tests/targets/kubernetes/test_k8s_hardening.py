"""Hardened workloads: security contexts, service account tokens and NetworkPolicies per workload.

Design note: checkov (test_k8s_checkov.py) checks the rendered files broadly; these tests pin
the decisions themselves, so a change to one workload's context fails with its name.
"""

from __future__ import annotations

from typing import Any

from llmstack.artifacts import addressing
from llmstack.targets.kubernetes import objects
from tests.targets.kubernetes.helpers import find, stack_with
from tests.targets.kubernetes.test_k8s_gateway import gateway_stack


def _pod(workload: dict[str, Any]) -> dict[str, Any]:
    pod: dict[str, Any] = workload["spec"]["template"]["spec"]
    return pod


def _selects(policy: dict[str, Any], workload: dict[str, Any]) -> bool:
    pod_labels = workload["spec"]["template"]["metadata"]["labels"]
    return bool(policy["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items())


def test_router_runs_non_root_read_only_without_token_or_capabilities() -> None:
    router = find(objects.build(stack_with()).routers["gateway"], "Deployment")
    pod = _pod(router)
    container = pod["containers"][0]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] >= 10000
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert "@sha256:" in container["image"]


def test_dcgm_keeps_only_sys_admin_and_no_token() -> None:
    built = objects.build(stack_with())
    daemon = next(o for o in built.monitoring if o["kind"] == "DaemonSet")
    pod = _pod(daemon)
    caps = pod["containers"][0]["securityContext"]["capabilities"]
    assert caps == {"drop": ["ALL"], "add": ["SYS_ADMIN"]}
    assert pod["automountServiceAccountToken"] is False
    assert pod["containers"][0]["livenessProbe"]["httpGet"]["path"] == "/health"


def test_every_workload_has_a_network_policy_selecting_it() -> None:
    stack = gateway_stack()
    built = objects.build(stack)
    everything = built.all()
    policies = [o for o in everything if o["kind"] == "NetworkPolicy"]
    workloads = [o for o in everything if o["kind"] in ("Deployment", "DaemonSet")]
    assert workloads
    for workload in workloads:
        assert any(_selects(p, workload) for p in policies), workload["metadata"]["name"]


def test_router_policy_limits_stats_to_prometheus() -> None:
    policy = find(objects.build(stack_with()).routers["gateway"], "NetworkPolicy")
    stats = next(r for r in policy["spec"]["ingress"] if r["ports"][0]["port"] == addressing.STATS_PORT)
    assert stats["from"][0]["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "prometheus"}


def test_only_api_clients_mount_a_token() -> None:
    built = objects.build(gateway_stack())
    for workload in (o for o in built.all() if o["kind"] in ("Deployment", "DaemonSet")):
        mounts = _pod(workload).get("automountServiceAccountToken", True)
        is_picker = workload["metadata"]["name"].endswith("-epp")
        assert mounts is is_picker, workload["metadata"]["name"]
