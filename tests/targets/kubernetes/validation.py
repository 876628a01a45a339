"""Validation of rendered objects: kubernetes-validate (strict) for built-in kinds, jsonschema
against the real CRD schemas (tests/data/crds, see SOURCES.md) for custom kinds.

CRD schemas are made strict (``additionalProperties: false`` on every object that lists its
properties and does not preserve unknown fields), since the API server would otherwise prune
a misspelt field silently.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

KUBERNETES_VERSION = "1.31.0"
CRD_DIR = Path(__file__).resolve().parents[2] / "data" / "crds"
CRDS = {
    ("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet"): "leaderworkerset.x-k8s.io_leaderworkersets.yaml",
    ("monitoring.coreos.com/v1", "PodMonitor"): "monitoring.coreos.com_podmonitors.yaml",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "monitoring.coreos.com_servicemonitors.yaml",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "monitoring.coreos.com_prometheusrules.yaml",
    ("inference.networking.k8s.io/v1", "InferencePool"): "inference.networking.k8s.io_inferencepools.yaml",
    ("gateway.networking.k8s.io/v1", "HTTPRoute"): "gateway.networking.k8s.io_httproutes.yaml",
    ("gateway.networking.k8s.io/v1", "Gateway"): "gateway.networking.k8s.io_gateways.yaml",
    ("keda.sh/v1alpha1", "ScaledObject"): "keda.sh_scaledobjects.yaml",
    ("pulumi.com/v1", "Stack"): "pulumi.com_stacks.yaml",
}


def _strict(schema: Any) -> Any:
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        pattern = out.get("pattern")
        if isinstance(pattern, str) and pattern.startswith("^(?i)"):  # Go allows inline flags mid-pattern
            out["pattern"] = "(?i)^" + pattern[len("^(?i)"):]
        if ("properties" in out and "additionalProperties" not in out
                and not out.get("x-kubernetes-preserve-unknown-fields")):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


@cache
def crd_schema(api_version: str, kind: str) -> dict[str, Any]:
    crd = yaml.load((CRD_DIR / CRDS[(api_version, kind)]).read_text(), Loader=yaml.CSafeLoader)
    version = api_version.split("/")[1]
    entry = next(v for v in crd["spec"]["versions"] if v["name"] == version)
    schema = _strict(entry["schema"]["openAPIV3Schema"])
    schema["properties"]["metadata"] = {"type": "object"}
    return dict(schema)


def validate(obj: dict[str, Any]) -> None:
    """Raise if ``obj`` is not valid for its kind (CRD kinds must be in CRDS)."""
    key = (obj["apiVersion"], obj["kind"])
    if key in CRDS:
        jsonschema.Draft202012Validator(crd_schema(*key)).validate(obj)
    else:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


