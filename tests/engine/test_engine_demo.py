"""The policy loop scaling real vLLM engines: ``llmstack demo --engine vllm`` end to end.

One run of the demo's whole loop (:class:`~llmstack.demo.run.Demo` with ``engine="vllm"``) on
``examples/stack.yaml``'s chat deployment, capped at 2 replicas here (the demo allows 3): real CPU
engines behind the generated HAProxy, the real
Prometheus with the generated rules, the policy engine deciding every 2 s, a replayed Azure trace
with a 3x burst in the second quarter. The policy must scale the engines 1 -> 2 in the burst and back
to 1 after it, the router and Prometheus must follow every change, no request may fail, and
no engine process may outlive the run. It starts two engines (the initial one, then the
scale-out's), so it is the tier's most expensive test: 3-5 minutes on 2 cores.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from llmstack.demo import engines
from llmstack.demo.run import Demo, DemoOptions
from tests.conftest import EXAMPLE_SPEC, ROOT

DURATION_S = 100.0
"""Burst from 25 to 50 s; a CPU engine takes 35-130 s to start; after the load the run goes on until the fleet
is back at one replica (the scale-in stabilization is 20 s)."""


TARGET_LIFE_S = 5.0
"""A replica up this long (5 scrape intervals) must have been scraped. The policy acts while a scale-out's
replica starts (it counts as starting, not missing), so the scale-in after the burst may remove the
new engine as soon as it is up: a target that lived a second need not have been seen."""


def _lived_s(key: str, target: dict[str, Any], changes: list[dict[str, Any]]) -> float:
    """How long the replica ``key`` (``deployment:port``) stayed registered (to the end of the run if never removed)."""
    port = int(key.rsplit(":", 1)[1])
    removed = [c["t_s"] for c in changes if c["kind"] == "in" and port in c["removed_ports"]]
    return (min(removed) if removed else float("inf")) - target["added_t_s"]


def spec_with_two_replicas_at_most(folder: Path) -> Path:
    data = yaml.safe_load(EXAMPLE_SPEC.read_text())
    chat = next(d for d in data["deployments"] if d["name"] == "chat")
    chat["replicas"] = {"min": 1, "max": 2, "initial": 1}
    path = folder / "stack.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_policy_scales_real_engines_out_in_the_burst_and_back(engine_python: Path, tmp_path: Path) -> None:
    options = DemoOptions(spec=spec_with_two_replicas_at_most(tmp_path), workdir=tmp_path / "demo",
                          duration_s=DURATION_S, speed=1.0, rate=0.4, burst=3.0, engine="vllm",
                          policies=(ROOT / "policies" / "default.yaml", ROOT / "policies" / "demo.yaml",
                                    ROOT / engines.VLLM_POLICY))
    demo = Demo(options)
    summary = demo.run().summary
    assert summary["engine"] == "vllm" and summary["errors"] == [], summary["errors"]
    assert summary["engine_pids_left"] == [], "an engine process outlived the demo"
    assert len(demo.engine_pids) >= 2, "the scale-out started a real engine"
    totals = summary["totals"]
    assert totals["requests_sent"] >= 40
    assert totals["requests_succeeded"] == totals["requests_sent"], summary["deployments"]
    kinds = [(c["kind"], c["before"], c["after"]) for c in summary["changes"]]
    assert kinds == [("out", 1, 2), ("in", 2, 1)], summary["decisions"]
    assert all(c["router_followed_s"] is not None for c in summary["changes"]), summary["changes"]
    followed = summary["prometheus"]["targets_followed"]
    assert followed and all(f["seen"] and f["healthy"] for key, f in followed.items()
                            if _lived_s(key, f, summary["changes"]) >= TARGET_LIFE_S), (followed, summary["changes"])
    final = summary["final"]
    ports = final["replicas"]["chat"]
    assert final["file_sd"]["chat"] == ports and final["prometheus_targets"]["chat"] == ports
    assert final["router_servers"]["be_chat"] == [f"chat-{p}" for p in ports]
