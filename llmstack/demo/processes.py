"""Child processes the demo (and tests) start: find them, start them, wait, stop them.

Every process is started in its own session so that stopping it also stops its
children (HAProxy's master-worker mode forks workers), and every one is stopped when
its :class:`ProcessGroup` closes, on normal exit, on error and on Ctrl-C.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx

from llmstack.demo import local_http
from llmstack.engine import launcher
from llmstack.errors import LlmstackError

EXTRA_BIN_DIRS = ("/usr/sbin", "/usr/local/sbin", "/sbin")
"""Debian installs haproxy in /usr/sbin, which is not on a normal user's PATH."""

INSTALL_HINTS = {
    "haproxy": "install it with: sudo apt-get install haproxy (or run scripts/bootstrap.sh)",
    "prometheus": "install it with: sudo apt-get install prometheus (or run scripts/bootstrap.sh)",
    "promtool": "install it with: sudo apt-get install prometheus (or run scripts/bootstrap.sh)",
}


def find_executable(name: str) -> str:
    """Absolute path of ``name`` on PATH or in the sbin folders; a clear error if absent."""
    found = shutil.which(name)
    if found is None:
        for folder in EXTRA_BIN_DIRS:
            candidate = Path(folder) / name
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
        raise LlmstackError(f"{name} was not found on PATH", hint=INSTALL_HINTS.get(name, f"install {name}"))
    return found


free_port = launcher.free_port
"""One free-port helper for the demo and the engines (the demo's modules import it from here)."""


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


@dataclass
class ManagedProcess:
    """One child process with its log file."""

    name: str
    argv: Sequence[str]
    log_path: Path
    cwd: Path | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def start(self) -> ManagedProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        try:
            self.process = subprocess.Popen(
                list(self.argv), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.cwd, start_new_session=True,
            )
        finally:
            log.close()
        return self

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError(f"{self.name} was not started")
        return self.process.pid

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def wait_http(self, url: str, timeout_s: float = 30.0, expect: int = 200) -> None:
        """Wait until ``url`` answers ``expect``; raise with the log tail if the process dies or times out."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.running():
                raise LlmstackError(f"{self.name} exited during start-up", hint=self.log_tail())
            try:
                if local_http.get(url, timeout=1.0).status_code == expect:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise LlmstackError(f"{self.name} did not answer {url} within {timeout_s:.0f} s", hint=self.log_tail())

    def signal(self, signum: int) -> None:
        if self.running():
            assert self.process is not None
            os.kill(self.process.pid, signum)

    def stop(self, timeout_s: float = 5.0) -> None:
        """SIGTERM the process group, then SIGKILL whatever is left after ``timeout_s``."""
        if self.process is not None:
            launcher.stop_process_group(self.process, timeout_s)


class ProcessGroup:
    """Starts processes and guarantees they are all stopped when the group closes."""

    def __init__(self) -> None:
        self.processes: list[ManagedProcess] = []

    def start(self, proc: ManagedProcess) -> ManagedProcess:
        self.processes.append(proc)
        return proc.start()

    def pids(self) -> list[int]:
        return [p.pid for p in self.processes if p.process is not None]

    def close(self) -> None:
        for proc in reversed(self.processes):
            proc.stop()

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
