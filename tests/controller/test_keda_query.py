"""The KEDA fast path end to end short of a cluster: a real Prometheus, configured by the rendered
plain-Prometheus scrape job, scrapes the controller's /metrics, and the rendered ScaledObject's own
query returns the desired replicas (zero included, which KEDA reads as "deactivate").

Design note: Kubernetes pod discovery is swapped for a file_sd file holding the controller pod's
``__meta_kubernetes_*`` labels as kubernetes_sd would give them (from the rendered Deployment's pod
labels and port name), the technique tests/artifacts/test_prometheus_config.py uses; every other
relabel rule of the rendered configuration runs as rendered, so the engine job, which shares the
discovery, must drop the controller's target.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry

from llmstack.controller.desired import DesiredReplicas
from llmstack.controller.service import ControllerServer, Health
from llmstack.targets.kubernetes import objects
from tests.artifacts.test_prometheus_config import wait_until, without_kubernetes_sd
from tests.servers import query, running_prometheus
from tests.targets.kubernetes.helpers import find, stack_with


@pytest.mark.slow
def test_scaled_object_query_reads_desired_replicas_scraped_by_the_rendered_job(tmp_path: Path) -> None:
    stack = stack_with(monitoring={"prometheus_operator": False, "scrape_interval": "1s"},
                       controller={"enabled": True, "keda": {"enabled": True}})
    built = objects.build(stack)
    config = yaml.safe_load(find(built.monitoring, "ConfigMap", "t-prometheus")["data"]["prometheus.yml"])
    config["rule_files"] = []
    pod = find(built.controller, "Deployment")["spec"]["template"]
    port_name = pod["spec"]["containers"][0]["ports"][0]["name"]
    registry = CollectorRegistry()
    desired = DesiredReplicas(registry)
    desired.set({"chat": 3, "think": 1})
    server = ControllerServer(registry, Health(30.0)).start()
    try:
        sd_file = tmp_path / "pods.json"
        sd_file.write_text(json.dumps([{"targets": [f"127.0.0.1:{server.port}"], "labels": {
            **{f"__meta_kubernetes_pod_label_{re.sub('[^A-Za-z0-9_]', '_', k)}": v
               for k, v in pod["metadata"]["labels"].items()},
            "__meta_kubernetes_pod_container_port_name": port_name, "__meta_kubernetes_pod_phase": "Running",
            "__meta_kubernetes_namespace": "llmstack", "__meta_kubernetes_pod_name": "llmstack-controller-7f9c-x1"}}]))
        with running_prometheus(tmp_path, without_kubernetes_sd(config, sd_file)) as prom:
            chat = find(built.controller, "ScaledObject", "chat-vllm")["spec"]["triggers"][0]["metadata"]["query"]
            assert wait_until(lambda: [r["value"][1] for r in query(prom.url, chat)] == ["3"])
            desired.set({"chat": 0})
            assert wait_until(lambda: [r["value"][1] for r in query(prom.url, chat)] == ["0"])
            assert query(prom.url, 'up{job="vllm"}') == []  # the engine job dropped the controller's target
            [up] = query(prom.url, 'up{job="llmstack-controller"}')
            assert up["metric"]["pod"] == "llmstack-controller-7f9c-x1" and up["value"][1] == "1"
    finally:
        server.stop()
