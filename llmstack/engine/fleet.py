"""A deployment's real vLLM replicas: start them, add one, drain and remove one, stop them all.

The same surface as the simulated :class:`~llmstack.sim.server.LiveFleet` (``start``, ``ports``,
``add_replica``, ``remove_replica``, ``stop``), so the demo's reconciler and the engine tests scale
real engines exactly as they scale simulated ones. Adding a replica blocks until its ``/health``
answers (tens of seconds on CPU), as a rollout waits for a pod's readiness. Removing one waits
until the engine reports no running or waiting request (the router stopped sending first), at most
``drain_s``, then stops its process group. Engines passed as ``adopted`` serve as replicas but are
never stopped by the fleet (a test's shared engine).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from llmstack.engine.launcher import EngineConfig, VllmEngine, start_engines
from llmstack.errors import LlmstackError

BUSY_GAUGES = ("vllm:num_requests_running", "vllm:num_requests_waiting")


def requests_in_engine(metrics_text: str) -> float:
    """Running plus waiting requests in one ``/metrics`` exposition."""
    total = 0.0
    for line in metrics_text.splitlines():
        if line.startswith(BUSY_GAUGES):
            total += float(line.rsplit(" ", 1)[1])
    return total


class EngineFleet:
    """Real vLLM replicas of one deployment, keyed by port."""

    def __init__(self, config: EngineConfig, log_dir: Path, *, replicas: int = 1, ready_timeout_s: float = 300.0,
                 adopted: Sequence[VllmEngine] = ()) -> None:
        self.config = config
        self.log_dir = log_dir
        self.initial = replicas
        self.ready_timeout_s = ready_timeout_s
        self.replicas: dict[int, VllmEngine] = {e.port: e for e in adopted}
        self._adopted = {e.port for e in adopted}
        self._counter = 0

    @property
    def ports(self) -> list[int]:
        return sorted(self.replicas)

    def pids(self) -> list[int]:
        return [e.pid for p, e in self.replicas.items() if p not in self._adopted and e.process is not None]

    def _start(self, count: int) -> list[int]:
        log_dir = self.log_dir / f"batch-{self._counter}"
        self._counter += 1
        engines = start_engines([self.config] * count, log_dir, self.ready_timeout_s)
        for engine in engines:
            self.replicas[engine.port] = engine
        return [e.port for e in engines]

    def start(self) -> list[int]:
        """Start the initial replicas (all at once, beside any adopted ones); returns every port."""
        missing = self.initial - len(self.replicas)
        if missing > 0:
            self._start(missing)
        return self.ports

    def add_replica(self) -> int:
        """Start one more engine and wait until it is healthy; returns its port."""
        return self._start(1)[0]

    def remove_replica(self, port: int, drain_s: float = 30.0) -> None:
        """Wait (at most ``drain_s``) until the engine on ``port`` is idle, then stop it."""
        engine = self.replicas.pop(port, None)
        if engine is None:
            raise LlmstackError(f"no vLLM replica on port {port}", hint=f"ports are {self.ports}")
        deadline = time.monotonic() + drain_s
        while time.monotonic() < deadline and engine.running():
            try:
                if requests_in_engine(httpx.get(f"{engine.url}/metrics", timeout=5).text) == 0:
                    break
            except httpx.HTTPError:
                break
            time.sleep(0.5)
        if port not in self._adopted:
            engine.stop()

    def stop(self) -> None:
        """Stop every engine the fleet started (adopted ones keep running)."""
        for port, engine in list(self.replicas.items()):
            if port not in self._adopted:
                engine.stop()
        self.replicas = {p: e for p, e in self.replicas.items() if p in self._adopted}
