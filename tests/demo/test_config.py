"""The demo's generated configuration: HAProxy accepts it, Prometheus' file_sd and rules are what the engine reads."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import yaml

from llmstack.demo import config
from llmstack.demo.processes import find_executable
from llmstack.spec.models import StackSpec

PORTS = config.DemoPorts(router=18080, router_stats=18404, prometheus=19090)


def test_demo_stack_scrapes_every_second(example_stack: StackSpec) -> None:
    stack = config.demo_stack(example_stack)
    assert (stack.monitoring.scrape_interval, stack.monitoring.evaluation_interval) == ("1s", "1s")
    assert example_stack.monitoring.scrape_interval == "15s"  # the original is untouched


def test_haproxy_config_lists_replicas_and_passes_haproxy_check(example_stack: StackSpec, tmp_path: Path) -> None:
    text = config.haproxy_config(example_stack, "gateway", {"chat": [20002, 20001], "reasoning": [20010]}, PORTS)
    chat = text.split("backend be_chat\n", 1)[1].split("\nbackend ", 1)[0]
    assert re.findall(r"server (\S+) 127\.0\.0\.1:(\d+)", chat) == [("chat-20001", "20001"), ("chat-20002", "20002")]
    assert "bind 127.0.0.1:18080" in text and "0.0.0.0" not in text
    path = tmp_path / "haproxy.cfg"
    path.write_text(text)
    done = subprocess.run([find_executable("haproxy"), "-c", "-q", "-f", str(path)], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr


def test_file_sd_carries_engine_labels_and_empty_set_is_a_list(example_stack: StackSpec) -> None:
    [group] = json.loads(config.file_sd_text(example_stack, "chat", [9001, 9000]))
    assert group["targets"] == ["127.0.0.1:9000", "127.0.0.1:9001"]
    assert group["labels"]["deployment"] == "chat" and group["labels"]["llmstack_role"] == "engine"
    assert json.loads(config.file_sd_text(example_stack, "chat", [])) == []


def test_prometheus_files_read_file_sd_and_pass_promtool(example_stack: StackSpec, tmp_path: Path) -> None:
    stack = config.demo_stack(example_stack)
    files = config.prometheus_files(stack, PORTS, str(tmp_path))
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    prom = yaml.safe_load(files["prometheus.yml"])
    engine = next(j for j in prom["scrape_configs"] if j["job_name"] == "vllm")
    assert engine["file_sd_configs"][0]["files"] == [f"{tmp_path}/targets/*.json"]
    assert prom["global"]["scrape_interval"] == "1s"
    done = subprocess.run([find_executable("promtool"), "check", "config", str(tmp_path / "prometheus.yml")],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
