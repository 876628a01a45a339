"""prometheus.yml: ``promtool check config``, and a real Prometheus scraping the vLLM sample.

Design notes:
- The sample exposition (``tests/data/artifacts/vllm-metrics-sample.txt``, copied from the
  reference data) has no ``deployment`` label: the generated scrape configuration adds it
  (file_sd target labels), which is the point of the test. Each scrape multiplies counters
  and histogram series by a growing factor so rates are positive and quantiles finite.
- Debian's Prometheus 2.42 is built without Kubernetes service discovery, so the Kubernetes
  configuration is checked by swapping ``kubernetes_sd_configs`` for a file_sd file whose
  targets carry the ``__meta_kubernetes_*`` labels pod discovery would set: the generated
  relabelling then runs for real.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from llmstack import yaml_text
from llmstack.artifacts import labels, prometheus
from llmstack.catalog import signals
from llmstack.spec.models import StackSpec
from tests.artifacts.upstreams import free_port
from tests.servers import query, running_prometheus

PROMTOOL = "/usr/bin/promtool"
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "artifacts" / "vllm-metrics-sample.txt"
_GROWING = re.compile(r"^(vllm:\S+?(_total|_bucket|_sum|_count))(\{[^}]*\})? (\S+)$")


def stack_of(*deployments: str, interval: str = "15s") -> StackSpec:
    return StackSpec.model_validate({
        "name": "t",
        "pools": [{"name": "gpu", "accelerator": "H100-SXM-80GB", "gpus_per_node": 8, "cost_per_gpu_hour": 2.5}],
        "models": [{"name": "m", "architecture": "Llama-3.1-8B",
                    "variants": [{"name": "bf16", "weights": "meta-llama/Llama-3.1-8B-Instruct"}]}],
        "deployments": [{"name": d, "model": "m", "variant": "bf16", "pool": "gpu"} for d in deployments],
        "monitoring": {"scrape_interval": interval, "evaluation_interval": interval},
    })


def check_config(config: dict[str, Any], folder: Path) -> subprocess.CompletedProcess[str]:
    (folder / "rules").mkdir(exist_ok=True)
    (folder / "prometheus.yml").write_text(yaml_text.dump(config))
    return subprocess.run([PROMTOOL, "check", "config", "prometheus.yml"], cwd=folder, capture_output=True,
                          text=True, timeout=60)


def test_promtool_accepts_static_config(tmp_path: Path) -> None:
    stack = stack_of("chat", "batch")
    targets = prometheus.ScrapeTargets.static(
        {"chat": ["chat-0:8000", "chat-1:8000"], "batch": ["10.0.0.5:8000"]}, router=["router:8404"],
        dcgm={"chat": ["10.0.0.9:9400"]}, node=["10.0.0.9:9100"])
    config = prometheus.build_prometheus_config(stack, targets)
    result = check_config(config, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    engine = config["scrape_configs"][0]
    assert engine["static_configs"][0]["labels"] == labels.engine_labels(stack, "chat")


def test_promtool_accepts_file_sd_config(tmp_path: Path) -> None:
    stack = stack_of("chat")
    targets = prometheus.ScrapeTargets.file_sd(str(tmp_path / "targets"), dcgm=["host:9400"],
                                               gpu_assignment={"chat": [0, 1]})
    config = prometheus.build_prometheus_config(stack, targets)
    result = check_config(config, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    dcgm = next(job for job in config["scrape_configs"] if job["job_name"] == "dcgm")
    assert dcgm["metric_relabel_configs"][0]["regex"] == "0|1"


def test_kubernetes_relabelling_valid_apart_from_discovery(tmp_path: Path) -> None:
    config = without_kubernetes_sd(prometheus.build_prometheus_config(stack_of("chat"),
                                                                      prometheus.ScrapeTargets.kubernetes("llm")),
                                   tmp_path / "sd.json")
    (tmp_path / "sd.json").write_text("[]")
    result = check_config(config, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_unknown_deployment_and_bad_target_rejected() -> None:
    with pytest.raises(Exception, match="unknown deployment 'ghost'"):
        prometheus.build_prometheus_config(stack_of("chat"), prometheus.ScrapeTargets.static({"ghost": ["a:1"]}))
    with pytest.raises(Exception, match="not a host:port target"):
        prometheus.ScrapeTargets.static({"chat": ["a:1\n- job_name: x"]})
    with pytest.raises(Exception, match="assigned to both"):
        prometheus.ScrapeTargets.static({}, gpu_assignment={"a": [0], "b": [0]})


def test_file_sd_targets_carry_engine_labels() -> None:
    stack = stack_of("chat")
    assert prometheus.file_sd_targets(stack, "chat", ["c:8000"]) == [
        {"targets": ["c:8000"], "labels": labels.engine_labels(stack, "chat")}]


# ---------------------------------------------------------------- a real Prometheus


def without_kubernetes_sd(config: dict[str, Any], sd_file: Path) -> dict[str, Any]:
    for job in config["scrape_configs"]:
        if job.pop("kubernetes_sd_configs", None) is not None:
            job["file_sd_configs"] = [{"files": [str(sd_file)]}]
    return config


def growing_sample() -> Callable[[], bytes]:
    text = SAMPLE.read_text().splitlines()
    scrapes = [0]

    def render() -> bytes:
        scrapes[0] += 1
        factor = 1 + 0.05 * scrapes[0]
        out = []
        for line in text:
            match = _GROWING.match(line)
            if match:
                line = f"{match.group(1)}{match.group(3) or ''} {float(match.group(4)) * factor!r}"
            out.append(line)
        return ("\n".join(out) + "\n").encode()
    return render


@contextlib.contextmanager
def exposition(render: Callable[[], bytes]) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

        def do_GET(self) -> None:
            body = render()
            self.send_response(200)
            self.send_header("content-type", "text/plain; version=0.0.4")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def wait_until(check: Callable[[], bool], timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.5)
    return False


DCGM_TEXT = "\n".join([
    "# TYPE DCGM_FI_DEV_GPU_UTIL gauge",
    'DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-a",modelName="NVIDIA H100 80GB HBM3",Hostname="h",'
    'namespace="llm",pod="chat-large-7d9f-x2",container="vllm"} 80',
    'DCGM_FI_DEV_GPU_UTIL{gpu="1",UUID="GPU-b",modelName="NVIDIA H100 80GB HBM3",Hostname="h",'
    'namespace="llm",pod="chat-5c4b-q1",container="vllm"} 40',
    "# TYPE DCGM_FI_DEV_FB_USED gauge",
    'DCGM_FI_DEV_FB_USED{gpu="0",UUID="GPU-a",namespace="llm",pod="chat-large-7d9f-x2"} 72000',
    'DCGM_FI_DEV_FB_USED{gpu="1",UUID="GPU-b",namespace="llm",pod="chat-5c4b-q1"} 70000',
    "# TYPE DCGM_FI_DEV_FB_FREE gauge",
    'DCGM_FI_DEV_FB_FREE{gpu="0",UUID="GPU-a",namespace="llm",pod="chat-large-7d9f-x2"} 8000',
    'DCGM_FI_DEV_FB_FREE{gpu="1",UUID="GPU-b",namespace="llm",pod="chat-5c4b-q1"} 10000',
]) + "\n"


@pytest.mark.slow
def test_every_recording_rule_yields_series_from_vllm_sample(tmp_path: Path) -> None:
    stack = stack_of("chat", interval="1s")
    with exposition(growing_sample()) as engine, exposition(lambda: DCGM_TEXT.encode()) as dcgm:
        sd = tmp_path / "targets"
        sd.mkdir()
        (sd / "chat.json").write_text(json.dumps(prometheus.file_sd_targets(stack, "chat", [engine])))
        targets = prometheus.ScrapeTargets.file_sd(str(sd), dcgm=[dcgm], gpu_assignment={"chat": [1]})
        config = prometheus.build_prometheus_config(stack, targets)
        rules = {"recording.yml": prometheus.build_recording_rules(stack),
                 "alerts.yml": prometheus.build_alert_rules(stack)}
        with running_prometheus(tmp_path, config, rules) as server:
            url = server.url
            records = [s.record for s in signals.signals()]
            missing: list[str] = records

            def all_present() -> bool:
                nonlocal missing
                missing = [r for r in missing if not query(url, f'{r}{{deployment="chat"}} >= 0')]
                return not missing

            assert wait_until(all_present), f"no series for {missing}"
            up = query(url, 'up{llmstack_role="engine"}')
            gpu = query(url, "DCGM_FI_DEV_GPU_UTIL")
    assert up[0]["metric"] | labels.engine_labels(stack, "chat") == up[0]["metric"]
    by_gpu = {s["metric"]["gpu"]: s["metric"].get("deployment") for s in gpu}
    assert by_gpu == {"0": None, "1": "chat"}


@pytest.mark.slow
def test_kubernetes_relabelling_maps_pod_labels(tmp_path: Path) -> None:
    stack = stack_of("chat", "chat-large", interval="1s")
    with exposition(growing_sample()) as engine, exposition(lambda: DCGM_TEXT.encode()) as dcgm:
        def pod(address: str, pod_labels: dict[str, str], port_name: str, name: str,
                phase: str = "Running") -> dict[str, Any]:
            meta = {f"__meta_kubernetes_pod_label_{re.sub('[^A-Za-z0-9_]', '_', k)}": v
                    for k, v in pod_labels.items()}
            return {"targets": [address], "labels": {
                **meta, "__meta_kubernetes_pod_container_port_name": port_name, "__meta_kubernetes_pod_phase": phase,
                "__meta_kubernetes_namespace": "llm", "__meta_kubernetes_pod_name": name}}

        sd_file = tmp_path / "pods.json"
        sd_file.write_text(json.dumps([
            pod(engine, labels.k8s_labels(stack, "chat"), labels.ENGINE_PORT_NAME, "chat-5c4b-q1"),
            pod("127.0.0.1:1", labels.k8s_labels(stack, "chat"), "grpc", "chat-5c4b-q1"),
            pod("127.0.0.1:2", labels.k8s_labels(stack, "chat"), labels.ENGINE_PORT_NAME, "chat-5c4b-zz", "Pending"),
            pod(dcgm, {"app.kubernetes.io/name": "dcgm-exporter"}, "metrics", "dcgm-exporter-abcde"),
        ]))
        config = without_kubernetes_sd(
            prometheus.build_prometheus_config(stack, prometheus.ScrapeTargets.kubernetes("llm")), sd_file)
        with running_prometheus(tmp_path, config) as server:
            url = server.url
            assert wait_until(lambda: len(query(url, "DCGM_FI_DEV_GPU_UTIL")) == 2
                              and len(query(url, 'up{job="vllm"}')) == 1)
            up = query(url, 'up{job="vllm"}')
            gpu = query(url, "DCGM_FI_DEV_GPU_UTIL")
    assert {k: up[0]["metric"][k] for k in ("deployment", "model", "variant", "pool", "llmstack_role", "pod")} == {
        "deployment": "chat", "model": "m", "variant": "bf16", "pool": "gpu", "llmstack_role": "engine",
        "pod": "chat-5c4b-q1"}
    assert {s["metric"]["pod"]: s["metric"]["deployment"] for s in gpu} == {
        "chat-large-7d9f-x2": "chat-large", "chat-5c4b-q1": "chat"}


def test_router_held_requests_scraped_only_when_a_deployment_may_scale_to_zero(tmp_path: Path) -> None:
    warm = stack_of("chat")
    cold = warm.model_copy(update={"deployments": [warm.deployments[0].model_copy(
        update={"replicas": warm.deployments[0].replicas.model_copy(update={"min": 0})})]})
    targets = prometheus.ScrapeTargets.static({"chat": ["chat-0:8000"]}, router=["router:8404"])
    jobs = {j["job_name"]: j for j in prometheus.build_prometheus_config(cold, targets)["scrape_configs"]}
    assert jobs[prometheus.ROUTER_HELD_JOB]["metrics_path"] == "/held-metrics"
    assert jobs[prometheus.ROUTER_HELD_JOB]["static_configs"] == jobs[prometheus.ROUTER_JOB]["static_configs"]
    assert check_config(prometheus.build_prometheus_config(cold, targets), tmp_path).returncode == 0
    warm_jobs = [j["job_name"] for j in prometheus.build_prometheus_config(warm, targets)["scrape_configs"]]
    assert prometheus.ROUTER_HELD_JOB not in warm_jobs
    kube = prometheus.build_prometheus_config(cold, prometheus.ScrapeTargets.kubernetes("llm"))["scrape_configs"]
    assert [j["metrics_path"] for j in kube if j["job_name"] == prometheus.ROUTER_HELD_JOB] == ["/held-metrics"]
