"""The demo's Prometheus: the real binary with the generated config and rules, engines found by file_sd.

Target changes are file writes (``targets/<deployment>.json``, replaced atomically), which
Prometheus picks up through its file watcher without a reload. :meth:`Monitoring.targets`
reads ``/api/v1/targets`` back so the demo can show (and record) that Prometheus scrapes
exactly the replicas that run.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

from llmstack.artifacts.prometheus import ENGINE_JOB
from llmstack.demo import config, local_http
from llmstack.demo.processes import ManagedProcess, ProcessGroup, find_executable
from llmstack.fileio import atomic_write_text
from llmstack.spec.models import StackSpec


def parse_targets(payload: Mapping[str, object]) -> dict[str, dict[int, str]]:
    """deployment -> {port: health} of the active engine targets in an ``/api/v1/targets`` answer (pure)."""
    out: dict[str, dict[int, str]] = {}
    data = payload.get("data")
    active = data.get("activeTargets", []) if isinstance(data, dict) else []
    for target in active if isinstance(active, list) else []:
        labels = target.get("labels", {}) if isinstance(target, dict) else {}
        if labels.get("job") != ENGINE_JOB or "deployment" not in labels:
            continue
        _, _, port = str(labels.get("instance", "")).rpartition(":")
        if port.isdigit():
            out.setdefault(labels["deployment"], {})[int(port)] = str(target.get("health", "unknown"))
    return out


class Monitoring:
    """One Prometheus process; its config, rules, file_sd targets and data live under ``workdir``."""

    def __init__(self, stack: StackSpec, workdir: Path, ports: config.DemoPorts, group: ProcessGroup) -> None:
        self.stack = stack
        self.workdir = workdir
        self.port = ports.prometheus
        self.ports = ports
        self.group = group
        self.binary = find_executable("prometheus")
        self.process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write_targets(self, deployment: str, ports: Sequence[int]) -> None:
        atomic_write_text(self.workdir / config.file_sd_name(deployment),
                          config.file_sd_text(self.stack, deployment, ports))

    def start(self, replicas: Mapping[str, Sequence[int]]) -> None:
        for deployment, ports in replicas.items():
            self.write_targets(deployment, ports)
        for name, text in config.prometheus_files(self.stack, self.ports, str(self.workdir)).items():
            atomic_write_text(self.workdir / name, text)
        self.process = self.group.start(ManagedProcess("prometheus", [
            self.binary, f"--config.file={self.workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.workdir / 'prometheus-data'}",
            f"--web.listen-address=127.0.0.1:{self.port}", "--storage.tsdb.retention.time=1d",
            "--log.level=warn"], self.workdir / "logs" / "prometheus.log", cwd=self.workdir))
        self.process.wait_http(f"{self.url}/-/ready", timeout_s=60)

    def targets(self) -> dict[str, dict[int, str]]:
        """deployment -> {port: health} that Prometheus scrapes now (empty if it does not answer)."""
        try:
            response = local_http.get(f"{self.url}/api/v1/targets", params={"state": "active"}, timeout=3.0)
            return parse_targets(response.json()) if response.status_code == 200 else {}
        except (httpx.HTTPError, ValueError):
            return {}

    def wait_targets(self, deployment: str, expected: set[int], timeout_s: float = 10.0,
                     healthy: bool = True) -> float | None:
        """Seconds until Prometheus scrapes exactly ``expected`` (all ``up`` when ``healthy``); None on timeout."""
        started = time.monotonic()
        while time.monotonic() - started < timeout_s:
            seen = self.targets().get(deployment, {})
            if set(seen) == expected and (not healthy or all(h == "up" for h in seen.values())):
                return time.monotonic() - started
            time.sleep(0.2)
        return None
