"""The demo's router: the real HAProxy in master-worker mode, reloaded when the replica set changes.

``haproxy -W -f haproxy.cfg`` runs a master that forks the worker. A new configuration is
checked first (``haproxy -c``), written atomically, and the master gets ``SIGUSR2``: it
starts a new worker on the same listening sockets and lets the old one finish the streams
it is serving, so a reload drops no connection. :meth:`Router.servers` reads the live
server list back from the stats page (``/stats;csv``) so callers can wait until the
router really follows the replica set.
"""

from __future__ import annotations

import csv
import io
import signal
import subprocess
import time
from pathlib import Path

import httpx

from llmstack.demo import local_http
from llmstack.demo.processes import ManagedProcess, ProcessGroup, find_executable
from llmstack.errors import LlmstackError
from llmstack.fileio import atomic_write_text

CONFIG_NAME = "haproxy.cfg"


def parse_stats_csv(text: str) -> dict[str, set[str]]:
    """backend -> its server names, from HAProxy's ``/stats;csv`` (pure)."""
    out: dict[str, set[str]] = {}
    reader = csv.DictReader(io.StringIO(text.lstrip("# ")))
    for row in reader:
        proxy, server = row.get("pxname"), row.get("svname")
        if not proxy or not server or server in ("FRONTEND", "BACKEND"):
            continue
        out.setdefault(proxy, set()).add(server)
    return out


class Router:
    """One HAProxy master-worker process with its configuration file in ``workdir``."""

    def __init__(self, workdir: Path, stats_port: int, group: ProcessGroup) -> None:
        self.workdir = workdir
        self.config_path = workdir / CONFIG_NAME
        self.stats_port = stats_port
        self.group = group
        self.binary = find_executable("haproxy")
        self.process: ManagedProcess | None = None
        self.reloads = 0

    def check(self, config: str) -> None:
        """Raise with HAProxy's own message when ``config`` does not parse."""
        candidate = self.workdir / f".{CONFIG_NAME}.check"
        candidate.write_text(config, encoding="utf-8")
        try:
            done = subprocess.run([self.binary, "-c", "-q", "-f", str(candidate)], capture_output=True, text=True,
                                  timeout=30, check=False)
        finally:
            candidate.unlink(missing_ok=True)
        if done.returncode != 0:
            raise LlmstackError("haproxy rejected the generated configuration", path=str(self.config_path),
                                hint=(done.stdout + done.stderr).strip()[-2000:])

    def start(self, config: str, health_url: str) -> None:
        self.check(config)
        atomic_write_text(self.config_path, config)
        self.process = self.group.start(ManagedProcess(
            "haproxy", [self.binary, "-W", "-f", str(self.config_path)], self.workdir / "logs" / "haproxy.log"))
        self.process.wait_http(health_url, timeout_s=15)

    def reload(self, config: str) -> None:
        """Check, write and hot-reload ``config`` (SIGUSR2 to the master)."""
        if self.process is None or not self.process.running():
            raise LlmstackError("haproxy is not running", hint=self.process.log_tail() if self.process else None)
        self.check(config)
        atomic_write_text(self.config_path, config)
        self.process.signal(signal.SIGUSR2)
        self.reloads += 1

    def servers(self) -> dict[str, set[str]]:
        """backend -> server names, as the running router reports them (empty if it does not answer)."""
        try:
            response = local_http.get(f"http://127.0.0.1:{self.stats_port}/stats;csv", timeout=2.0)
        except httpx.HTTPError:
            return {}
        return parse_stats_csv(response.text) if response.status_code == 200 else {}

    def wait_servers(self, backend: str, expected: set[str], timeout_s: float = 10.0) -> float | None:
        """Seconds until ``backend`` lists exactly ``expected``; None if it did not within ``timeout_s``."""
        started = time.monotonic()
        while time.monotonic() - started < timeout_s:
            if self.servers().get(backend) == expected:
                return time.monotonic() - started
            time.sleep(0.1)
        return None
