"""The README's 20-line Pulumi program (examples/program/__main__.py) under Pulumi's mock runtime."""

from __future__ import annotations

import asyncio
import json
import runpy
from typing import Any

import pulumi

from tests.conftest import ROOT
from tests.targets.kubernetes.test_k8s_program import TOKEN, Recorder

PROGRAM = ROOT / "examples" / "program" / "__main__.py"


def test_program_declares_monitored_routed_scaled_fleet() -> None:
    mocks = Recorder()
    asyncio.set_event_loop(asyncio.new_event_loop())
    pulumi.runtime.set_mocks(mocks, preview=False)
    pulumi.runtime.set_all_config({"llmstack:scaling": json.dumps({"chat": {"replicas": 3}}),
                                   "llmstack:hfToken": TOKEN}, secret_keys=["llmstack:hfToken"])

    @pulumi.runtime.test
    def run() -> Any:
        runpy.run_path(str(PROGRAM), run_name="__main__")

    run()
    deployment = mocks.named("kubernetes:apps/v1:Deployment", "chat-vllm")
    assert deployment.inputs["spec"]["replicas"] == 3  # the llmstack:scaling override took effect
    container = deployment.inputs["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert any(t["key"] == "nvidia.com/gpu" for t in deployment.inputs["spec"]["template"]["spec"]["tolerations"])
    assert mocks.of_type("kubernetes:monitoring.coreos.com/v1:PodMonitor")
    assert mocks.of_type("kubernetes:monitoring.coreos.com/v1:PrometheusRule")
    assert any(r.name.startswith("chat-gateway") for r in mocks.of_type("kubernetes:apps/v1:Deployment"))
    assert mocks.of_type("kubernetes:core/v1:Secret")
