"""Assessment against a real Prometheus scraping vLLM-format exporters.

Design note: the exporters are the policy tests' fake engines (tests/policy/servers.py);
the scrape config gives them the ``deployment`` label exactly as the generated config does.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmstack.assess import analysis, observing
from llmstack.metrics.reading import PrometheusReader
from llmstack.spec.loading import load_spec
from tests.conftest import EXAMPLE_SPEC
from tests.policy.servers import PrometheusProcess, prometheus_config, running_exporters, running_prometheus


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusProcess]:
    tmp = tmp_path_factory.mktemp("assess")
    with running_exporters(3) as engines:
        for e in engines[:2]:  # chat: 2 replicas, 1.5 req/s each, queueing
            e.set(rps=1.5, ttft=1.5, queue=4, running=20, kv=0.5, prompt=800, output=200)
        engines[2].set(rps=0.5, ttft=0.4, queue=0, running=3, kv=0.2, prompt=2000, output=500)
        config = prometheus_config({"chat": [engines[0].port, engines[1].port], "reasoning": [engines[2].port]})
        with running_prometheus(tmp, config) as prom:
            prom.wait_for('sum by (deployment) (rate(vllm:request_success_total[10s]))',
                          lambda r: len(r) == 2 and all(float(x["value"][1]) > 0 for x in r))
            time.sleep(11)  # let the samples cover the whole 10 s window
            yield prom


def test_window_observations_one_query_per_quantity(prometheus: PrometheusProcess) -> None:
    stack = load_spec(EXAMPLE_SPEC)
    seen = observing.observe(PrometheusReader(prometheus.url), stack, window="10s")
    # 10 quantities + one attainment query per distinct (histogram, bucket): both SLOs fall on the
    # 1.0 s TTFT bucket and the 0.05 s TPOT bucket, so two queries serve both deployments
    assert seen.queries == 10 + 2
    by_name = {o.deployment: o for o in seen.observations}
    chat = by_name["chat"]
    assert chat.replicas == pytest.approx(2, abs=0.01)
    assert chat.request_rate == pytest.approx(3.0, rel=0.35)
    assert chat.prompt_tokens_per_request == pytest.approx(800, rel=0.01)
    assert chat.output_tokens_per_request == pytest.approx(200, rel=0.01)
    assert chat.queue_length == pytest.approx(8, abs=0.01)
    assert chat.ttft_attainment == 0.0  # every TTFT is 1.5 s, the SLO is 1 s
    assert by_name["reasoning"].ttft_attainment == 1.0
    assert seen.bounds["chat"][0] == 1.0
    assert math.isnan(chat.gpu_utilization)  # no DCGM exporter here: reported missing, not zero


def test_assessment_finds_queueing_and_prices_more_replicas(prometheus: PrometheusProcess) -> None:
    stack = load_spec(EXAMPLE_SPEC)
    seen = observing.observe(PrometheusReader(prometheus.url), stack, window="10s")
    chat = next(a for a in analysis.assess(stack, seen.observations) if a.deployment == "chat")
    assert chat.bottleneck == "queueing"
    assert chat.slo_attainment == 0.0
    replicas = next(lv for lv in chat.levers if lv.name == "replicas")
    assert replicas.replicas_needed is not None and replicas.replicas_needed >= 2


def test_assess_cli_json_report(prometheus: PrometheusProcess, tmp_path: Path) -> None:
    smi = tmp_path / "smi.csv"
    smi.write_text("index, name, memory.total [MiB]\n0, NVIDIA L4, 23034 MiB\n1, NVIDIA L4, 23034 MiB\n")
    starter = tmp_path / "starter.yaml"
    result = subprocess.run(
        [sys.executable, "-m", "llmstack", "assess", "--prometheus", prometheus.url, "--spec", str(EXAMPLE_SPEC),
         "--window", "10s", "--nvidia-smi", str(smi), "--starter-spec", str(starter), "--json"],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [d["deployment"] for d in report["deployments"]] == ["chat", "reasoning"]
    assert report["deployments"][0]["bottleneck"] == "queueing"
    assert report["hardware"][0]["accelerator"] == "L4" and report["hardware"][0]["gpus_per_node"] == 2
    assert load_spec(starter).pools[0].accelerator == "L4"


def test_assess_cli_bad_window_exit_2() -> None:
    result = subprocess.run([sys.executable, "-m", "llmstack", "assess", "--prometheus", "http://127.0.0.1:9",
                             "--spec", str(EXAMPLE_SPEC), "--window", "an hour"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "--window" in result.stderr and "Traceback" not in result.stderr
