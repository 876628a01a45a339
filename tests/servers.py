"""Real Prometheus for the tests, on 127.0.0.1 at a free port, always stopped.

Built on the demo's process management (:mod:`llmstack.demo.processes`), so the tests
start, wait for and stop Prometheus exactly as the demo does.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import yaml

from llmstack.demo.processes import ManagedProcess, find_executable, free_port

__all__ = ["PrometheusProcess", "free_port", "query", "running_prometheus"]


def query(url: str, expr: str) -> list[dict[str, Any]]:
    """The ``data.result`` of an instant query ([] while Prometheus cannot answer)."""
    try:
        reply = httpx.get(f"{url}/api/v1/query", params={"query": expr}, timeout=5)
    except httpx.TransportError:
        return []
    return list(reply.json()["data"]["result"]) if reply.status_code == 200 else []


class PrometheusProcess:
    def __init__(self, process: ManagedProcess, url: str) -> None:
        self.process = process
        self.url = url

    def stop(self) -> None:
        self.process.stop(timeout_s=10)

    def wait_for(self, expr: str, check: Callable[[list[dict[str, Any]]], bool], timeout: float = 30) -> None:
        """Poll ``expr`` until ``check`` accepts the answer; fail with the last answer after ``timeout``."""
        deadline = time.monotonic() + timeout
        last: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            last = query(self.url, expr)
            if check(last):
                return
            time.sleep(0.25)
        raise AssertionError(f"{expr} never satisfied the check; last answer {last}")


@contextlib.contextmanager
def running_prometheus(folder: Path, config: Mapping[str, Any], rules: Mapping[str, Any] | None = None,
                       extra_args: tuple[str, ...] = ()) -> Iterator[PrometheusProcess]:
    """``/usr/bin/prometheus`` with ``config`` (and rule files ``rules/<name>``) in ``folder``."""
    if rules:
        (folder / "rules").mkdir(exist_ok=True)
        for name, data in rules.items():
            (folder / "rules" / name).write_text(yaml.safe_dump(data, sort_keys=False))
    (folder / "prometheus.yml").write_text(yaml.safe_dump(dict(config), sort_keys=False))
    port = free_port()
    process = ManagedProcess("prometheus", [
        find_executable("prometheus"), "--config.file=prometheus.yml", f"--storage.tsdb.path={folder / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=1d", *extra_args,
    ], folder / "prometheus.log", cwd=folder)
    server = PrometheusProcess(process, f"http://127.0.0.1:{port}")
    try:
        process.start().wait_http(f"{server.url}/-/ready", timeout_s=30)
        yield server
    finally:
        server.stop()
