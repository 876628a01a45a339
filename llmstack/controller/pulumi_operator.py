"""The Pulumi Kubernetes Operator path: ``llmstack:scaling`` patched into ``spec.config`` of a ``Stack``.

The operator (pulumi/pulumi-kubernetes-operator v2, ``pulumi.com/v1`` Stack) runs ``pulumi up``
whenever the Stack's spec changes, with ``spec.config`` as the stack configuration; its CRD
takes structured values there (objects, not only strings), so ``llmstack:scaling`` is the same
mapping the stack file holds. One apply is a read and one JSON merge patch carrying the
``resourceVersion`` read: a Stack changed in between makes the API server refuse the patch
(409) instead of overwriting someone's edit. The recommendation's reasons go into the
annotation ``llmstack.io/scaling-change``, so ``kubectl describe stack`` shows why.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llmstack.controller.backends import ApplyReport, reasons, summary
from llmstack.controller.kube_api import StackClient
from llmstack.errors import ApplyError, LlmstackError
from llmstack.policy import applying
from llmstack.policy.recommendation import Recommendation
from llmstack.spec.scaling import CONFIG_KEY, parse_scaling

CHANGE_ANNOTATION = "llmstack.io/scaling-change"
MAX_ANNOTATION = 4096


class PulumiOperatorBackend:
    """Apply by patching one ``stacks.pulumi.com`` object (``get`` and ``patch`` are all it needs)."""

    name = "pulumi-operator"

    def __init__(self, client: StackClient, namespace: str, stack_object: str) -> None:
        self.client = client
        self.namespace = namespace
        self.stack_object = stack_object

    def _where(self) -> str:
        return f"stacks.pulumi.com/{self.stack_object} (namespace {self.namespace})"

    def _read(self) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        obj = self.client.get_stack(self.namespace, self.stack_object)
        config = (obj.get("spec") or {}).get("config") or {}
        try:
            parsed = parse_scaling(config.get(CONFIG_KEY) if isinstance(config, dict) else None)
        except LlmstackError as exc:
            raise ApplyError(exc.message, file=self._where(), path=f"spec.config.{exc.path}") from exc
        return obj, {k: v.model_dump(exclude_none=True) for k, v in parsed.items()}

    def current(self) -> dict[str, dict[str, Any]]:
        return self._read()[1]

    def apply(self, recommendations: Sequence[Recommendation]) -> ApplyReport:
        obj, existing = self._read()
        scaling = applying.merged_scaling(existing, recommendations)
        if scaling == existing:
            return ApplyReport(self.name, False, scaling, obj.get("metadata", {}).get("resourceVersion"))
        body = patch_body(obj, scaling, recommendations)
        after = self.client.patch_stack(self.namespace, self.stack_object, body)
        version = (after.get("metadata") or {}).get("resourceVersion")
        return ApplyReport(self.name, True, scaling, version, f"patched {self._where()}")


def patch_body(obj: dict[str, Any], scaling: dict[str, dict[str, Any]],
               recommendations: Sequence[Recommendation]) -> dict[str, Any]:
    """The merge patch: the whole ``llmstack:scaling`` value, the resourceVersion read, and why.

    ``scaling`` only ever gains or changes keys (:func:`applying.merged_scaling`), so merging it
    into the existing mapping gives exactly ``scaling``.
    """
    note = f"{summary(recommendations)}\n\n{reasons(recommendations)}"
    metadata: dict[str, Any] = {"annotations": {CHANGE_ANNOTATION: note[:MAX_ANNOTATION]}}
    version = (obj.get("metadata") or {}).get("resourceVersion")
    if version:
        metadata["resourceVersion"] = version
    return {"metadata": metadata, "spec": {"config": {CONFIG_KEY: scaling}}}
