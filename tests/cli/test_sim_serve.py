"""``llmstack sim serve`` prints a ready Prometheus scrape config for the replicas it started.

Design note: the config is checked by the real promtool (``check config``), and its targets
must be exactly the ports the command reports; the labels are the ones every recorded signal
groups by (``deployment``), so the policy engine's queries work against it unchanged.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import EXAMPLE_SPEC

PROMTOOL = "/usr/bin/promtool"


def test_sim_serve_writes_a_scrape_config_promtool_accepts(tmp_path: Path) -> None:
    config_path = tmp_path / "prometheus.yml"
    result = subprocess.run(
        [sys.executable, "-m", "llmstack", "sim", "serve", "--spec", str(EXAMPLE_SPEC), "--deployment", "chat",
         "--replicas", "2", "--port-base", "0", "--duration", "0.5", "--scrape-config", str(config_path), "--json"],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    written = yaml.safe_load(config_path.read_text())
    assert written == printed["scrape_config"]
    (job,) = written["scrape_configs"]
    (group,) = job["static_configs"]
    assert group["targets"] == [f"127.0.0.1:{p}" for p in printed["ports"]]
    assert group["labels"]["deployment"] == "chat"
    check = subprocess.run([PROMTOOL, "check", "config", str(config_path)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
