"""Servers the policy and metrics tests run for real: Prometheus, a vLLM-format exporter, fakes.

- :func:`running_prometheus` (from :mod:`tests.servers`): the Debian Prometheus on a free
  loopback port; :func:`prometheus_config` gives it ``scrape_interval: 1s``.
- :class:`EngineExporter`: one fake vLLM engine replica serving vLLM 0.33 metric names with
  prometheus_client; a ticker thread turns a set load (req/s, tokens, TTFT) into counters
  and histogram observations. The ``deployment`` label comes from the scrape config, as in
  the generated Prometheus config.
- :class:`FakePrometheus`: a tiny HTTP server answering ``/api/v1/query`` from a function,
  optionally after a delay, for NaN / stale / partial / slow answers.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from tests.servers import PrometheusProcess, free_port, query, running_prometheus

__all__ = ["EngineExporter", "FakePrometheus", "PrometheusProcess", "Reply", "free_port", "prometheus_config", "query",
           "running_exporters", "running_prometheus", "vector"]

def _send_ok(handler: BaseHTTPRequestHandler, body: bytes, content_type: str) -> None:
    """Answer 200 with ``body``; a client that hung up (Prometheus timing out) is not an error."""
    try:
        handler.send_response(200)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
    except OSError:
        pass


def _text_server(port: int, registry: CollectorRegistry) -> ThreadingHTTPServer:
    """Serve the classic text format whatever Prometheus asks for: prometheus_client's OpenMetrics
    output would rewrite ``vllm:`` names to ``vllm_`` on newer clients, unlike vLLM's own endpoint."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            _send_ok(self, generate_latest(registry), CONTENT_TYPE_LATEST)

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class EngineExporter:
    """One fake vLLM replica on 127.0.0.1:<port>."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.running = Gauge("vllm:num_requests_running", "running", registry=r)
        self.waiting = Gauge("vllm:num_requests_waiting", "waiting", registry=r)
        self.kv = Gauge("vllm:kv_cache_usage_perc", "kv", registry=r)
        self.success = Counter("vllm:request_success", "finished", registry=r)
        self.prompt = Counter("vllm:prompt_tokens", "prompt tokens", registry=r)
        self.generation = Counter("vllm:generation_tokens", "generated tokens", registry=r)
        self.preemptions = Counter("vllm:num_preemptions", "preemptions", registry=r)
        buckets = (0.01, 0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 20.0)
        self.ttft = Histogram("vllm:time_to_first_token_seconds", "ttft", buckets=buckets, registry=r)
        self.tpot = Histogram("vllm:request_time_per_output_token_seconds", "tpot",
                              buckets=(0.01, 0.025, 0.05, 0.075, 0.1, 0.2, 0.5), registry=r)
        self.port = free_port()
        self.load: dict[str, float] = {"rps": 0.0, "prompt": 1000, "output": 250, "ttft": 0.2, "tpot": 0.03,
                                       "preempt": 0.0}
        self._carry = 0.0
        self._stop = threading.Event()
        self._server = _text_server(self.port, self.registry)
        self._ticker = threading.Thread(target=self._tick, daemon=True)
        self._ticker.start()

    def set(self, *, rps: float | None = None, ttft: float | None = None, queue: float | None = None,
            running: float | None = None, kv: float | None = None, preempt: float | None = None,
            prompt: int | None = None, output: int | None = None) -> None:
        for key, value in (("rps", rps), ("ttft", ttft), ("preempt", preempt), ("prompt", prompt),
                           ("output", output)):
            if value is not None:
                self.load[key] = float(value)
        if queue is not None:
            self.waiting.set(queue)
        if running is not None:
            self.running.set(running)
        if kv is not None:
            self.kv.set(kv)

    def _tick(self) -> None:
        step = 0.1
        while not self._stop.wait(step):
            load = dict(self.load)
            self._carry += load["rps"] * step
            done = int(self._carry)
            self._carry -= done
            if done:
                self.success.inc(done)
                self.prompt.inc(done * load["prompt"])
                self.generation.inc(done * load["output"])
                for _ in range(done):
                    self.ttft.observe(load["ttft"])
                    self.tpot.observe(load["tpot"])
            if load["preempt"]:
                self.preemptions.inc(load["preempt"] * step)

    def stop(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()


@contextlib.contextmanager
def running_exporters(count: int) -> Iterator[list[EngineExporter]]:
    exporters: list[EngineExporter] = []
    try:
        for _ in range(count):
            exporters.append(EngineExporter())
        yield exporters
    finally:
        for e in exporters:
            with contextlib.suppress(Exception):
                e.stop()


def prometheus_config(targets: dict[str, list[int]], interval: str = "1s") -> dict[str, Any]:
    """Scrape config: each deployment's replica ports, labelled like the generated config."""
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "scrape_configs": [{
            "job_name": "vllm",
            "scrape_interval": interval,
            "scrape_timeout": interval,
            "static_configs": [
                {"targets": [f"127.0.0.1:{p}" for p in ports],
                 "labels": {"deployment": name, "llmstack_role": "engine"}}
                for name, ports in targets.items()
            ],
        }],
    }


@dataclass(frozen=True)
class Reply:
    """A raw answer for fault injection: any status, any body (bytes, or JSON-encoded when not bytes)."""

    body: Any
    status: int = 200
    content_type: str = "application/json"
    drop: bool = False
    """Close the connection without answering."""


def _send(handler: BaseHTTPRequestHandler, reply: Reply) -> None:
    if reply.drop:
        handler.close_connection = True
        return
    body = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
    try:
        handler.send_response(reply.status)
        handler.send_header("Content-Type", reply.content_type)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
    except OSError:
        pass


class FakePrometheus:
    """``/api/v1/query`` answered by ``answer(expr)``, after ``delay_s``; records headers.

    ``answer`` returns the ``data.result`` list of a good answer, or a :class:`Reply` for a fault.
    """

    def __init__(self, answer: Callable[[str], list[dict[str, Any]] | Reply], delay_s: float = 0.0) -> None:
        self.answer = answer
        self.delay_s = delay_s
        self.requests: list[tuple[str, dict[str, str]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parsed = urllib.parse.urlparse(self.path)
                expr = urllib.parse.parse_qs(parsed.query).get("query", [""])[0]
                outer.requests.append((expr, dict(self.headers.items())))
                if outer.delay_s:
                    time.sleep(outer.delay_s)
                answer = outer.answer(expr)
                if isinstance(answer, Reply):
                    _send(self, answer)
                    return
                body = json.dumps({"status": "success",
                                   "data": {"resultType": "vector", "result": answer}}).encode()
                _send_ok(self, body, "application/json")

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakePrometheus:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def vector(values: dict[str, float | str], ts: float | None = None) -> list[dict[str, Any]]:
    """An instant-vector result: deployment -> value (a string such as 'NaN' passes through)."""
    t = time.time() if ts is None else ts
    return [{"metric": {"deployment": d}, "value": [t, str(v)]} for d, v in values.items()]
