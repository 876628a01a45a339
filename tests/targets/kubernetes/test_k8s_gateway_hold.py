"""The endpoint picker's hold for a deployment that may be at zero replicas (flow control).

Design note: the rendered ``EndpointPickerConfig`` is validated against a strict schema of
gateway-api-inference-extension v1.5.0's config types (the pinned picker image; field names
and values transcribed with their source in tests/data/epp/SOURCES.md), so a misspelt or
invented field fails. The hold's length is recomputed from the deployment's cold start
(``capacity.startup``, the HAProxy hold's 1.5 margin) and the route timeout.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from llmstack.artifacts import drain, gateway
from llmstack.capacity import startup, throughput
from llmstack.spec.models import StackSpec
from llmstack.targets.kubernetes import objects
from tests.targets.kubernetes.helpers import find, stack_with
from tests.targets.kubernetes.test_k8s_gateway import gateway_stack
from tests.targets.kubernetes.validation import validate

SCHEMA = Path(__file__).resolve().parents[2] / "data" / "epp" / "endpointpickerconfig-v1.5.0.schema.json"


def _scale_to_zero(stack: StackSpec, deployment: str, **replicas: Any) -> StackSpec:
    deployments = [d.model_dump() for d in stack.deployments]
    for d in deployments:
        if d["name"] == deployment:
            d["replicas"] = {"min": 0, "max": 4, **replicas}
    return stack_with(deployments=deployments, routers=[r.model_dump() for r in stack.routers])


def _picker_config(built: objects.StackObjects, deployment: str) -> dict[str, Any]:
    config_map = find(built.deployments[deployment], "ConfigMap")
    validate(config_map)
    config: dict[str, Any] = yaml.safe_load(config_map["data"][gateway.PICKER_CONFIG_FILE])
    jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text())).validate(config)
    return config


def test_zero_replica_deployment_picker_holds_requests_for_the_cold_start() -> None:
    stack = _scale_to_zero(gateway_stack(), "chat")
    built = objects.build(stack)
    config = _picker_config(built, "chat")
    kd = objects.resolve(stack, built.options)["chat"]
    cold_s = startup.startup_delay_s(throughput.profile(kd.resolved))
    hold = math.ceil(startup.HOLD_TIMEOUT_FACTOR * cold_s)
    assert 0 < hold < gateway.ROUTE_TIMEOUT_S
    assert config["featureGates"] == ["flowControl"]
    assert config["saturationDetector"] == {"pluginRef": "utilization-detector"}
    assert {"type": "utilization-detector"} in config["plugins"]
    assert config["flowControl"] == {"maxBytes": gateway.HOLD_MAX_BYTES,
                                     "defaultRequestTTL": f"{hold}s"}


def test_the_picker_holds_as_long_as_the_spec_says_when_it_says() -> None:
    stack = _scale_to_zero(gateway_stack(), "chat", hold_timeout="45s")
    assert _picker_config(objects.build(stack), "chat")["flowControl"]["defaultRequestTTL"] == "45s"


def test_deployments_with_a_replica_keep_the_plain_scorer_config() -> None:
    built = objects.build(_scale_to_zero(gateway_stack(), "chat"))
    config = _picker_config(built, "think")
    assert "flowControl" not in config and "featureGates" not in config
    assert [p["type"] for p in config["plugins"]] == list(gateway.SCORER_WEIGHTS)


def test_the_hold_never_outlasts_the_route_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    assert yaml.safe_load(gateway.picker_config(42))["flowControl"]["defaultRequestTTL"] == "42s"
    monkeypatch.setattr(startup, "POD_START_S", 3600.0)  # a node that takes an hour to come up
    built = objects.build(_scale_to_zero(gateway_stack(), "think"))
    ttl = _picker_config(built, "think")["flowControl"]["defaultRequestTTL"]
    assert ttl == f"{gateway.ROUTE_TIMEOUT_S}s"


def test_schema_rejects_an_invented_flow_control_field() -> None:
    config = yaml.safe_load(gateway.picker_config(60))
    config["flowControl"]["queueTimeout"] = "60s"
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
    assert not validator.is_valid(config)


def test_the_drain_cap_is_the_route_timeout() -> None:
    assert drain.DRAIN_CAP_S == gateway.ROUTE_TIMEOUT_S  # no request outlives the route, drained or held
