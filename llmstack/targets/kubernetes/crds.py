"""The CustomResourceDefinitions a stack's objects need, and the preview check that the cluster has them.

:func:`required` names the CRD of every custom kind among the built objects (LeaderWorkerSet,
Prometheus Operator monitors and rules, InferencePool, HTTPRoute, Gateway, KEDA ScaledObject) with where to get
it; ``render`` lists them in the output's README and ``pulumi preview`` warns
(:func:`warn_missing`, ``pulumi.log.warn``) for each one the cluster lacks. The cluster is asked
through a :class:`CrdLookup` (``kubectl get crd``, or a fake in tests); a lookup that cannot
answer gives one warning saying so, never a failed preview.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Crd:
    name: str
    kind: str
    source: str
    """What installs it (release and manifest)."""


KNOWN = {
    ("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet"): Crd(
        "leaderworkersets.leaderworkerset.x-k8s.io", "LeaderWorkerSet",
        "LeaderWorkerSet v0.10.0 (kubernetes-sigs/lws release manifests)"),
    ("monitoring.coreos.com/v1", "PodMonitor"): Crd(
        "podmonitors.monitoring.coreos.com", "PodMonitor", "Prometheus Operator v0.93.0 (or kube-prometheus-stack)"),
    ("monitoring.coreos.com/v1", "PrometheusRule"): Crd(
        "prometheusrules.monitoring.coreos.com", "PrometheusRule",
        "Prometheus Operator v0.93.0 (or kube-prometheus-stack)"),
    ("inference.networking.k8s.io/v1", "InferencePool"): Crd(
        "inferencepools.inference.networking.k8s.io", "InferencePool",
        "Gateway API Inference Extension v1.6.0 (kubernetes-sigs/gateway-api-inference-extension manifests.yaml)"),
    ("gateway.networking.k8s.io/v1", "HTTPRoute"): Crd(
        "httproutes.gateway.networking.k8s.io", "HTTPRoute", "Gateway API v1.6.1 standard-install.yaml"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"): Crd(
        "servicemonitors.monitoring.coreos.com", "ServiceMonitor",
        "Prometheus Operator v0.93.0 (or kube-prometheus-stack)"),
    ("keda.sh/v1alpha1", "ScaledObject"): Crd(
        "scaledobjects.keda.sh", "ScaledObject",
        "KEDA v2.20.2 (kedacore/keda release keda-2.20.2.yaml, or its Helm chart)"),
    ("gateway.networking.k8s.io/v1", "Gateway"): Crd(
        "gateways.gateway.networking.k8s.io", "Gateway", "Gateway API v1.6.1 standard-install.yaml"),
}


def required(objects: Iterable[dict[str, Any]]) -> list[Crd]:
    """The CRDs of the custom kinds among ``objects``, sorted by name."""
    found = {KNOWN[key] for obj in objects if (key := (obj["apiVersion"], obj["kind"])) in KNOWN}
    return sorted(found, key=lambda crd: crd.name)


class CrdLookup(Protocol):
    def present(self, names: list[str]) -> set[str] | None:
        """The subset of ``names`` the cluster has; None when the cluster cannot be asked."""
        ...


@dataclass(frozen=True)
class KubectlLookup:
    """Asks the cluster with ``kubectl get crd`` (the provider's kubeconfig and context when given)."""

    kubeconfig: str | None = None
    context: str | None = None
    timeout_s: float = 20.0

    def present(self, names: list[str]) -> set[str] | None:
        kubectl = shutil.which("kubectl")
        if kubectl is None or not names:
            return None if kubectl is None else set()
        cmd = [kubectl, "get", "crd", *names, "-o", "name", "--ignore-not-found"]
        if self.kubeconfig:
            cmd += ["--kubeconfig", self.kubeconfig]
        if self.context:
            cmd += ["--context", self.context]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=self.timeout_s, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return None
        if done.returncode != 0:
            return None
        return {line.rpartition("/")[2].strip() for line in done.stdout.splitlines() if line.strip()}


def missing(needed: list[Crd], lookup: CrdLookup) -> list[Crd] | None:
    """The needed CRDs the cluster lacks (None: the lookup could not tell)."""
    present = lookup.present([crd.name for crd in needed])
    if present is None:
        return None
    return [crd for crd in needed if crd.name not in present]


def warn_missing(objects: Iterable[dict[str, Any]], lookup: CrdLookup,
                 warn: Callable[[str], None] | None = None) -> list[Crd]:
    """One ``pulumi.log.warn`` per CRD the stack needs and the cluster lacks; returns those CRDs."""
    if warn is None:
        import pulumi  # the edge: only the Pulumi program calls this without ``warn``

        warn = pulumi.log.warn
    say = warn
    needed = required(objects)
    if not needed:
        return []
    absent = missing(needed, lookup)
    if absent is None:
        say(f"could not check the cluster for the CRDs this stack needs ({', '.join(c.name for c in needed)}): "
            "kubectl is missing or the cluster did not answer")
        return []
    for crd in absent:
        say(f"the cluster has no CRD {crd.name} ({crd.kind}); install {crd.source} before `pulumi up`")
    return absent
