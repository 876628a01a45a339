"""``llmstack demo`` end to end, as a user runs it: a subprocess with real HAProxy and Prometheus.

One run (40 wall seconds at x10, the chat trace bursting in its second quarter) is shared by
the tests of this module; a second run is interrupted with SIGINT. Design notes:

- The test policy (tests/data/demo/fast.yaml, over default.yaml and demo.yaml) shortens the
  scale-in stabilization to 30 simulated seconds so 400 simulated seconds hold a scale-out and a
  scale-in; the policy runs on the simulated clock, so these are 3 wall seconds.
- "Router and Prometheus follow the replica set" is checked three ways: the final haproxy.cfg
  servers and file_sd files equal the final replicas; the live router (its stats page) listed
  them at the end; and every replica a scale-out added was listed by Prometheus'
  /api/v1/targets (healthy) during the run, as the demo recorded it.
- Child processes: the demo reports the pid of every child it started (HAProxy master, Prometheus,
  load generator); each was started in its own session, so besides the pid itself no process may
  be left in that session (HAProxy workers, old workers still draining after a reload).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import EXAMPLE_SPEC, ROOT

POLICIES = [ROOT / "policies" / "default.yaml", ROOT / "policies" / "demo.yaml",
            ROOT / "tests" / "data" / "demo" / "fast.yaml"]


def demo_command(workdir: Path, duration: float) -> list[str]:
    argv = [sys.executable, "-m", "llmstack", "demo", "--json", "--spec", str(EXAMPLE_SPEC),
            "--workdir", str(workdir), "--duration", str(duration), "--speed", "10"]
    for policy in POLICIES:
        argv += ["--policy", str(policy)]
    return argv


def sessions_alive(pids: list[int]) -> list[int]:
    """Processes that still exist and belong to one of the sessions led by ``pids``."""
    alive: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        state, session = fields[0], int(fields[3])
        if session in pids and state != "Z":
            alive.append(int(entry.name))
    return alive


def pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    workdir = tmp_path_factory.mktemp("demo")
    done = subprocess.run(demo_command(workdir, 40), capture_output=True, text=True, timeout=150, cwd=ROOT,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout), workdir


@pytest.mark.slow
def test_demo_scales_out_and_in_under_a_burst(demo_run: tuple[dict[str, Any], Path]) -> None:
    summary, _ = demo_run
    chat = next(d for d in summary["deployments"] if d["deployment"] == "chat")
    kinds = [c["kind"] for c in summary["changes"] if c["deployment"] == "chat"]
    assert "out" in kinds and "in" in kinds, summary["changes"]
    assert chat["scale_outs"] >= 1 and chat["scale_ins"] >= 1
    assert chat["replicas_peak"] > chat["replicas_initial"]
    assert chat["requests_sent"] > 100 and chat["requests_succeeded"] >= 0.99 * chat["requests_sent"]
    assert summary["errors"] == []
    applied = [d for d in summary["decisions"] if d["outcome"] == "applied"]
    assert applied and all(d["reason"] for d in applied)


@pytest.mark.slow
def test_demo_idles_a_deployment_to_zero_and_wakes_it_with_no_request_lost(
        demo_run: tuple[dict[str, Any], Path]) -> None:
    summary, _ = demo_run
    reasoning = next(d for d in summary["deployments"] if d["deployment"] == "reasoning")
    moves = [(c["before"], c["after"]) for c in summary["changes"] if c["deployment"] == "reasoning"]
    assert (1, 0) in moves and any(before == 0 < after for before, after in moves), moves
    assert reasoning["cold_starts"] >= 1 and reasoning["held_requests"] >= 1
    assert reasoning["requests_succeeded"] == reasoning["requests_sent"], reasoning["failures"]
    assert reasoning["held_ttft_p95_s"] is not None and reasoning["held_ttft_p95_s"] > 0
    rules = {d["rule"] for d in summary["decisions"] if d["deployment"] == "reasoning" and d["outcome"] == "applied"}
    assert {"idle-to-zero", "wake-from-zero"} <= rules, rules


@pytest.mark.slow
def test_demo_router_config_and_file_sd_match_final_replicas(demo_run: tuple[dict[str, Any], Path]) -> None:
    summary, workdir = demo_run
    final = summary["final"]["replicas"]
    config = (workdir / "haproxy.cfg").read_text()
    for deployment, ports in final.items():
        backend = config.split(f"backend be_{deployment}\n", 1)[1].split("\nbackend ", 1)[0]
        servers = sorted(int(p) for p in re.findall(r"server \S+ 127\.0\.0\.1:(\d+)", backend))
        assert servers == ports, (deployment, backend)
        targets = json.loads((workdir / "targets" / f"{deployment}.json").read_text())
        assert sorted(int(t.rsplit(":", 1)[1]) for e in targets for t in e["targets"]) == ports
        assert summary["final"]["router_servers"][f"be_{deployment}"] == sorted(f"{deployment}-{p}" for p in ports)
    scaling = yaml.safe_load((workdir / "Pulumi.demo.yaml").read_text())["config"]["llmstack:scaling"]
    assert scaling["chat"]["replicas"] == len(final["chat"])


@pytest.mark.slow
def test_demo_prometheus_scraped_every_added_replica(demo_run: tuple[dict[str, Any], Path]) -> None:
    summary, _ = demo_run
    followed = summary["prometheus"]["targets_followed"]
    added = [f"{c['deployment']}:{p}" for c in summary["changes"] if c["kind"] == "out" for p in c["added_ports"]]
    assert added and sorted(followed) == sorted(added)
    # Prometheus applies discovery changes at most every 5 wall seconds: judge replicas that stayed registered
    # 8 wall s (added that long before the end, and not removed sooner: the policy may scale in a replica it
    # has just added, since it acts while replicas start)
    settle_s = 8 * summary["speed"]
    removed = {f"{c['deployment']}:{p}": c["t_s"] for c in summary["changes"] if c["kind"] == "in"
               for p in c["removed_ports"]}
    settled = [k for k, v in followed.items()
               if min(removed.get(k, summary["simulated_s"]), summary["simulated_s"]) - v["added_t_s"] >= settle_s]
    assert settled and all(followed[k]["seen"] and followed[k]["healthy"] for k in settled), (followed,
                                                                                              summary["changes"])


@pytest.mark.slow
def test_demo_leaves_no_child_process_and_writes_plot(demo_run: tuple[dict[str, Any], Path]) -> None:
    summary, workdir = demo_run
    assert len(summary["pids"]) == 3  # haproxy master, prometheus, load generator
    assert not [p for p in summary["pids"] if pid_exists(p)]
    assert sessions_alive(summary["pids"]) == []
    assert (workdir / "demo.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_demo_sigint_stops_everything_cleanly(tmp_path: Path) -> None:
    process = subprocess.Popen(demo_command(tmp_path, 60), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "load-results.jsonl").exists() or len(
                (tmp_path / "load-results.jsonl").read_text().splitlines()) < 5:
            assert process.poll() is None, process.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "the demo did not start sending load"
            time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, err[-3000:]
    summary = json.loads(out)
    assert summary["interrupted"] is True
    assert len(summary["pids"]) == 3
    assert not [p for p in summary["pids"] if pid_exists(p)]
    assert sessions_alive(summary["pids"]) == []
    assert "Traceback" not in err
