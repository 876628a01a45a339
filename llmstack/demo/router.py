"""The demo's router: the real HAProxy in master-worker mode, reloaded when the replica set changes.

``haproxy -W -f haproxy.cfg`` runs a master that forks the worker. The replica set changes
through HAProxy's runtime API (the admin socket), with no reload: :meth:`Router.add_server`
registers a server and turns its health checks on; :meth:`Router.drain_server` sets it to
``drain`` (no new requests, the ones it serves go on) and :meth:`Router.sessions` reads its
open sessions, so the caller stops a replica only once the router has none on it; then
:meth:`Router.remove_server` deletes it. A reload would hand the old worker's sessions to a
process the stats page no longer shows, and a request it holds for a deployment at zero
replicas (:mod:`llmstack.artifacts.haproxy_hold`) would never see the new server. The
configuration file is still checked (``haproxy -c``) and rewritten after each change, so
it always describes the running router. :meth:`Router.servers` reads the live server list
back from the stats page (``/stats;csv``) so callers can wait until the router follows.
"""

from __future__ import annotations

import csv
import hashlib
import io
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx

from llmstack.artifacts import haproxy_hold
from llmstack.demo import local_http
from llmstack.demo.processes import ManagedProcess, ProcessGroup, find_executable
from llmstack.errors import LlmstackError
from llmstack.fileio import atomic_write_text

CONFIG_NAME = "haproxy.cfg"
SOCKET_NAME = "haproxy.sock"
MAX_SOCKET_PATH = 100
"""A Unix socket's path must fit ``sun_path`` (108 bytes on Linux)."""


def runtime_socket_path(workdir: Path) -> Path:
    """The admin socket in ``workdir``, or in /tmp under a name derived from it when the path is too long."""
    path = workdir.resolve() / SOCKET_NAME
    if len(str(path)) <= MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:16]
    return Path("/tmp") / f"llmstack-haproxy-{digest}.sock"


def parse_sessions_csv(text: str) -> dict[tuple[str, str], int]:
    """(backend, server) -> its open plus queued sessions, from HAProxy's ``/stats;csv`` (pure)."""
    out: dict[tuple[str, str], int] = {}
    for row in csv.DictReader(io.StringIO(text.lstrip("# "))):
        proxy, server = row.get("pxname"), row.get("svname")
        if not proxy or not server or server in ("FRONTEND", "BACKEND"):
            continue
        out[(proxy, server)] = int(row.get("scur") or 0) + int(row.get("qcur") or 0)
    return out


def parse_stats_csv(text: str) -> dict[str, set[str]]:
    """backend -> its server names, from HAProxy's ``/stats;csv`` (pure)."""
    out: dict[str, set[str]] = {}
    for proxy, server in parse_sessions_csv(text):
        out.setdefault(proxy, set()).add(server)
    return out


class Router:
    """One HAProxy master-worker process with its configuration file in ``workdir``."""

    def __init__(self, workdir: Path, stats_port: int, group: ProcessGroup) -> None:
        self.workdir = workdir
        self.config_path = workdir / CONFIG_NAME
        self.socket_path = runtime_socket_path(workdir)
        """The admin socket: the configuration must name it (``HaproxyOptions.runtime_socket``)."""
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

    @property
    def hold_script_path(self) -> Path:
        """Where :meth:`start` writes the hold's Lua script (the configuration's ``lua-load`` names it)."""
        return self.workdir.resolve() / haproxy_hold.SCRIPT_NAME

    def start(self, config: str, health_url: str) -> None:
        atomic_write_text(self.hold_script_path, haproxy_hold.HOLD_SCRIPT)
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

    def write_config(self, config: str) -> None:
        """Check and write ``config`` without reloading: it describes what the runtime API already did."""
        self.check(config)
        atomic_write_text(self.config_path, config)

    def command(self, line: str, timeout_s: float = 5.0) -> str:
        """One runtime API command on the admin socket; HAProxy's answer (empty when it has nothing to say)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout_s)
            try:
                sock.connect(str(self.socket_path))
                sock.sendall(line.encode() + b"\n")
                chunks = []
                while chunk := sock.recv(65536):
                    chunks.append(chunk)
            except OSError as exc:
                raise LlmstackError(f"haproxy's runtime API did not answer {line.split()[0:3]}: {exc}",
                                    path=str(self.socket_path)) from exc
        return b"".join(chunks).decode(errors="replace").strip()

    def add_server(self, backend: str, server: str, address: str, check: str) -> None:
        """Register ``server`` at ``address`` in ``backend`` with health checks ``check`` (e.g. ``inter 1s
        fall 3 rise 1``: dynamic servers do not inherit ``default-server``) and let it take requests."""
        answer = self.command(f"add server {backend}/{server} {address} check {check}")
        if "New server registered" not in answer:
            raise LlmstackError(f"haproxy refused server {backend}/{server}: {answer}", path=str(self.config_path))
        for line in (f"enable health {backend}/{server}", f"enable server {backend}/{server}"):
            if answer := self.command(line):
                raise LlmstackError(f"haproxy: {line}: {answer}", path=str(self.config_path))

    def drain_server(self, backend: str, server: str) -> None:
        """No new requests for ``server``; the ones it serves go on."""
        if answer := self.command(f"set server {backend}/{server} state drain"):
            raise LlmstackError(f"haproxy could not drain {backend}/{server}: {answer}", path=str(self.config_path))

    def _stats_csv(self) -> str | None:
        """The live ``/stats;csv`` page; None when the router does not answer."""
        try:
            response = local_http.get(f"http://127.0.0.1:{self.stats_port}/stats;csv", timeout=2.0)
        except httpx.HTTPError:
            return None
        return response.text if response.status_code == 200 else None

    def sessions(self, backend: str, server: str) -> int | None:
        """Open plus queued sessions on ``server``; None when the router does not answer or lists no such server."""
        text = self._stats_csv()
        return None if text is None else parse_sessions_csv(text).get((backend, server))

    def remove_server(self, backend: str, server: str, timeout_s: float = 5.0) -> bool:
        """Put ``server`` in maintenance and delete it; False when it kept connections for ``timeout_s``
        (it then stays in maintenance, taking no requests)."""
        self.command(f"set server {backend}/{server} state maint")
        deadline = time.monotonic() + timeout_s
        while True:
            answer = self.command(f"del server {backend}/{server}")
            if "Server deleted" in answer or "No such server" in answer:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.2)

    def servers(self) -> dict[str, set[str]]:
        """backend -> server names, as the running router reports them (empty if it does not answer)."""
        text = self._stats_csv()
        return {} if text is None else parse_stats_csv(text)

    def wait_servers(self, backend: str, expected: set[str], timeout_s: float = 10.0) -> float | None:
        """Seconds until ``backend`` lists exactly ``expected``; None if it did not within ``timeout_s``."""
        started = time.monotonic()
        while time.monotonic() - started < timeout_s:
            if self.servers().get(backend) == expected:
                return time.monotonic() - started
            time.sleep(0.1)
        return None
