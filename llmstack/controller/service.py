"""The controller's HTTP endpoints: ``/metrics`` (Prometheus text), ``/healthz`` and ``/readyz``.

- ``/metrics``: the controller's registry: ``llmstack_desired_replicas`` (KEDA fast path) and
  the loop's own counters (cycles by outcome, the time of the last cycle).
- ``/readyz``: 200 once the first cycle has finished (its metrics exist), 503 before.
- ``/healthz``: 200 while cycles keep finishing (the last one less than three intervals plus a
  minute ago, or the process started less than that ago); 503 when the loop is stuck, so the
  kubelet restarts the pod.

A standard-library ``ThreadingHTTPServer`` in a daemon thread; it binds the address given
(127.0.0.1 by default; the pod passes 0.0.0.0).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, generate_latest

from llmstack.errors import LlmstackError

GRACE_S = 60.0


@dataclass
class Health:
    """Liveness and readiness from the loop's progress (``clock``: tests drive it)."""

    interval_s: float
    clock: Callable[[], float] = time.monotonic
    started: float = field(default=0.0)
    last_cycle: float | None = None

    def __post_init__(self) -> None:
        self.started = self.started or self.clock()

    def cycle_done(self) -> None:
        self.last_cycle = self.clock()

    @property
    def ready(self) -> bool:
        return self.last_cycle is not None

    @property
    def live(self) -> bool:
        since = self.last_cycle if self.last_cycle is not None else self.started
        return self.clock() - since < 3 * self.interval_s + GRACE_S


class LoopMetrics:
    """The loop's own series on the controller's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.cycles = Counter("llmstack_controller_cycles", "Policy cycles by outcome "
                              "(applied, recommended, idle, metrics_failed, apply_failed)", ["outcome"],
                              registry=registry)
        self.last_cycle = Gauge("llmstack_controller_last_cycle_timestamp_seconds",
                                "Unix time the last policy cycle finished", registry=registry)


def _handler(registry: CollectorRegistry, health: Health) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                self._send(200 if health.live else 503, b"ok\n" if health.live else b"stuck\n")
            elif path == "/readyz":
                self._send(200 if health.ready else 503, b"ready\n" if health.ready else b"no cycle yet\n")
            else:
                self._send(404, b"not found\n")

        def _send(self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return  # probes every few seconds: no access log

    return Handler


class ControllerServer:
    """The endpoints on ``host:port`` (port 0: a free one, read back from :attr:`port`)."""

    def __init__(self, registry: CollectorRegistry, health: Health, host: str = "127.0.0.1", port: int = 0) -> None:
        try:
            self._server = ThreadingHTTPServer((host, port), _handler(registry, health))
        except OSError as exc:
            raise LlmstackError(f"cannot listen on {host}:{port}: {exc.strerror or exc}", path="--listen") from exc
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="llmstack-controller-http",
                                        daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> ControllerServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def parse_listen(text: str) -> tuple[str, int]:
    """``host:port`` -> (host, port), one clear error otherwise."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise LlmstackError(f"{text!r} is not host:port", path="--listen", hint="e.g. 127.0.0.1:9400 or 0.0.0.0:9400")
    return host.strip("[]"), int(port)
