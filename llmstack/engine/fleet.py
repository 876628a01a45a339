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

from llmstack.engine.launcher import EngineConfig, VllmEngine
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
        self.started_pids: list[int] = []
        """Process groups of every engine this fleet started, stopped ones included."""
        self._starting: list[VllmEngine] = []
        self._stopped = False

    @property
    def ports(self) -> list[int]:
        return sorted(self.replicas)

    def pids(self) -> list[int]:
        return [e.pid for p, e in self.replicas.items() if p not in self._adopted and e.process is not None]

    def _start(self, count: int) -> list[int]:
        log_dir = self.log_dir / f"batch-{self._counter}"
        self._counter += 1
        engines = [VllmEngine(self.config, log_dir / f"vllm-{i}.log") for i in range(count)]
        self._starting += engines
        try:
            for engine in engines:
                engine.start()
                self.started_pids.append(engine.pid)
            for engine in engines:
                engine.wait_ready(self.ready_timeout_s)
        except BaseException:
            for engine in engines:
                engine.stop()
            raise
        finally:
            self._starting = [e for e in self._starting if e not in engines]
        if self._stopped:  # stop() came while these started
            for engine in engines:
                engine.stop()
            raise LlmstackError("the fleet was stopped while its engines started")
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

    def add_replicas(self, count: int) -> list[int]:
        """Start ``count`` more engines together and wait until all are healthy; returns their ports."""
        return self._start(count) if count > 0 else []

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
                pass  # a starved API server answers /metrics late (2 s seen on 2 cores): keep waiting
            time.sleep(0.5)
        if port not in self._adopted:
            engine.stop()

    def stop(self) -> None:
        """Stop every engine the fleet started, running or starting (adopted ones keep running)."""
        self._stopped = True
        for engine in list(self._starting):
            engine.stop()
        for port, engine in list(self.replicas.items()):
            if port not in self._adopted:
                engine.stop()
        self.replicas = {p: e for p, e in self.replicas.items() if p in self._adopted}
